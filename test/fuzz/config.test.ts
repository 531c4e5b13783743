import { registerSuite } from "./register.js";
import { configSuite } from "./suites/config.js";

await registerSuite(configSuite);

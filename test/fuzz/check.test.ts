import { registerSuite } from "./register.js";
import { checkSuite } from "./suites/check.js";

await registerSuite(checkSuite);

import { registerSuite } from "./register.js";
import { spiffeIdSuite } from "./suites/spiffe-id.js";

await registerSuite(spiffeIdSuite);

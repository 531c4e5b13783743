import { registerSuite } from "./register.js";
import { certsSuite } from "./suites/certs.js";

await registerSuite(certsSuite);

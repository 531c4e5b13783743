import { registerSuite } from "./register.js";
import { jwtSuite } from "./suites/jwt.js";

await registerSuite(jwtSuite);

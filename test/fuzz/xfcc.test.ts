import { registerSuite } from "./register.js";
import { xfccSuite } from "./suites/xfcc.js";

await registerSuite(xfccSuite);

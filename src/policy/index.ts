export { compilePolicy } from "./policy.js";
export { selectRoute, type RequestToRoute } from "./route-selection.js";
export type { Policy, CompiledRoute, RouteSelection, IdentityHeaderNames } from "./policy.js";
export { compileAllowlist } from "./allowlist.js";
export type { Allowlist, AllowlistMatch } from "./allowlist.js";
export { compilePattern, PatternError, MAX_PATTERN_LENGTH } from "./pattern.js";
export type { CompiledPattern } from "./pattern.js";
export { normalizePath, pathHasPrefix } from "./routes.js";

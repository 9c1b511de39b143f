/** The config module: parse/validate (pure), load (reads the file), diff for reload. */
export * from "./defaults.js";
export * from "./diff.js";
export * from "./duration.js";
export * from "./issues.js";
export * from "./keys.js";
export * from "./load.js";
export { formatEndpoint, parseEndpoint, parseIpPrefix } from "./net.js";
export * from "./parse.js";
export * from "./types.js";

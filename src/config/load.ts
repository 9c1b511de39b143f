import { readFileSync } from "node:fs";
import { VipdError } from "../errors.js";
import { describeFileError } from "./file-error.js";
import { type ConfigIssue, formatIssue } from "./issues.js";
import { type ConfigResult, type ParseOptions, parseConfig } from "./parse.js";
import type { VipdConfig } from "./types.js";

/**
 * Reads and parses a config file. Never throws: an unreadable file is one issue at FILE:1:1.
 * Issues name the file as it was given (so `vipd check -c ./x.yaml` prints `./x.yaml:3:5: ...`).
 */
export function loadConfig(path: string, options: ParseOptions = {}): ConfigResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return {
      ok: false,
      errors: [{ file: path, line: 1, col: 1, path: "", message: `cannot read: ${describeFileError(err)}` }],
    };
  }
  return parseConfig(text, path, options);
}

/** loadConfig for callers that cannot go on without a config (the daemon at start-up). */
export function loadConfigOrThrow(
  path: string,
  options: ParseOptions = {},
): { config: VipdConfig; warnings: ConfigIssue[] } {
  const result = loadConfig(path, options);
  if (result.ok) return { config: result.config, warnings: result.warnings };
  throw new VipdError(
    "CONFIG_INVALID",
    `${path} is not a valid config:\n${result.errors.map(formatIssue).join("\n")}`,
    { file: path, issues: result.errors },
  );
}

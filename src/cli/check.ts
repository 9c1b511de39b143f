import { parseArgs } from "node:util";
import { formatIssue } from "../config/issues.js";
import { loadConfig } from "../config/load.js";
import { type CliCommand, type CliIo, DEFAULT_CONFIG_PATH, EXIT, usageError } from "./command.js";

/**
 * `vipd check [-c FILE]`: validates a config file.
 * Valid: prints `FILE: OK (N instances, M virtual servers)` to stdout, exits 0; warnings (valid,
 * but probably not what was meant) go to stderr as `FILE:LINE:COL: warning: message`.
 * Invalid: prints one `FILE:LINE:COL: message` line per error to stderr (sorted by position), exits 1.
 */
export const checkCommand: CliCommand = {
  name: "check",
  summary: "validate a config file",
  usage: `Usage: vipd check [-c FILE | FILE]

Validates FILE (default ${DEFAULT_CONFIG_PATH}) and reports every problem at once.

  -c, --config FILE   the config file to check
  -h, --help          show this help

Exit status: 0 when the file is valid (a summary goes to stdout); 1 when it is not,
with one "FILE:LINE:COL: message" line per error on stderr; 2 for a bad command line.
`,
  run: runCheck,
};

export async function runCheck(args: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    return usageError(io, checkCommand, (err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(checkCommand.usage);
    return EXIT.OK;
  }
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) {
    return usageError(io, checkCommand, "give one config file, either with -c or as an argument");
  }
  const file = values.config ?? positionals[0] ?? DEFAULT_CONFIG_PATH;
  const result = loadConfig(file);
  if (!result.ok) {
    for (const issue of result.errors) io.stderr.write(`${formatIssue(issue)}\n`);
    return EXIT.FAILURE;
  }
  for (const issue of result.warnings)
    io.stderr.write(`${formatIssue({ ...issue, message: `warning: ${issue.message}` })}\n`);
  const { vrrp, virtualServers } = result.config;
  io.stdout.write(
    `${file}: OK (${vrrp.instances.length} instances, ${virtualServers.length} virtual servers)\n`,
  );
  return EXIT.OK;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
}

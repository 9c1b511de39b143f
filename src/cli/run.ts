import { parseArgs } from "node:util";
import { Daemon } from "../engine/daemon.js";
import { describeError, hasCode } from "../errors.js";
import { childLogger } from "../log.js";
import { type CliCommand, type CliIo, DEFAULT_CONFIG_PATH, EXIT, usageError } from "./command.js";

/**
 * `vipd run [-c FILE]`: the daemon in the foreground (README, Commands). JSON logs go
 * to stdout; SIGHUP reloads, SIGTERM/SIGINT stop gracefully (exit 0). A config that does not
 * load at start prints one `FILE:LINE:COL: message` line per problem on stderr and exits 1.
 */
export const runCommand: CliCommand = {
  name: "run",
  summary: "run the daemon in the foreground",
  usage: `Usage: vipd run [-c FILE]

Runs vipd in the foreground with FILE (default ${DEFAULT_CONFIG_PATH}). Logs JSON to
stdout, reloads the config on SIGHUP, shuts down gracefully on SIGTERM or SIGINT
(VRRP masters send a priority-0 advert and remove their VIPs).

  -c, --config FILE   the config file
  -h, --help          show this help

Environment:
  VIPD_LOG_LEVEL           log level until the config's log.level applies
  VIPD_DEBUG_BLOCK_MAIN_MS test hook: SIGUSR2 busy-loops the main thread this many ms

Exit status: 0 after a graceful stop; 1 when the config is invalid, startup fails or the
VRRP worker dies; 2 for a bad command line.
`,
  run: runDaemon,
};

/** After a stop, give the event loop this long to drain on its own before exiting anyway. */
const EXIT_GRACE_MS = 3000;

export async function runDaemon(args: string[], io: CliIo): Promise<number> {
  let values: { config?: string | undefined; help?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    return usageError(io, runCommand, (err as Error).message);
  }
  if (values.help) {
    io.stdout.write(runCommand.usage);
    return EXIT.OK;
  }
  if (positionals.length > 0) return usageError(io, runCommand, `unexpected argument '${positionals[0]}'`);
  const file = values.config ?? DEFAULT_CONFIG_PATH;

  let daemon: Daemon;
  try {
    daemon = await Daemon.start(file);
  } catch (err) {
    if (hasCode(err, "CONFIG_INVALID")) {
      const issues = (
        err as { context?: { issues?: { file: string; line: number; col: number; message: string }[] } }
      ).context?.issues;
      if (issues) for (const i of issues) io.stderr.write(`${i.file}:${i.line}:${i.col}: ${i.message}\n`);
      else io.stderr.write(`vipd run: ${describeError(err)}\n`);
    } else {
      childLogger("daemon").fatal({ err }, `vipd failed to start: ${describeError(err)}`);
      io.stderr.write(`vipd run: ${describeError(err)}\n`);
    }
    return EXIT.FAILURE;
  }
  const uninstall = daemon.installSignalHandlers();
  const code = await daemon.done;
  uninstall();
  // Everything is closed; if some handle still holds the loop open, do not hang forever.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  return code;
}

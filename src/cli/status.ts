import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { fetchStatus } from "../api/client.js";
import { formatStatus } from "../api/status.js";
import { DEFAULTS } from "../config/defaults.js";
import { describeError, hasCode } from "../errors.js";
import { type CliCommand, type CliIo, DEFAULT_CONFIG_PATH, EXIT, usageError } from "./command.js";

export const DEFAULT_SOCKET_PATH: string = DEFAULTS.apiSocket;

/**
 * `vipd status [--json] [-c FILE | --socket PATH]`: asks the running daemon over its unix
 * socket and prints its state (a table, or the raw JSON document with --json).
 * Exit status: 0 with an answer; 1 when the daemon is not running or answers with an error;
 * 2 for a bad command line.
 */
export const statusCommand: CliCommand = {
  name: "status",
  summary: "show the running daemon's state",
  usage: `Usage: vipd status [--json] [-c FILE | --socket PATH]

Asks the running daemon over its unix socket for its VRRP, IPVS and alert state.

  --json              print the status document as JSON
  -c, --config FILE   read the socket path (api.socket) from FILE (default ${DEFAULT_CONFIG_PATH};
                      when it cannot be read, ${DEFAULT_SOCKET_PATH})
  -s, --socket PATH   ask the daemon on PATH
  -h, --help          show this help

The same answer is available to any HTTP client:
  curl --unix-socket ${DEFAULT_SOCKET_PATH} http://vipd/status

Exit status: 0 when the daemon answered; 1 when it is not running or answered with an
error; 2 for a bad command line.
`,
  run: runStatus,
};

/**
 * The daemon's socket according to a config file: its api.socket, or the default when the file
 * cannot be read or has no usable api.socket. Lenient on purpose: the running daemon may still
 * use the socket of a file that has since been edited into an invalid state.
 */
export function socketFromConfig(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return DEFAULT_SOCKET_PATH;
  }
  try {
    const doc = parseYaml(text) as { api?: { socket?: unknown } } | null;
    const socket = doc?.api?.socket;
    if (typeof socket === "string" && isAbsolute(socket)) return socket;
  } catch {
    // not YAML: the default
  }
  return DEFAULT_SOCKET_PATH;
}

export async function runStatus(args: string[], io: CliIo): Promise<number> {
  let values: { json?: boolean; config?: string; socket?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        json: { type: "boolean" },
        config: { type: "string", short: "c" },
        socket: { type: "string", short: "s" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    return usageError(io, statusCommand, (err as Error).message);
  }
  if (values.help) {
    io.stdout.write(statusCommand.usage);
    return EXIT.OK;
  }
  if (positionals.length > 0) return usageError(io, statusCommand, `unexpected argument '${positionals[0]}'`);
  const socket = daemonSocket(values);
  if (typeof socket !== "string") return usageError(io, statusCommand, socket.error);

  try {
    const status = await fetchStatus(socket);
    io.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    return EXIT.OK;
  } catch (err) {
    return apiFailure(io, statusCommand, err);
  }
}

/** The daemon's socket from `-c FILE` / `--socket PATH` (one of them, or the default config). */
export function daemonSocket(values: { config?: string; socket?: string }): string | { error: string } {
  if (values.socket !== undefined && values.config !== undefined)
    return { error: "give either -c FILE or --socket PATH, not both" };
  if (values.socket === "") return { error: "--socket needs a path" };
  return values.socket ?? socketFromConfig(values.config ?? DEFAULT_CONFIG_PATH);
}

/** Prints why talking to the daemon failed (just the message when it is not running); EXIT.FAILURE. */
export function apiFailure(io: CliIo, command: CliCommand, err: unknown): number {
  if (hasCode(err, "API_NOT_RUNNING")) io.stderr.write(`${(err as Error).message}\n`);
  else io.stderr.write(`vipd ${command.name}: ${describeError(err)}\n`);
  return EXIT.FAILURE;
}

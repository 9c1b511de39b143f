/**
 * The shape every operator command shares (`vipd server …`, `vipd vrrp …`): ACTION and names on
 * the command line, one POST to the running daemon's API socket, one line of outcome.
 */
import { parseArgs } from "node:util";
import { requestApi } from "../api/client.js";
import { type CliCommand, type CliIo, DEFAULT_CONFIG_PATH, EXIT, usageError } from "./command.js";
import { apiFailure, DEFAULT_SOCKET_PATH, daemonSocket } from "./status.js";

/** The options and exit status every operator command's usage ends with. */
export const OPERATOR_OPTIONS_USAGE = `  -c, --config FILE   read the socket path (api.socket) from FILE (default ${DEFAULT_CONFIG_PATH};
                      when it cannot be read, ${DEFAULT_SOCKET_PATH})
  -s, --socket PATH   talk to the daemon on PATH
  -h, --help          show this help

Exit status: 0 when the daemon applied it; 1 when it refused or is not running; 2 for a bad
command line.
`;

/** " (now BACKUP)" when the daemon's result says the state it left things in. */
export function nowState(result: Record<string, unknown>): string {
  return typeof result.state === "string" ? ` (now ${result.state})` : "";
}

export interface OperatorCommandSpec<A extends string> {
  command: CliCommand;
  actions: readonly A[];
  /** The positional names after the action, for the usage error ("a virtual server and a real server"). */
  names: string[];
  describeNames: string;
  /** The API path with its query for these arguments. */
  path: (action: A, names: string[]) => string;
  /** The success line, from the daemon's `result`. */
  done: (action: A, names: string[], result: Record<string, unknown>) => string;
}

export async function runOperatorCommand<A extends string>(
  spec: OperatorCommandSpec<A>,
  args: string[],
  io: CliIo,
): Promise<number> {
  const { command } = spec;
  let values: { config?: string; socket?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        socket: { type: "string", short: "s" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    return usageError(io, command, (err as Error).message);
  }
  if (values.help) {
    io.stdout.write(command.usage);
    return EXIT.OK;
  }
  const [action, ...rest] = positionals;
  if (action === undefined || !(spec.actions as readonly string[]).includes(action))
    return usageError(io, command, `the action must be one of ${spec.actions.join(", ")}`);
  const names = rest.slice(0, spec.names.length);
  if (names.length < spec.names.length) return usageError(io, command, `give ${spec.describeNames}`);
  const extra = rest[spec.names.length];
  if (extra !== undefined) return usageError(io, command, `unexpected argument '${extra}'`);
  const socket = daemonSocket(values);
  if (typeof socket !== "string") return usageError(io, command, socket.error);
  try {
    const res = await requestApi(socket, spec.path(action as A, names), { method: "POST" });
    const body = JSON.parse(res.body) as {
      ok?: boolean;
      error?: { code: string; message: string };
      result?: Record<string, unknown> | null;
    };
    if (res.status === 200 && body.ok) {
      io.stdout.write(`${spec.done(action as A, names, body.result ?? {})}\n`);
      return EXIT.OK;
    }
    const fromResult = typeof body.result?.error === "string" ? body.result.error : undefined;
    const e = body.error ?? { code: "API_ERROR", message: fromResult ?? res.body.trim() };
    io.stderr.write(`vipd ${command.name}: ${e.code}: ${e.message}\n`);
    return EXIT.FAILURE;
  } catch (err) {
    return apiFailure(io, command, err);
  }
}

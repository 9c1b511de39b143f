import { parseArgs } from "node:util";
import { requestApi } from "../api/client.js";
import { type CliCommand, type CliIo, DEFAULT_CONFIG_PATH, EXIT, usageError } from "./command.js";
import { apiFailure, DEFAULT_SOCKET_PATH, daemonSocket } from "./status.js";

const ACTIONS = ["drain", "disable", "enable"] as const;

/**
 * `vipd server drain|disable|enable VS RS`: the operator's word on one real server, sent to the
 * running daemon. drain = weight 0 (established connections continue), disable = out of the
 * table, enable = back to what the checks say. It survives reloads and restarts.
 */
export const serverCommand: CliCommand = {
  name: "server",
  summary: "drain, disable or enable a real server in the running daemon",
  usage: `Usage: vipd server drain|disable|enable VIRTUAL_SERVER REAL_SERVER [-c FILE | --socket PATH]

  drain     weight 0: no new connections, established ones continue
  disable   out of the IPVS table
  enable    back under the health checks' control

VIRTUAL_SERVER is the virtual server's name; REAL_SERVER is ADDRESS:PORT ([ADDRESS]:PORT for
IPV6), as \`vipd status\` shows it. The state is kept across reloads and restarts.

  -c, --config FILE   read the socket path (api.socket) from FILE (default ${DEFAULT_CONFIG_PATH};
                      when it cannot be read, ${DEFAULT_SOCKET_PATH})
  -s, --socket PATH   talk to the daemon on PATH
  -h, --help          show this help

Exit status: 0 when the daemon applied it; 1 when it refused or is not running; 2 for a bad
command line.
`,
  run: runServer,
};

export async function runServer(args: string[], io: CliIo): Promise<number> {
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
    return usageError(io, serverCommand, (err as Error).message);
  }
  if (values.help) {
    io.stdout.write(serverCommand.usage);
    return EXIT.OK;
  }
  const [action, vs, rs, extra] = positionals;
  if (action === undefined || !(ACTIONS as readonly string[]).includes(action))
    return usageError(io, serverCommand, `the action must be one of ${ACTIONS.join(", ")}`);
  if (vs === undefined || rs === undefined)
    return usageError(io, serverCommand, "give a virtual server and a real server");
  if (extra !== undefined) return usageError(io, serverCommand, `unexpected argument '${extra}'`);
  const socket = daemonSocket(values);
  if (typeof socket !== "string") return usageError(io, serverCommand, socket.error);
  const query = new URLSearchParams({ action, virtual_server: vs, real_server: rs });
  try {
    const res = await requestApi(socket, `/server?${query}`, { method: "POST" });
    const body = JSON.parse(res.body) as {
      ok?: boolean;
      error?: { code: string; message: string };
      result?: { state?: string };
    };
    if (res.status === 200 && body.ok) {
      io.stdout.write(
        `${rs} of ${vs}: ${action}${body.result?.state ? ` (now ${body.result.state})` : ""}\n`,
      );
      return EXIT.OK;
    }
    const e = body.error ?? { code: "API_ERROR", message: res.body.trim() };
    io.stderr.write(`vipd server: ${e.code}: ${e.message}\n`);
    return EXIT.FAILURE;
  } catch (err) {
    return apiFailure(io, serverCommand, err);
  }
}

import type { CliCommand, CliIo } from "./command.js";
import { nowState, OPERATOR_OPTIONS_USAGE, runOperatorCommand } from "./operator.js";

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

${OPERATOR_OPTIONS_USAGE}`,
  run: runServer,
};

export function runServer(args: string[], io: CliIo): Promise<number> {
  return runOperatorCommand(
    {
      command: serverCommand,
      actions: ACTIONS,
      names: ["VIRTUAL_SERVER", "REAL_SERVER"],
      describeNames: "a virtual server and a real server",
      path: (action, [vs, rs]) =>
        `/server?${new URLSearchParams({ action, virtual_server: vs ?? "", real_server: rs ?? "" })}`,
      done: (action, [vs, rs], result) => `${rs} of ${vs}: ${action}${nowState(result)}`,
    },
    args,
    io,
  );
}

import { type CliCommand, type CliIo, DEFAULT_CONFIG_PATH } from "./command.js";
import { runOperatorCommand } from "./operator.js";
import { DEFAULT_SOCKET_PATH } from "./status.js";

const ACTIONS = ["resign", "resume"] as const;

/**
 * `vipd vrrp resign|resume INSTANCE`: a planned handover. A resigned master sends a priority-0
 * advert (its peer takes over after Skew_Time), removes its VIPs and stays BACKUP, even with no
 * peer, until resumed. The resignation is logged, shown by `vipd status`, and kept across
 * reloads; a restart of vipd clears it.
 */
export const vrrpCommand: CliCommand = {
  name: "vrrp",
  summary: "resign or resume a VRRP instance in the running daemon (planned handover)",
  usage: `Usage: vipd vrrp resign|resume INSTANCE [-c FILE | --socket PATH]

  resign    hand over: as master, send priority 0 and remove the VIPs; stay BACKUP, never
            taking over (even with no peer left), until resumed
  resume    take part in elections again (a backup with no master takes over once its
            master-down timer runs out)

The resignation is kept across reloads; a restart of vipd clears it.

  -c, --config FILE   read the socket path (api.socket) from FILE (default ${DEFAULT_CONFIG_PATH};
                      when it cannot be read, ${DEFAULT_SOCKET_PATH})
  -s, --socket PATH   talk to the daemon on PATH
  -h, --help          show this help

Exit status: 0 when the daemon applied it; 1 when it refused or is not running; 2 for a bad
command line.
`,
  run: runVrrp,
};

export function runVrrp(args: string[], io: CliIo): Promise<number> {
  return runOperatorCommand(
    {
      command: vrrpCommand,
      actions: ACTIONS,
      names: ["INSTANCE"],
      describeNames: "an instance",
      path: (action, [instance]) => `/vrrp?${new URLSearchParams({ action, instance: instance ?? "" })}`,
      done: (action, [instance], result) =>
        `${instance}: ${action === "resign" ? "resigned" : "resumed"}${typeof result.state === "string" ? ` (now ${result.state})` : ""}`,
    },
    args,
    io,
  );
}

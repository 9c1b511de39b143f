import type { CliCommand, CliIo } from "./command.js";
import { nowState, OPERATOR_OPTIONS_USAGE, runOperatorCommand } from "./operator.js";

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

${OPERATOR_OPTIONS_USAGE}`,
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
        `${instance}: ${action === "resign" ? "resigned" : "resumed"}${nowState(result)}`,
    },
    args,
    io,
  );
}

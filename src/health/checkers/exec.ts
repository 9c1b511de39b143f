/**
 * The exec check (keepalived's MISC_CHECK): run a command, judge by its exit status.
 *
 * The command runs as every vipd command does (src/sys/command.ts: argv, no shell, its own
 * process group, killed whole at the timeout and after it exits), with the real server in
 * VIPD_RS_ADDRESS / VIPD_RS_PORT / VIPD_RS_FAMILY ("4" or "6"). The first line of its stderr is
 * appended to a failure's reason, since that is where scripts say what went wrong. Killing the
 * group after a normal exit is what the checker contract asks for: nothing the check started
 * outlives it.
 */
import type { ExecCheckConfig } from "../../config/types.js";
import { type CommandOutcome, runCommand } from "../../sys/command.js";
import type { Checker, CheckResult } from "../types.js";
import { fail, ok, stopwatch } from "./result.js";

export const execCheck: Checker<ExecCheckConfig> = async (target, spec, signal) => {
  const elapsed = stopwatch();
  if (signal.aborted) return fail(elapsed, "timeout", "timeout");
  const outcome = await runCommand(spec.command, {
    signal,
    env: {
      VIPD_RS_ADDRESS: target.address,
      VIPD_RS_PORT: String(target.port),
      VIPD_RS_FAMILY: String(target.family),
    },
  });
  return judge(elapsed, spec, outcome);
};

function judge(elapsed: () => number, spec: ExecCheckConfig, outcome: CommandOutcome): CheckResult {
  switch (outcome.kind) {
    case "aborted":
      return fail(elapsed, "timeout", "timeout");
    case "spawn_error":
      return fail(elapsed, "exec_spawn", `exec: ${outcome.message}`);
    case "signal":
      return fail(elapsed, "exec_signal", `exec killed by ${outcome.signal}${suffix(outcome.stderrLine)}`);
    case "exit": {
      const code = outcome.code;
      if (code === 0) return ok(elapsed);
      // keepalived's misc_dynamic: 1 = down, 2..255 = up with weight code − 2.
      if (spec.dynamicWeight && code >= 2)
        return ok(elapsed, { weight: code - 2, reason: `exec weight ${code - 2}` });
      return fail(elapsed, "exec_exit", `exec exit ${code}${suffix(outcome.stderrLine)}`);
    }
  }
}

function suffix(stderrLine: string): string {
  return stderrLine === "" ? "" : `: ${stderrLine}`;
}

/**
 * The exec check (keepalived's MISC_CHECK): run a command, judge by its exit status.
 *
 * The command is argv, run without a shell, as the leader of its own process group (and
 * session: `detached`), with the real server in VIPD_RS_ADDRESS / VIPD_RS_PORT / VIPD_RS_FAMILY
 * ("4" or "6"). stdin and stdout are /dev/null; the first line of stderr (of at most 4 KiB read)
 * is appended to a failure's reason, since that is where scripts say what went wrong.
 *
 * The whole group is SIGKILLed at the timeout, so a shell script's children die with it — a
 * signal to the leader alone would orphan them, still probing or holding ports. The group is
 * also killed after a normal exit (keepalived does not do this): a script that backgrounds
 * something (`curl ... &`) and exits would otherwise leave a process per check interval behind,
 * outliving the check that started it, which is exactly what the checker contract forbids. The
 * group id is the leader's pid; after the leader is reaped that number stays reserved while any
 * member of the group lives, so the kill cannot reach an unrelated process unless the group is
 * already empty (ESRCH, ignored). A process that left the group (setsid, a daemon) is beyond
 * reach; a check command should not do that.
 *
 * The result is settled by the leader's 'exit' (Node has reaped it by then: no zombie), after
 * a timeout or not; the promise resolves once stderr has closed too. Every process of the group
 * that inherited stderr holds it, so its closing says they have all exited (and stderr's last
 * line is not lost). A process that escaped the group could hold it open indefinitely, so the
 * wait is bounded (STDERR_GRACE_MS, or the signal if that comes first).
 */
import { spawn } from "node:child_process";
import type { ExecCheckConfig } from "../../config/types.js";
import type { Checker, CheckResult } from "../types.js";
import { fail, ok, stopwatch } from "./result.js";

/** stderr read for the reason; the rest is discarded. */
const STDERR_CAP = 4096;
/** How long stderr may stay open after the command exited and its group was killed. */
const STDERR_GRACE_MS = 500;
/** The longest stderr line quoted in a reason. */
const REASON_CAP = 200;

export const execCheck: Checker<ExecCheckConfig> = (target, spec, signal) => {
  const elapsed = stopwatch();
  if (signal.aborted) return Promise.resolve(fail(elapsed, "timeout", "timeout"));
  const [file, ...args] = spec.command;
  if (file === undefined || file === "")
    return Promise.resolve(fail(elapsed, "exec_spawn", "exec: no command"));

  return new Promise<CheckResult>((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, {
        detached: true,
        stdio: ["ignore", "ignore", "pipe"],
        env: {
          ...process.env,
          VIPD_RS_ADDRESS: target.address,
          VIPD_RS_PORT: String(target.port),
          VIPD_RS_FAMILY: String(target.family),
        },
      });
    } catch (err) {
      // spawn throws synchronously for bad arguments (a NUL byte in argv, say).
      resolve(fail(elapsed, "exec_spawn", `exec: ${(err as Error).message}`));
      return;
    }

    const stderr: Buffer[] = [];
    let stderrBytes = 0;
    let stderrClosed = false;
    let exit: { code: number | null; sig: NodeJS.Signals | null } | undefined;
    let spawnError: NodeJS.ErrnoException | undefined;
    let timedOut = false;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;

    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(grace);
      signal.removeEventListener("abort", onAbort);
      child.stderr?.destroy();
      if (timedOut) resolve(fail(elapsed, "timeout", "timeout"));
      else if (spawnError !== undefined)
        resolve(
          fail(elapsed, "exec_spawn", `exec: cannot run ${file}: ${spawnError.code ?? spawnError.message}`),
        );
      else if (exit !== undefined) resolve(judge(elapsed, spec, exit.code, exit.sig, firstLine(stderr)));
    };
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // ESRCH: the group is already empty. EPERM (a setuid member): nothing more can be done.
      }
    };
    function onAbort() {
      // Exited already, only stderr was pending: the exit decides.
      if (exit !== undefined) return settle();
      timedOut = true;
      // Resolved on 'exit', once the leader is reaped (or on 'error' if it never started).
      killGroup();
    }

    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderrBytes >= STDERR_CAP) return;
      const part = chunk.subarray(0, STDERR_CAP - stderrBytes);
      stderr.push(part);
      stderrBytes += part.length;
    });
    child.stderr?.on("error", () => {});
    child.stderr?.on("close", () => {
      stderrClosed = true;
      if (exit !== undefined) settle();
    });
    // Only a failed spawn reaches here (child.kill is never used): there is no process to wait for.
    child.on("error", (err: NodeJS.ErrnoException) => {
      spawnError = err;
      settle();
    });
    child.on("exit", (code, sig) => {
      exit = { code, sig };
      killGroup();
      // stderr closes once every process holding it has exited: the group killed above, unless
      // one escaped it, hence the bound.
      if (stderrClosed) settle();
      else grace = setTimeout(settle, STDERR_GRACE_MS);
    });
    signal.addEventListener("abort", onAbort, { once: true });
  });
};

function judge(
  elapsed: () => number,
  spec: ExecCheckConfig,
  code: number | null,
  sig: NodeJS.Signals | null,
  stderrLine: string,
): CheckResult {
  const suffix = stderrLine === "" ? "" : `: ${stderrLine}`;
  if (code === null) return fail(elapsed, "exec_signal", `exec killed by ${sig ?? "a signal"}${suffix}`);
  if (code === 0) return ok(elapsed);
  // keepalived's misc_dynamic: 1 = down, 2..255 = up with weight code − 2.
  if (spec.dynamicWeight && code >= 2)
    return ok(elapsed, { weight: code - 2, reason: `exec weight ${code - 2}` });
  return fail(elapsed, "exec_exit", `exec exit ${code}${suffix}`);
}

/** The first non-empty line of what the command wrote to stderr, trimmed and capped. */
function firstLine(chunks: Buffer[]): string {
  const text = Buffer.concat(chunks).toString("utf8");
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t !== "") return t.length > REASON_CAP ? `${t.slice(0, REASON_CAP)}…` : t;
  }
  return "";
}

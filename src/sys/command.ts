/**
 * Runs one command the way every vipd hook and exec check does: argv, no shell, as the leader
 * of its own process group (and session: `detached`), stdin and stdout on /dev/null, stderr
 * read for the first line (of at most 4 KiB), since that is where scripts say what went wrong.
 *
 * The whole group is SIGKILLed when `signal` aborts, so a shell script's children die with it:
 * a signal to the leader alone would orphan them, still probing or holding ports. The group is
 * also killed after a normal exit (keepalived does not do this): a script that backgrounds
 * something (`curl ... &`) and exits would otherwise leave a process behind per run, outliving
 * the run that started it. The group id is the leader's pid; after the leader is reaped that
 * number stays reserved while any member of the group lives, so the kill cannot reach an
 * unrelated process unless the group is already empty (ESRCH, ignored). A process that left the
 * group (setsid, a daemon) is beyond reach; a hook should not do that.
 *
 * The outcome is settled by the leader's 'exit' (Node has reaped it by then: no zombie), after
 * an abort or not; the promise resolves once stderr has closed too. Every process of the group
 * that inherited stderr holds it, so its closing says they have all exited (and stderr's last
 * line is not lost). A process that escaped the group could hold it open indefinitely, so the
 * wait is bounded (STDERR_GRACE_MS).
 *
 * It never rejects: a command that cannot start is an outcome like any other.
 */
import { spawn } from "node:child_process";

/** stderr read for the reason; the rest is discarded. */
const STDERR_CAP = 4096;
/** How long stderr may stay open after the command exited and its group was killed. */
const STDERR_GRACE_MS = 500;
/** The longest stderr line quoted. */
const STDERR_LINE_CAP = 200;

export type CommandOutcome =
  /** The command exited by itself (code 0 included). */
  | { kind: "exit"; code: number; stderrLine: string }
  /** It was killed by a signal that vipd did not send. */
  | { kind: "signal"; signal: string; stderrLine: string }
  /** `signal` aborted first; the group was killed. */
  | { kind: "aborted" }
  /** It could not start (no such file, not executable, a NUL byte in argv, an empty argv). */
  | { kind: "spawn_error"; message: string };

export interface CommandOptions {
  /** Added to the environment vipd itself runs with. */
  env?: Record<string, string>;
  /** Aborting it kills the command's process group (the caller's timeout). */
  signal: AbortSignal;
}

export function runCommand(argv: readonly string[], opts: CommandOptions): Promise<CommandOutcome> {
  const [file, ...args] = argv;
  if (file === undefined || file === "")
    return Promise.resolve({ kind: "spawn_error", message: "no command" });
  if (opts.signal.aborted) return Promise.resolve({ kind: "aborted" });

  return new Promise<CommandOutcome>((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, {
        detached: true,
        stdio: ["ignore", "ignore", "pipe"],
        env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
      });
    } catch (err) {
      // spawn throws synchronously for bad arguments (a NUL byte in argv, say).
      resolve({ kind: "spawn_error", message: (err as Error).message });
      return;
    }

    const stderr: Buffer[] = [];
    let stderrBytes = 0;
    let stderrClosed = false;
    let exit: { code: number | null; sig: NodeJS.Signals | null } | undefined;
    let spawnError: NodeJS.ErrnoException | undefined;
    let aborted = false;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;

    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(grace);
      opts.signal.removeEventListener("abort", onAbort);
      child.stderr?.destroy();
      if (aborted) resolve({ kind: "aborted" });
      else if (spawnError !== undefined)
        resolve({
          kind: "spawn_error",
          message: `cannot run ${file}: ${spawnError.code ?? spawnError.message}`,
        });
      else if (exit !== undefined) {
        const stderrLine = firstLine(stderr);
        resolve(
          exit.code === null
            ? { kind: "signal", signal: exit.sig ?? "a signal", stderrLine }
            : { kind: "exit", code: exit.code, stderrLine },
        );
      }
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
      aborted = true;
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
    opts.signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The first non-empty line of what the command wrote to stderr, trimmed and capped. */
function firstLine(chunks: Buffer[]): string {
  const text = Buffer.concat(chunks).toString("utf8");
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t !== "") return t.length > STDERR_LINE_CAP ? `${t.slice(0, STDERR_LINE_CAP)}…` : t;
  }
  return "";
}

/** One line for logs: "exit 0", "exit 3: no backend", "killed by SIGSEGV", "timed out", … */
export function describeOutcome(outcome: CommandOutcome, timeoutMs?: number): string {
  const suffix = (line: string) => (line === "" ? "" : `: ${line}`);
  switch (outcome.kind) {
    case "exit":
      return `exit ${outcome.code}${suffix(outcome.stderrLine)}`;
    case "signal":
      return `killed by ${outcome.signal}${suffix(outcome.stderrLine)}`;
    case "aborted":
      return timeoutMs === undefined
        ? "stopped"
        : `timed out after ${timeoutMs} ms (its process group was killed)`;
    case "spawn_error":
      return outcome.message;
  }
}

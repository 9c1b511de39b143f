import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ExecCheckConfig } from "../../../../src/config/types.js";
import { execCheck } from "../../../../src/health/checkers/exec.js";
import type { CheckTarget } from "../../../../src/health/types.js";

const target: CheckTarget = { address: "192.0.2.7", port: 8080, family: 4 };
const dir = mkdtempSync(join(tmpdir(), "vipd-exec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(command: string[], dynamicWeight = false): ExecCheckConfig {
  return {
    type: "exec",
    command,
    dynamicWeight,
    intervalMs: 1000,
    fastIntervalMs: 1000,
    downIntervalMs: 1000,
    timeoutMs: 1000,
    rise: 1,
    fall: 1,
    initial: "down",
  };
}

const sh = (script: string, ...args: string[]) => ["/bin/sh", "-c", script, "sh", ...args];
const run = (command: string[], dynamicWeight = false) =>
  execCheck(target, spec(command, dynamicWeight), new AbortController().signal);

/** The process's state letter from /proc (R, S, Z...), or undefined once it has been reaped. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

const PF_EXITING = 0x4;
const SIGKILL_BIT = 1n << 8n;

/**
 * Finished: gone, a zombie, in the kernel's exit path, or with SIGKILL pending — none of which
 * runs user code again. An orphan is reaped by init (or a subreaper), not by us, and in some
 * containers PID 1 never reaps, so a dead grandchild may stay a zombie. And the checker can only
 * know that the group's processes closed their files (stderr), which they do in the exit path
 * shortly before becoming zombies, or, if that takes too long, that it sent them SIGKILL.
 */
function finished(pid: number): boolean {
  const exiting = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return ["Z", "X"].includes(fields[0]!) || (Number(fields[6]) & PF_EXITING) !== 0;
    } catch {
      return true;
    }
  };
  const killPending = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      return [...status.matchAll(/^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$/gm)].some(
        (m) => (BigInt(`0x${m[1]}`) & SIGKILL_BIT) !== 0n,
      );
    } catch {
      return true;
    }
  };
  // Checked again after the pending signals, in case it was dequeued between the two reads.
  return exiting() || killPending() || exiting();
}

/** Resolves with the file's text once it exists (scripts write it whole, by rename). */
function whenFile(path: string): Promise<string> {
  return new Promise((resolve) => {
    const watcher = watch(dirname(path), () => check());
    const check = () => {
      if (!existsSync(path)) return;
      watcher.close();
      resolve(readFileSync(path, "utf8"));
    };
    check();
  });
}

/** A script prefix that records "$$ <pid of a backgrounded sleep>" in $1, atomically. */
const spawnGrandchild = 'sleep 30 & echo $$ $! > "$1.tmp" && mv "$1.tmp" "$1"; ';

const pids = (text: string) => text.trim().split(" ").map(Number) as [number, number];

describe("execCheck", () => {
  it("exit 0 is up", async () => {
    expect(await run(sh("exit 0"))).toMatchObject({ ok: true, code: "ok" });
  });

  it("a non-zero exit is exec_exit", async () => {
    const r = await run(sh("exit 3"));
    expect(r).toMatchObject({ ok: false, code: "exec_exit", reason: "exec exit 3" });
    expect(r.weight).toBeUndefined();
  });

  it("quotes the first non-empty line of stderr", async () => {
    const r = await run(sh('echo >&2; echo "  disk full " >&2; echo second >&2; exit 2'));
    expect(r).toMatchObject({ ok: false, code: "exec_exit", reason: "exec exit 2: disk full" });
  });

  describe("with dynamic weight (keepalived's misc_dynamic)", () => {
    it("exit 2..255 is up with weight exit − 2", async () => {
      expect(await run(sh("exit 7"), true)).toMatchObject({ ok: true, code: "ok", weight: 5 });
      expect(await run(sh("exit 2"), true)).toMatchObject({ ok: true, weight: 0 });
      expect(await run(sh("exit 255"), true)).toMatchObject({ ok: true, weight: 253 });
    });

    it("exit 1 is down", async () => {
      expect(await run(sh("exit 1"), true)).toMatchObject({
        ok: false,
        code: "exec_exit",
        reason: "exec exit 1",
      });
    });

    it("exit 0 is up and keeps the weight", async () => {
      const r = await run(sh("exit 0"), true);
      expect(r).toMatchObject({ ok: true, code: "ok" });
      expect(r).not.toHaveProperty("weight");
    });
  });

  it("a command that cannot start is exec_spawn", async () => {
    const missing = await run([join(dir, "no-such-binary"), "x"]);
    expect(missing).toMatchObject({ ok: false, code: "exec_spawn" });
    expect(missing.reason).toMatch(/ENOENT/);

    const notExecutable = join(dir, "not-executable");
    writeFileSync(notExecutable, "#!/bin/sh\nexit 0\n");
    chmodSync(notExecutable, 0o644);
    const denied = await run([notExecutable]);
    expect(denied).toMatchObject({ ok: false, code: "exec_spawn" });
    expect(denied.reason).toMatch(/EACCES/);

    expect(await run([])).toMatchObject({ ok: false, code: "exec_spawn" });
  });

  it("death by a signal is exec_signal", async () => {
    expect(await run(sh("kill -SEGV $$"))).toMatchObject({
      ok: false,
      code: "exec_signal",
      reason: "exec killed by SIGSEGV",
    });
    expect(await run(sh("kill -KILL $$"), true)).toMatchObject({ code: "exec_signal" });
  });

  it("passes the real server in the environment, on top of the agent's own", async () => {
    process.env.VIPD_EXEC_TEST_INHERITED = "inherited";
    try {
      const r = await run(
        sh('echo "$VIPD_RS_ADDRESS $VIPD_RS_PORT $VIPD_RS_FAMILY $VIPD_EXEC_TEST_INHERITED" >&2; exit 1'),
      );
      expect(r.reason).toBe("exec exit 1: 192.0.2.7 8080 4 inherited");
      const v6 = await execCheck(
        { address: "2001:db8::7", port: 53, family: 6 },
        spec(sh('echo "$VIPD_RS_ADDRESS $VIPD_RS_PORT $VIPD_RS_FAMILY" >&2; exit 1')),
        new AbortController().signal,
      );
      expect(v6.reason).toBe("exec exit 1: 2001:db8::7 53 6");
    } finally {
      delete process.env.VIPD_EXEC_TEST_INHERITED;
    }
  });

  it("runs argv without a shell: no word splitting or expansion", async () => {
    const r = await run(["/bin/sh", "-c", 'echo "$0|$1" >&2; exit 1', "a b", "$HOME"]);
    expect(r.reason).toBe("exec exit 1: a b|$HOME");
  });

  it("on timeout kills the whole process group and leaves no zombie", async () => {
    const pidfile = join(dir, "timeout.pids");
    const ac = new AbortController();
    const pending = execCheck(target, spec(sh(`${spawnGrandchild}sleep 30`, pidfile)), ac.signal);
    const [child, grandchild] = pids(await whenFile(pidfile));
    expect(procState(child)).toBeDefined();
    expect(finished(grandchild)).toBe(false);

    ac.abort();
    expect(await pending).toMatchObject({ ok: false, code: "timeout", reason: "timeout" });
    expect(procState(child)).toBeUndefined(); // reaped: not even a zombie
    expect(finished(grandchild)).toBe(true);
  });

  it("after a normal exit kills what the command left running in its group", async () => {
    const pidfile = join(dir, "exit.pids");
    const r = await run(sh(`${spawnGrandchild}exit 0`, pidfile));
    expect(r).toMatchObject({ ok: true, code: "ok" });
    const [child, grandchild] = pids(readFileSync(pidfile, "utf8"));
    expect(procState(child)).toBeUndefined();
    expect(finished(grandchild)).toBe(true);
  });

  it("resolves timeout at once, starting nothing, if already aborted", async () => {
    const marker = join(dir, "never");
    const r = await execCheck(target, spec(sh('touch "$1"', marker)), AbortSignal.abort());
    expect(r).toMatchObject({ ok: false, code: "timeout" });
    expect(existsSync(marker)).toBe(false);
  });

  it("still resolves, with the exit's result, when a process that left the group holds stderr", async () => {
    const pidfile = join(dir, "escaped.pid");
    // setsid -w waits for its child: the escapee is in its own session before the script exits.
    const inner = 'sleep 30 & echo $! > "$1.tmp" && mv "$1.tmp" "$1"';
    const r = await run(sh(`setsid -w /bin/sh -c '${inner}' sh "$1"; exit 3`, pidfile));
    const escaped = Number(readFileSync(pidfile, "utf8"));
    try {
      expect(r).toMatchObject({ ok: false, code: "exec_exit", reason: "exec exit 3" });
      expect(finished(escaped)).toBe(false); // beyond the group kill, as documented
    } finally {
      process.kill(escaped, "SIGKILL");
    }
  });
});

import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import type { VrrpConfig } from "../../../src/config/types.js";
import {
  FILE_POLL_MS,
  parseTrackFileValue,
  type TrackingIo,
  VrrpTracking,
} from "../../../src/engine/vrrp-tracking.js";
import type { CommandOutcome } from "../../../src/sys/command.js";
import type { TrackedStates } from "../../../src/vrrp/worker.js";
import { captureLogger } from "../vrrp/driver-fakes.js";

describe("parseTrackFileValue: keepalived's strtol(…, 0)", () => {
  it("reads decimal, hex and octal with a sign and leading blanks, up to the first other character", () => {
    expect(parseTrackFileValue("42\n")).toBe(42);
    expect(parseTrackFileValue("  -7 trailing")).toBe(-7);
    expect(parseTrackFileValue("0x1f")).toBe(31);
    expect(parseTrackFileValue("010")).toBe(8);
    expect(parseTrackFileValue("+3")).toBe(3);
    expect(parseTrackFileValue("12abc")).toBe(12);
  });

  it("is 0 without a number and undefined beyond 32 bits", () => {
    expect(parseTrackFileValue("")).toBe(0);
    expect(parseTrackFileValue("maintenance")).toBe(0);
    expect(parseTrackFileValue("99999999999")).toBeUndefined();
    expect(parseTrackFileValue("-2147483648")).toBe(-2147483648);
  });
});

/** A manual clock, a scripted command runner and an in-memory file system. */
function fakeIo() {
  let now = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let nextId = 1;
  const outcomes: CommandOutcome[] = [];
  const runs: { argv: readonly string[]; signal: AbortSignal }[] = [];
  const files = new Map<string, string>();
  const watchers = new Map<string, () => void>();
  const io: TrackingIo = {
    run: (argv, opts) => {
      runs.push({ argv, signal: opts.signal });
      const outcome = outcomes.shift();
      if (outcome !== undefined) return Promise.resolve(outcome);
      // No scripted outcome: hang until killed.
      return new Promise((resolve) =>
        opts.signal.addEventListener("abort", () => resolve({ kind: "aborted" })),
      );
    },
    readFile: (path) => files.get(path),
    watch: (path, onChange) => {
      watchers.set(path, onChange);
      return () => watchers.delete(path);
    },
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (id) => {
      timers.delete(id as number);
    },
    now: () => now,
  };
  /** Runs every timer due up to `ms` from now, in order, letting promises settle between them. */
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = end;
    await new Promise((r) => setImmediate(r));
  };
  return { io, outcomes, runs, files, watchers, advance, timers };
}

const exit = (code: number): CommandOutcome => ({ kind: "exit", code, stderrLine: "" });

function vrrpConfig(yaml: string): VrrpConfig {
  const r = parseConfig(yaml, "t.yaml");
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config.vrrp;
}

const YAML = `
vrrp:
  track_scripts:
    - { name: chk, command: [/bin/chk, x], interval: 2s, timeout: 1s, rise: 2, fall: 2 }
    - { name: unused, command: [/bin/never] }
  track_files:
    - { name: maint, path: /run/maint }
  instances:
    - name: a
      interface: eth0
      vrid: 1
      virtual_ips: [10.0.0.1/24]
      track_scripts: [chk]
      track_files: [{ name: maint, weight: -10 }]
`;

function setup(yaml = YAML) {
  const f = fakeIo();
  const changes: TrackedStates[] = [];
  const { log, lines } = captureLogger();
  const tracking = new VrrpTracking(vrrpConfig(yaml), f.io, (s) => changes.push(s), log);
  return { ...f, tracking, changes, lines };
}

describe("VrrpTracking: scripts", () => {
  it("runs only tracked scripts, every interval, and reports after rise/fall (the first result decides)", async () => {
    const s = setup();
    // Nothing known of the script before it has run: the instance is held (see Tracker).
    expect(s.tracking.states()).toEqual({ scripts: {}, files: { maint: 0 } });
    s.outcomes.push(exit(1), exit(0), exit(1), exit(1), exit(0), exit(0));
    await s.advance(0);
    expect(s.runs.map((r) => r.argv)).toEqual([["/bin/chk", "x"]]);
    // First result: down at once.
    expect(s.changes.at(-1)?.scripts).toEqual({ chk: false });
    await s.advance(2000); // ok (1 of rise 2)
    expect(s.changes).toHaveLength(1);
    await s.advance(2000); // fail: the streak resets
    await s.advance(2000); // fail
    await s.advance(2000); // ok
    await s.advance(2000); // ok: rise 2 reached
    expect(s.runs).toHaveLength(6);
    expect(s.changes.map((c) => c.scripts.chk)).toEqual([false, true]);
    expect(s.lines.filter((l) => l.event === "vrrp.track_script").map((l) => l.msg)).toEqual([
      "track script chk: unknown → down (exit 1)",
      "track script chk: down → up (exit 0)",
    ]);
  });

  it("kills a script at its timeout (a failure) and never overlaps runs", async () => {
    const s = setup(YAML.replace("rise: 2, fall: 2", "rise: 1, fall: 1"));
    await s.advance(0);
    expect(s.runs).toHaveLength(1);
    await s.advance(999);
    expect(s.runs[0]?.signal.aborted).toBe(false);
    await s.advance(1);
    expect(s.runs[0]?.signal.aborted).toBe(true);
    expect(s.changes.at(-1)?.scripts.chk).toBe(false);
    expect(s.lines.at(-1)?.msg).toBe(
      "track script chk: unknown → down (timed out after 1000 ms (its process group was killed))",
    );
    // The next run starts an interval after the last one started.
    await s.advance(999);
    expect(s.runs).toHaveLength(1);
    await s.advance(1);
    expect(s.runs).toHaveLength(2);
  });

  it("a reload keeps an unchanged script's state and restarts a changed one", async () => {
    const s = setup(YAML.replace("rise: 2, fall: 2", "rise: 1, fall: 1"));
    s.outcomes.push(exit(1));
    await s.advance(0);
    expect(s.tracking.states().scripts.chk).toBe(false);
    s.tracking.reconfigure(vrrpConfig(YAML.replace("rise: 2, fall: 2", "rise: 1, fall: 1")));
    expect(s.tracking.states().scripts.chk).toBe(false);
    s.tracking.reconfigure(
      vrrpConfig(
        YAML.replace("rise: 2, fall: 2", "rise: 1, fall: 1, initial: up").replace(
          "interval: 2s",
          "interval: 3s",
        ),
      ),
    );
    expect(s.tracking.states().scripts.chk).toBe(true);
    expect(s.changes.at(-1)).toEqual({ scripts: { chk: true }, files: { maint: 0 } });
    await s.tracking.stop();
    expect(s.timers.size).toBe(0);
  });
});

describe("VrrpTracking: files", () => {
  it("reads at start, on a watch event and on the poll; a missing file is 0, a bad one keeps the last value", async () => {
    const s = setup();
    s.outcomes.push(exit(0));
    expect(s.tracking.states().files.maint).toBe(0);
    s.files.set("/run/maint", "3\n");
    s.watchers.get("/run/maint")?.();
    expect(s.changes.at(-1)?.files).toEqual({ maint: 3 });
    s.files.set("/run/maint", "99999999999");
    s.watchers.get("/run/maint")?.();
    expect(s.tracking.states().files.maint).toBe(3);
    expect(s.lines.some((l) => l.event === "vrrp.track_file_invalid")).toBe(true);
    // A change the watch missed is seen by the poll.
    s.files.delete("/run/maint");
    await s.advance(FILE_POLL_MS);
    expect(s.changes.at(-1)?.files).toEqual({ maint: 0 });
    expect(s.lines.filter((l) => l.event === "vrrp.track_file").map((l) => l.msg)).toEqual([
      "track file maint (/run/maint): 0 → 3",
      "track file maint (/run/maint): 3 → 0",
    ]);
  });

  it("an unreadable file keeps its last value and says why", () => {
    const s = setup();
    s.io.readFile = () => {
      throw Object.assign(new Error("denied"), { code: "EACCES" });
    };
    s.watchers.get("/run/maint")?.();
    expect(s.tracking.states().files.maint).toBe(0);
    expect(s.lines.at(-1)?.msg).toBe(
      "track file maint: cannot read /run/maint (EACCES); its last value stays",
    );
  });
});

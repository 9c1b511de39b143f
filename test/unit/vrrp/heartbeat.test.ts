import { describe, expect, it } from "vitest";
import { HeartbeatMonitor, HeartbeatWatchdog } from "../../../src/vrrp/heartbeat.js";

describe("HeartbeatWatchdog", () => {
  it("demotes as soon as the last heartbeat is older than the timeout, not before, and once", () => {
    const w = new HeartbeatWatchdog(2000, 0);
    w.beat(1000);
    expect(w.check(3000)).toBeNull(); // exactly the timeout: still fine
    expect(w.check(3001)).toEqual({
      type: "demote",
      ageMs: 2001,
      reason: "main thread unresponsive: no heartbeat for 2001 ms (heartbeat_timeout 2000 ms)",
    });
    expect(w.demoted).toMatch(/^main thread unresponsive/);
    expect(w.check(9000)).toBeNull();
  });

  it("the next heartbeat lifts the demotion (once), and the clock starts again", () => {
    const w = new HeartbeatWatchdog(500, 0);
    expect(w.check(501)?.type).toBe("demote");
    expect(w.beat(700)).toEqual({ type: "clear", reason: expect.stringMatching(/no heartbeat for 501 ms/) });
    expect(w.demoted).toBeNull();
    expect(w.beat(800)).toBeNull();
    expect(w.check(1300)).toBeNull();
    expect(w.check(1301)?.type).toBe("demote");
  });

  it("a new timeout applies at once; checks run every tenth of it, within 10..100 ms", () => {
    const w = new HeartbeatWatchdog(2000, 0);
    w.setTimeout(100);
    expect(w.check(101)?.type).toBe("demote");
    expect([50, 500, 2000, 60_000].map(HeartbeatWatchdog.checkIntervalMs)).toEqual([10, 50, 100, 100]);
    expect(w.ageMs(151)).toBe(151);
  });
});

/** A manual clock with interval timers. */
function fakeTimers() {
  let t = 0;
  const intervals = new Map<number, { every: number; next: number; fn: () => void }>();
  let id = 0;
  return {
    now: () => t,
    setInterval: (fn: () => void, ms: number) => {
      intervals.set(++id, { every: ms, next: t + ms, fn });
      return id;
    },
    clearInterval: (handle: unknown) => {
      intervals.delete(handle as number);
    },
    advance(ms: number) {
      const end = t + ms;
      for (;;) {
        const due = [...intervals.values()].filter((i) => i.next <= end).sort((a, b) => a.next - b.next)[0];
        if (due === undefined) break;
        t = due.next;
        due.next += due.every;
        due.fn();
      }
      t = end;
    },
    armed: () => intervals.size,
  };
}

describe("HeartbeatMonitor: the watchdog on a timer", () => {
  it("demotes within one check interval after the timeout, once, and clears at the next beat", () => {
    const timers = fakeTimers();
    const decisions: string[] = [];
    const monitor = new HeartbeatMonitor(timers, (d) => decisions.push(d.type));
    monitor.arm(500);
    // Checks every 50 ms (a tenth of the timeout): silence up to the timeout is fine.
    timers.advance(500);
    expect(decisions).toEqual([]);
    timers.advance(HeartbeatWatchdog.checkIntervalMs(500));
    expect(decisions).toEqual(["demote"]);
    expect(monitor.demoted).toMatch(/no heartbeat for 550 ms \(heartbeat_timeout 500 ms\)/);
    timers.advance(5000);
    expect(decisions).toEqual(["demote"]);
    monitor.beat();
    expect(decisions).toEqual(["demote", "clear"]);
    expect(monitor.demoted).toBeNull();
  });

  it("beats keep it quiet; re-arming keeps one timer and the last beat; disarm stops it", () => {
    const timers = fakeTimers();
    const decisions: string[] = [];
    const monitor = new HeartbeatMonitor(timers, (d) => decisions.push(d.type));
    monitor.arm(300);
    for (let i = 0; i < 20; i++) {
      timers.advance(250);
      monitor.beat();
    }
    expect(decisions).toEqual([]);
    timers.advance(200);
    monitor.arm(1000);
    expect(timers.armed()).toBe(1);
    expect(monitor.ageMs()).toBe(200);
    timers.advance(800);
    expect(decisions).toEqual([]);
    timers.advance(100);
    expect(decisions).toEqual(["demote"]);
    monitor.disarm();
    expect(timers.armed()).toBe(0);
  });
});

import { describe, expect, it } from "vitest";
import { HeartbeatWatchdog } from "../../../src/vrrp/heartbeat.js";

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

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CheckTiming } from "../../../src/config/types.js";
import {
  AGENT_NEUTRAL,
  type AgentState,
  baseDelayMs,
  type Health,
  initialMonitor,
  JITTER,
  jitter,
  type MonitorState,
  nextDelayMs,
  observe,
  observeAgent,
} from "../../../src/health/monitor.js";
import type { AgentReply, CheckResult } from "../../../src/health/types.js";
import { FakeClock } from "./fake-clock.js";

const OK = { ok: true, code: "ok", reason: "ok" } as const;
const FAIL = { ok: false, code: "status", reason: "status 503" } as const;

function timing(over: Partial<CheckTiming> = {}): CheckTiming {
  return {
    intervalMs: 1000,
    fastIntervalMs: 200,
    downIntervalMs: 30_000,
    timeoutMs: 500,
    rise: 2,
    fall: 3,
    ...over,
  };
}

/** Feeds results (true = ok) through observe; the index of each transition and the states. */
function run(start: MonitorState, results: readonly boolean[], t: Pick<CheckTiming, "rise" | "fall">) {
  let state = start;
  const transitions: { at: number; from: Health; to: Health }[] = [];
  const states: MonitorState[] = [];
  results.forEach((ok, at) => {
    const next = observe(state, ok ? OK : FAIL, t);
    state = next.state;
    states.push(state);
    if (next.transition) transitions.push({ at, from: next.transition.from, to: next.transition.to });
  });
  return { state, transitions, states };
}

/**
 * The rule, written independently: at result i the probe flips iff the result contradicts the
 * current health and the last `fall` (while up) or `rise` (while down) results all equal it.
 * A probe of unknown state ("initial") takes the health of its first result.
 */
function reference(start: Health, initial: boolean, results: readonly boolean[], rise: number, fall: number) {
  let health = start;
  const transitions: { at: number; from: Health; to: Health }[] = [];
  results.forEach((ok, i) => {
    const said: Health = ok ? "up" : "down";
    if (said === health) return;
    const n = initial && i === 0 ? 1 : health === "up" ? fall : rise;
    const window = results.slice(Math.max(0, i + 1 - n), i + 1);
    if (window.length === n && window.every((r) => r === ok)) {
      transitions.push({ at: i, from: health, to: said });
      health = said;
    }
  });
  return { health, transitions };
}

describe("observe: rise and fall", () => {
  it("goes down exactly at the fall-th failure in a row", () => {
    const t = { rise: 2, fall: 3 };
    const { transitions, states } = run(initialMonitor("up", "restored"), [false, false, false], t);
    expect(states.map((s) => s.health)).toEqual(["up", "up", "down"]);
    expect(states.map((s) => s.streak)).toEqual([1, 2, 0]);
    expect(transitions).toEqual([{ at: 2, from: "up", to: "down" }]);
    expect(states[2]).toMatchObject({ code: "status", reason: "status 503", downRuns: 0 });
  });

  it("comes back up exactly at the rise-th success in a row", () => {
    const t = { rise: 2, fall: 3 };
    const { transitions, state } = run(initialMonitor("down", "restored"), [true, true], t);
    expect(transitions).toEqual([{ at: 1, from: "down", to: "up" }]);
    expect(state).toMatchObject({ health: "up", streak: 0, code: "ok" });
  });

  it("resets the streak on a result of the other kind", () => {
    const t = { rise: 2, fall: 3 };
    const { transitions, states } = run(
      initialMonitor("up", "restored"),
      [false, false, true, false, false],
      t,
    );
    expect(transitions).toEqual([]);
    expect(states.map((s) => s.streak)).toEqual([1, 2, 0, 1, 2]);
  });

  it("a flapping probe (ok, fail, ok, fail…) with rise = fall = 2 never transitions", () => {
    const t = { rise: 2, fall: 2 };
    const flap = Array.from({ length: 50 }, (_, i) => i % 2 === 0);
    expect(run(initialMonitor("up", "restored"), flap, t).transitions).toEqual([]);
    expect(run(initialMonitor("down", "restored"), flap, t).transitions).toEqual([]);
    // Also when it is decided by a first result: the rest still flaps.
    expect(run(initialMonitor("down"), flap, t).transitions).toEqual([{ at: 0, from: "down", to: "up" }]);
  });

  it("decides a probe of unknown state by its first result (code initial)", () => {
    const t = { rise: 3, fall: 3 };
    const down = initialMonitor("down");
    expect(down).toEqual({ health: "down", streak: 0, downRuns: 0, code: "initial", reason: "initial" });
    const up = observe(down, OK, t);
    expect(up.transition).toEqual({ from: "down", to: "up", code: "ok", reason: "ok" });
    expect(up.state).toMatchObject({ health: "up", code: "ok", streak: 0 });

    const stays = observe(down, FAIL, t);
    expect(stays.transition).toBeUndefined();
    // Decided: no longer "initial", and the reason is the result's.
    expect(stays.state).toMatchObject({ health: "down", code: "status", reason: "status 503", streak: 0 });

    const upFirst = observe(initialMonitor("up"), FAIL, t);
    expect(upFirst.transition).toEqual({ from: "up", to: "down", code: "status", reason: "status 503" });
    // After the first result, rise/fall apply as usual.
    const again = run(upFirst.state, [true, true], t);
    expect(again.transitions).toEqual([]);
    expect(again.state.streak).toBe(2);
  });

  it("a restored probe uses normal rise/fall, not the first-result rule", () => {
    const t = { rise: 3, fall: 2 };
    const restored = initialMonitor("up", "restored");
    expect(observe(restored, FAIL, t).transition).toBeUndefined();
    expect(run(restored, [false, false], t).transitions).toEqual([{ at: 1, from: "up", to: "down" }]);
    expect(run(initialMonitor("down", "restored"), [true, true], t).transitions).toEqual([]);
  });

  it("property: transitions happen iff the last fall (or rise) results agree (reference model)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom<Health>("up", "down"),
        fc.boolean(),
        (results, rise, fall, start, initial) => {
          const got = run(initialMonitor(start, initial ? "initial" : "restored"), results, { rise, fall });
          const want = reference(start, initial, results, rise, fall);
          expect(got.transitions).toEqual(want.transitions);
          expect(got.state.health).toBe(want.health);
          // The streak never reaches the threshold without a flip.
          const n = got.state.health === "up" ? fall : rise;
          expect(got.state.streak).toBeLessThan(n);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("baseDelayMs / nextDelayMs", () => {
  it("stable up: interval; a streak under way: fast_interval", () => {
    const t = timing();
    const up = initialMonitor("up", "restored");
    expect(baseDelayMs(up, t)).toBe(1000);
    const failing = observe(up, FAIL, t).state;
    expect(baseDelayMs(failing, t)).toBe(200);
    // A success resets the streak: back to the interval.
    expect(baseDelayMs(observe(failing, OK, t).state, t)).toBe(1000);
  });

  it("down: backs off from interval, doubling per failed run, capped at down_interval", () => {
    const t = timing({ intervalMs: 1000, downIntervalMs: 30_000, fall: 1 });
    let state = observe(initialMonitor("up", "restored"), FAIL, t).state;
    expect(state.health).toBe("down");
    const delays = [baseDelayMs(state, t)];
    for (let i = 0; i < 6; i++) {
      state = observe(state, FAIL, t).state;
      delays.push(baseDelayMs(state, t));
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    // Many more failed runs do not overflow past the cap.
    for (let i = 0; i < 100; i++) state = observe(state, FAIL, t).state;
    expect(baseDelayMs(state, t)).toBe(30_000);
  });

  it("down with a success pending: fast_interval; the backoff starts again after a recovery", () => {
    const t = timing({ rise: 2, fall: 1 });
    let state = observe(initialMonitor("up", "restored"), FAIL, t).state;
    for (let i = 0; i < 4; i++) state = observe(state, FAIL, t).state;
    expect(baseDelayMs(state, t)).toBe(16_000);
    state = observe(state, OK, t).state;
    expect(state).toMatchObject({ health: "down", streak: 1 });
    expect(baseDelayMs(state, t)).toBe(200);
    state = observe(state, OK, t).state;
    expect(state.health).toBe("up");
    expect(baseDelayMs(state, t)).toBe(1000);
    state = observe(state, FAIL, t).state;
    expect(state).toMatchObject({ health: "down", downRuns: 0 });
    expect(baseDelayMs(state, t)).toBe(1000);
  });

  it("no backoff when down_interval is the interval (the default)", () => {
    const t = timing({ downIntervalMs: 1000, fall: 1 });
    let state = observe(initialMonitor("up", "restored"), FAIL, t).state;
    for (let i = 0; i < 5; i++) {
      expect(baseDelayMs(state, t)).toBe(1000);
      state = observe(state, FAIL, t).state;
    }
  });

  it("property: jitter stays within ±10 % of the base", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (ms, r) => {
          const j = jitter(ms, () => r);
          expect(Number.isInteger(j)).toBe(true);
          expect(j).toBeGreaterThanOrEqual(1);
          expect(Math.abs(j - ms)).toBeLessThanOrEqual(ms * JITTER + 0.5);
        },
      ),
    );
  });

  it("property: jitter averages near the base (seeded)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 1_000_000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        (ms, seed) => {
          const clock = new FakeClock(seed);
          let sum = 0;
          let min = Number.POSITIVE_INFINITY;
          let max = 0;
          const n = 2000;
          for (let i = 0; i < n; i++) {
            const j = nextDelayMs(initialMonitor("up", "restored"), timing({ intervalMs: ms }), clock.random);
            sum += j;
            min = Math.min(min, j);
            max = Math.max(max, j);
          }
          expect(Math.abs(sum / n - ms)).toBeLessThan(ms * 0.01 + 1);
          // It does spread: not a constant.
          expect(max - min).toBeGreaterThan(ms * 0.1);
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe("observeAgent", () => {
  const answer = (agent: AgentReply, ok = true): CheckResult => ({
    ok,
    code: ok ? "ok" : "refused",
    reason: ok ? "ok" : "connection refused",
    durationMs: 1,
    agent,
  });

  it("words that are absent change nothing", () => {
    const state: AgentState = { admin: "drain", health: "up", weight: { percent: 50 }, reason: "busy" };
    const r = observeAgent(state, answer({}));
    expect(r.changed).toBe(false);
    expect(r.state).toEqual(state);
    const w = observeAgent(state, answer({ weight: { absolute: 3 } }));
    expect(w).toEqual({ state: { ...state, weight: { absolute: 3 } }, changed: true });
  });

  it("an unreachable agent (ok: false) changes nothing", () => {
    const state: AgentState = { admin: "maint", health: "down" };
    expect(observeAgent(state, answer({ admin: "ready", health: "up" }, false))).toEqual({
      state,
      changed: false,
    });
    const noReply: CheckResult = { ok: true, code: "ok", reason: "ok", durationMs: 1 };
    expect(observeAgent(state, noReply)).toEqual({ state, changed: false });
  });

  it("flags changes of admin, health and weight only", () => {
    let s = AGENT_NEUTRAL;
    const steps: [AgentReply, boolean, Partial<AgentState>][] = [
      [{ admin: "ready" }, false, { admin: "ready" }],
      [{ admin: "drain" }, true, { admin: "drain" }],
      [{ admin: "drain" }, false, { admin: "drain" }],
      [{ weight: { percent: 50 } }, true, { weight: { percent: 50 } }],
      [{ weight: { percent: 50 } }, false, { weight: { percent: 50 } }],
      [{ health: "down", reason: "disk full" }, true, { health: "down", reason: "disk full" }],
      [{ reason: "still full" }, false, { health: "down", reason: "still full" }],
      [{ health: "up", admin: "ready" }, true, { health: "up", admin: "ready", weight: { percent: 50 } }],
    ];
    for (const [reply, changed, expected] of steps) {
      const r = observeAgent(s, answer(reply));
      expect(r.changed, JSON.stringify(reply)).toBe(changed);
      expect(r.state).toMatchObject(expected);
      s = r.state;
    }
  });
});

import { describe, expect, it } from "vitest";
import type {
  CheckTiming,
  HttpCheckConfig,
  ProbeCheckConfig,
  TcpCheckConfig,
} from "../../../src/config/types.js";
import type { ProbeDef } from "../../../src/health/probes.js";
import {
  CheckScheduler,
  type ProbeChange,
  type ProbeSeed,
  type SchedulerLimits,
} from "../../../src/health/scheduler.js";
import { type FakeCall, FakeChecks, FakeClock, type FakeResult, OK } from "./fake-clock.js";

const FAIL: FakeResult = { ok: false, code: "status", reason: "status 503" };

function tcpSpec(over: Partial<CheckTiming & Pick<TcpCheckConfig, "initial">> = {}): TcpCheckConfig {
  return {
    type: "tcp",
    intervalMs: 1000,
    fastIntervalMs: 1000,
    downIntervalMs: 1000,
    timeoutMs: 10_000,
    rise: 1,
    fall: 1,
    initial: "up",
    ...over,
  };
}

function httpsSpec(over: Partial<CheckTiming> = {}): HttpCheckConfig {
  return {
    ...tcpSpec(over),
    type: "https",
    method: "GET",
    path: "/",
    headers: {},
    status: [{ min: 200, max: 299 }],
    maxBodyBytes: 65536,
    keepalive: false,
    tls: { verify: true },
  };
}

function probe(id: string, spec: ProbeCheckConfig = tcpSpec(), address = `10.0.0.${id.length}`): ProbeDef {
  return { id, target: { address, port: 80, family: 4 }, spec };
}

function probes(n: number, spec: ProbeCheckConfig = tcpSpec(), prefix = "p"): ProbeDef[] {
  return Array.from({ length: n }, (_, i) => probe(`${prefix}${i}`, spec));
}

interface Harness {
  clock: FakeClock;
  checks: FakeChecks;
  scheduler: CheckScheduler;
  changes: ProbeChange[];
}

function harness(
  opts: { seed?: number; limits?: Partial<SchedulerLimits>; checks?: (clock: FakeClock) => FakeChecks } = {},
): Harness {
  const clock = new FakeClock(opts.seed ?? 42);
  const checks = opts.checks?.(clock) ?? new FakeChecks(clock);
  const changes: ProbeChange[] = [];
  const scheduler = new CheckScheduler(
    clock,
    { concurrency: 1000, tlsConcurrency: 64, ...opts.limits },
    checks.run,
    (c) => changes.push(c),
  );
  return { clock, checks, scheduler, changes };
}

/** Start times of each probe's runs. */
function startsById(calls: readonly FakeCall[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const c of calls) {
    const list = out.get(c.id);
    if (list) list.push(c.start);
    else out.set(c.id, [c.start]);
  }
  return out;
}

describe("CheckScheduler: timing", () => {
  it("spreads the first runs of new probes over their interval", async () => {
    const { clock, checks, scheduler } = harness({ seed: 7 });
    scheduler.configure(probes(100));
    // Nothing runs at the instant of configure().
    await clock.advance(0);
    expect(checks.calls.length).toBeLessThanOrEqual(1);
    await clock.advance(999);
    const first = [...startsById(checks.calls).values()].map((s) => s[0] as number);
    expect(first).toHaveLength(100);
    for (const t of first) {
      expect(t).toBeGreaterThanOrEqual(0);
      expect(t).toBeLessThan(1000);
    }
    const perMs = new Map<number, number>();
    for (const t of first) perMs.set(t, (perMs.get(t) ?? 0) + 1);
    expect(Math.max(...perMs.values())).toBeLessThanOrEqual(4);
    expect(perMs.size).toBeGreaterThan(60);
    // Spread over the whole interval, not bunched at its start.
    expect(first.filter((t) => t < 500).length).toBeGreaterThan(25);
    expect(first.filter((t) => t >= 500).length).toBeGreaterThan(25);
  });

  it("runs a stable probe every interval ±10 %, jittered", async () => {
    const { clock, checks, scheduler } = harness();
    scheduler.configure(probes(20));
    await clock.advance(30_000);
    const gaps: number[] = [];
    for (const starts of startsById(checks.calls).values()) {
      expect(starts.length).toBeGreaterThanOrEqual(25);
      for (let i = 1; i < starts.length; i++) gaps.push((starts[i] as number) - (starts[i - 1] as number));
    }
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(900);
      expect(g).toBeLessThanOrEqual(1100);
    }
    expect(new Set(gaps).size).toBeGreaterThan(20);
  });

  it("never overlaps a probe with itself: a slow check delays the next run to its end", async () => {
    const { clock, checks, scheduler } = harness({
      checks: (c) => new FakeChecks(c, { kind: "auto", delayMs: 1500, result: FAIL }),
    });
    // fast_interval (100) is below the check's duration (1500): a streak is under way.
    scheduler.configure([probe("slow", tcpSpec({ fastIntervalMs: 100, timeoutMs: 5000, fall: 5 }))]);
    await clock.advance(10_000);
    const calls = checks.callsOf("slow").filter((c) => c.end !== undefined);
    expect(calls.length).toBeGreaterThanOrEqual(5);
    expect(checks.maxInFlight).toBe(1);
    for (let i = 1; i < calls.length; i++) {
      const prev = calls[i - 1] as FakeCall;
      const next = calls[i] as FakeCall;
      expect(next.start).toBeGreaterThanOrEqual(prev.end as number);
      // Due from the start (fast_interval ±10 %) but never before the end: it runs right at the end.
      expect(next.start).toBe(prev.end);
    }
    // The due time itself is the end, not a past instant: no lag is counted for it.
    expect(scheduler.stats.snapshot().maxLagMs).toBe(0);
  });

  it("backs off a down probe: the gaps double up to down_interval", async () => {
    const { clock, checks, scheduler } = harness({
      checks: (c) => new FakeChecks(c, { kind: "auto", delayMs: 0, result: FAIL }),
    });
    scheduler.configure([probe("dead", tcpSpec({ intervalMs: 1000, downIntervalMs: 8000, fall: 1 }))]);
    await clock.advance(60_000);
    const starts = startsById(checks.calls).get("dead") as number[];
    const gaps = starts.slice(1).map((s, i) => s - (starts[i] as number));
    const bases = [1000, 2000, 4000, 8000, 8000, 8000];
    expect(gaps.length).toBeGreaterThanOrEqual(bases.length);
    bases.forEach((base, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(base * 0.9);
      expect(gaps[i]).toBeLessThanOrEqual(base * 1.1);
    });
  });
});

describe("CheckScheduler: timeouts and failures", () => {
  it("aborts the signal at timeoutMs; the checker's timeout result is counted", async () => {
    const { clock, checks, scheduler, changes } = harness({
      checks: (c) => new FakeChecks(c, { kind: "manual" }),
    });
    clock.queueRandom(0.2);
    scheduler.configure([probe("t", tcpSpec({ timeoutMs: 300, fall: 1 }))]);
    await clock.advance(200);
    const call = checks.calls[0] as FakeCall;
    expect(call).toBeDefined();
    expect(scheduler.inFlight).toBe(1);
    await clock.advanceTo(call.start + 299);
    expect(call.signal.aborted).toBe(false);
    await clock.advanceTo(call.start + 300);
    expect(call.signal.aborted).toBe(true);
    expect(call.end).toBe(call.start + 300);
    expect(scheduler.inFlight).toBe(0);
    const stats = scheduler.stats.snapshot();
    expect(stats.results).toEqual({ timeout: 1 });
    expect(stats.latency.count).toBe(1);
    expect(scheduler.status("t")).toMatchObject({
      health: "down",
      code: "timeout",
      last: { code: "timeout" },
    });
    expect(changes.map((c) => c.transition?.code)).toEqual(["timeout"]);
  });

  it("a checker that throws or rejects gives an `error` result, not a crash", async () => {
    const { clock, checks, scheduler } = harness();
    checks.byId.set("throws", { kind: "throw", error: new Error("boom") });
    checks.byId.set("rejects", { kind: "reject", error: new Error("bang") });
    scheduler.configure([probe("throws"), probe("rejects"), probe("fine")]);
    await clock.advance(3500);
    const stats = scheduler.stats.snapshot();
    expect(stats.results.error).toBeGreaterThanOrEqual(6);
    expect(stats.results.ok).toBeGreaterThanOrEqual(3);
    expect(scheduler.status("throws")).toMatchObject({ health: "down", code: "error" });
    expect(scheduler.status("throws")?.reason).toContain("boom");
    expect(scheduler.status("rejects")?.reason).toContain("bang");
    expect(scheduler.inFlight).toBe(0);
    // Still scheduled: it keeps running.
    expect(scheduler.status("throws")?.dueInMs).toBeGreaterThan(0);
  });
});

describe("CheckScheduler: bounds", () => {
  it("runs at most `concurrency` checks; the rest start in due order as slots free, with lag", async () => {
    const { clock, checks, scheduler } = harness({
      limits: { concurrency: 3 },
      checks: (c) => new FakeChecks(c, { kind: "manual" }),
    });
    // Due at 0, 50, …, 450.
    clock.queueRandom(...Array.from({ length: 10 }, (_, i) => i * 0.05));
    scheduler.configure(probes(10));
    await clock.advance(500);
    expect(checks.calls.map((c) => c.id)).toEqual(["p0", "p1", "p2"]);
    expect(scheduler.inFlight).toBe(3);
    // Freeing slots out of order still starts the waiting probes in due order.
    (checks.calls[1] as FakeCall).answer(OK);
    await clock.advance(0);
    expect(checks.calls.map((c) => c.id)).toEqual(["p0", "p1", "p2", "p3"]);
    expect((checks.calls[3] as FakeCall).start).toBe(500);
    for (let i = 0; i < 20 && checks.running().length > 0; i++) {
      await clock.advance(10);
      (checks.running()[0] as FakeCall).answer(OK);
      await clock.advance(0);
      expect(checks.inFlight).toBeLessThanOrEqual(3);
    }
    expect(checks.maxInFlight).toBe(3);
    expect(checks.calls.slice(0, 10).map((c) => c.id)).toEqual(probes(10).map((p) => p.id));
    const lag = scheduler.stats.snapshot();
    expect(lag.lag.count).toBe(10);
    // p3 was due at 150 and started at 500.
    expect(lag.maxLagMs).toBeGreaterThanOrEqual(350);
    expect(lag.lag.counts[0]).toBe(3); // the first three started on time
  });

  it("bounds https checks by tlsConcurrency while plain checks still start", async () => {
    const { clock, checks, scheduler } = harness({
      limits: { concurrency: 10, tlsConcurrency: 2 },
      checks: (c) => new FakeChecks(c, { kind: "manual" }),
    });
    clock.queueRandom(0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06);
    scheduler.configure([...probes(4, httpsSpec(), "tls"), ...probes(3, tcpSpec(), "tcp")]);
    await clock.advance(100);
    expect(checks.calls.map((c) => c.id)).toEqual(["tls0", "tls1", "tcp0", "tcp1", "tcp2"]);
    (checks.calls[0] as FakeCall).answer(OK);
    await clock.advance(0);
    expect(checks.running().map((c) => c.id)).toEqual(["tls1", "tcp0", "tcp1", "tcp2", "tls2"]);
    expect(scheduler.status("tls3")?.dueInMs).toBeLessThan(0); // waiting for a slot
    // A plain check finishing frees no TLS slot.
    (checks.calls[2] as FakeCall).answer(OK);
    await clock.advance(0);
    expect(checks.calls.map((c) => c.id)).not.toContain("tls3");
  });

  it("an https probe held back by the TLS bound keeps its place in the due order", async () => {
    const { clock, checks, scheduler } = harness({
      limits: { concurrency: 3, tlsConcurrency: 1 },
      checks: (c) => new FakeChecks(c, { kind: "manual" }),
    });
    // Due: tls0 0, tcp0 10, tcp1 20 (all slots), then tls1 30, tcp2 40, tcp3 50 wait.
    clock.queueRandom(0, 0.03, 0.01, 0.02, 0.04, 0.05);
    scheduler.configure([...probes(2, httpsSpec(), "tls"), ...probes(4, tcpSpec(), "tcp")]);
    await clock.advance(100);
    expect(checks.running().map((c) => c.id)).toEqual(["tls0", "tcp0", "tcp1"]);
    // A plain slot frees: tls1 cannot have it (tls0 holds the TLS slot), tcp2 can.
    (checks.callsOf("tcp0")[0] as FakeCall).answer(OK);
    await clock.advance(0);
    expect(checks.running().map((c) => c.id)).toEqual(["tls0", "tcp1", "tcp2"]);
    // Now the TLS slot frees too: tls1 was due before tcp3, so it goes first.
    (checks.callsOf("tls0")[0] as FakeCall).answer(OK);
    await clock.advance(0);
    expect(checks.running().map((c) => c.id)).toEqual(["tcp1", "tcp2", "tls1"]);
  });

  it("setLimits() raising the bound starts waiting probes", async () => {
    const { clock, checks, scheduler } = harness({
      limits: { concurrency: 1 },
      checks: (c) => new FakeChecks(c, { kind: "manual" }),
    });
    clock.queueRandom(0, 0.1, 0.2);
    scheduler.configure(probes(3));
    await clock.advance(500);
    expect(checks.calls).toHaveLength(1);
    scheduler.setLimits({ concurrency: 5, tlsConcurrency: 5 });
    expect(checks.calls).toHaveLength(3);
  });
});

describe("CheckScheduler: configure() and reloads", () => {
  it("keeps the state and due time of probes whose id survives (no extra run)", async () => {
    const { clock, checks, scheduler, changes } = harness();
    checks.byId.set("b", { kind: "auto", delayMs: 1, result: FAIL });
    scheduler.configure([probe("a"), probe("b", tcpSpec({ fall: 1 }))]);
    await clock.advance(2500);
    expect(scheduler.status("b")?.health).toBe("down");
    const before = { a: scheduler.status("a"), b: scheduler.status("b"), calls: checks.calls.length };
    const events = changes.length;
    // Same ids, new objects (as a reload builds them).
    scheduler.configure([probe("b", tcpSpec({ fall: 1 })), probe("a")]);
    await clock.advance(0);
    expect(checks.calls.length).toBe(before.calls);
    expect(scheduler.status("a")).toEqual(before.a);
    expect(scheduler.status("b")).toEqual(before.b);
    expect(changes.length).toBe(events);
    expect(scheduler.size).toBe(2);
  });

  it("spreads a new probe over its interval; seeds set its starting state", async () => {
    const { clock, scheduler } = harness();
    scheduler.configure([probe("a")]);
    await clock.advance(5000);
    clock.queueRandom(0.75);
    const seed: ProbeSeed = { health: "down", code: "restored", reason: "status 503" };
    scheduler.configure([probe("a"), probe("new")], new Map([["new", seed]]));
    expect(scheduler.status("new")).toMatchObject({
      health: "down",
      code: "restored",
      reason: "status 503",
      dueInMs: 750,
    });
  });

  it("aborts a removed probe's check and ignores its result", async () => {
    const { clock, checks, scheduler, changes } = harness({
      checks: (c) => new FakeChecks(c, { kind: "manual" }),
    });
    clock.queueRandom(0, 0.5);
    scheduler.configure([probe("gone"), probe("stays")]);
    await clock.advance(10);
    const call = checks.calls[0] as FakeCall;
    expect(call.id).toBe("gone");
    scheduler.configure([probe("stays")]);
    expect(call.signal.aborted).toBe(true);
    await clock.advance(0);
    expect(changes).toEqual([]);
    expect(scheduler.status("gone")).toBeUndefined();
    expect(scheduler.stats.snapshot().results).toEqual({});
    expect(scheduler.inFlight).toBe(0);
    await clock.advance(5000);
    expect(checks.callsOf("gone")).toHaveLength(1);
  });

  it("forgets a removed probe that was waiting for a slot", async () => {
    const { clock, checks, scheduler } = harness({
      limits: { concurrency: 1 },
      checks: (c) => new FakeChecks(c, { kind: "manual" }),
    });
    clock.queueRandom(0, 0.1, 0.2);
    scheduler.configure(probes(3));
    await clock.advance(500);
    scheduler.configure([probe("p0"), probe("p2")]);
    (checks.calls[0] as FakeCall).answer(OK);
    await clock.advance(0);
    expect(checks.calls.map((c) => c.id)).toEqual(["p0", "p2"]);
  });

  it("a reload never runs everything at once", async () => {
    const { clock, checks, scheduler } = harness({ seed: 3 });
    const spec = tcpSpec({ intervalMs: 10_000 });
    scheduler.configure(probes(1000, spec));
    await clock.advance(25_000);
    const dueNow = [...scheduler.ids()].filter((id) => (scheduler.status(id)?.dueInMs ?? 1) <= 0).length;
    const calls = checks.calls.length;
    scheduler.configure([...probes(1000, spec), probe("new", spec)]);
    await clock.advance(0);
    expect(checks.calls.length - calls).toBe(dueNow);
    // The next 100 ms see about a hundredth of the probes, as before the reload.
    await clock.advance(100);
    expect(checks.calls.length - calls).toBeLessThan(40);
    expect(scheduler.size).toBe(1001);
  });
});

describe("CheckScheduler: stop()", () => {
  it("aborts the checks in flight and starts or arms nothing more", async () => {
    const { clock, checks, scheduler, changes } = harness({
      limits: { concurrency: 1 },
      checks: (c) => new FakeChecks(c, { kind: "manual" }),
    });
    clock.queueRandom(0, 0.1);
    scheduler.configure(probes(2));
    await clock.advance(500);
    expect(checks.calls).toHaveLength(1);
    scheduler.stop();
    expect((checks.calls[0] as FakeCall).signal.aborted).toBe(true);
    await clock.advance(0);
    // The probe that was waiting for the slot the aborted check freed does not start.
    expect(checks.calls).toHaveLength(1);
    expect(changes).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(60_000);
    expect(checks.calls).toHaveLength(1);
  });
});

describe("CheckScheduler: change events and stats", () => {
  it("emits changes on transitions only, not on every result", async () => {
    const { clock, checks, scheduler, changes } = harness();
    let results: FakeResult[] = [OK, OK, OK, FAIL, OK, FAIL, FAIL, FAIL, OK, OK, OK];
    checks.byId.set("p", { kind: "auto", delayMs: 1, result: () => results.shift() ?? OK });
    scheduler.configure([probe("p", tcpSpec({ rise: 2, fall: 2, initial: "up" }))]);
    await clock.advance(30_000);
    expect(checks.callsOf("p").length).toBeGreaterThan(11);
    expect(changes.map((c) => [c.health, c.transition?.from, c.transition?.to, c.result.code])).toEqual([
      // The first result decides a probe of unknown state: its owner hears of it once.
      ["up", undefined, undefined, "ok"],
      ["down", "up", "down", "status"],
      ["up", "down", "up", "ok"],
    ]);
    results = [];
  });

  it("emits the first result of a probe of unknown state even when it confirms `initial`", async () => {
    const { clock, checks, scheduler, changes } = harness();
    checks.byId.set("p", { kind: "auto", delayMs: 1, result: FAIL });
    scheduler.configure([probe("p", tcpSpec({ initial: "down", fall: 3 }))]);
    await clock.advance(10_000);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      id: "p",
      health: "down",
      result: { code: "status", reason: "status 503" },
    });
    expect(changes[0]?.transition).toBeUndefined();
    expect(scheduler.status("p")).toMatchObject({ code: "status", reason: "status 503" });
  });

  it("emits agent changes and dynamic weight changes, not repeats", async () => {
    const { clock, checks, scheduler, changes } = harness();
    const agent: FakeResult[] = [
      { ...OK, agent: { admin: "drain" } },
      { ...OK, agent: { admin: "drain" } },
      { ok: false, code: "refused", reason: "connection refused" },
      { ...OK, agent: { weight: { percent: 50 } } },
      { ...OK, agent: {} },
    ];
    const exec: FakeResult[] = [{ ...OK, weight: 5 }, { ...OK, weight: 5 }, { ...OK, weight: 7 }, { ...OK }];
    checks.byId.set("agent", {
      kind: "auto",
      delayMs: 1,
      result: () => agent.shift() ?? { ...OK, agent: {} },
    });
    checks.byId.set("exec", { kind: "auto", delayMs: 1, result: () => exec.shift() ?? OK });
    scheduler.configure([
      probe("agent", { ...tcpSpec(), type: "agent" }),
      probe("exec", {
        ...tcpSpec({ initial: "up" }),
        type: "exec",
        command: ["/bin/true"],
        dynamicWeight: true,
      }),
    ]);
    await clock.advance(20_000);
    const agentChanges = changes.filter((c) => c.id === "agent");
    expect(agentChanges.map((c) => c.agent)).toEqual([
      { admin: "drain", health: "up" },
      { admin: "drain", health: "up", weight: { percent: 50 } },
    ]);
    const execChanges = changes.filter((c) => c.id === "exec");
    expect(execChanges.map((c) => c.weight)).toEqual([5, 7, undefined]);
  });

  it("counts results by code; the latency histogram counts every run", async () => {
    const { clock, checks, scheduler } = harness();
    checks.byId.set("p1", { kind: "auto", delayMs: 30, result: FAIL });
    scheduler.configure(probes(3));
    await clock.advance(10_000);
    const done = checks.calls.filter((c) => c.end !== undefined);
    const stats = scheduler.stats.snapshot();
    expect(stats.latency.count).toBe(done.length);
    expect(stats.lag.count).toBe(checks.calls.length);
    expect(stats.results).toEqual({
      ok: done.filter((c) => c.result?.ok).length,
      status: done.filter((c) => c.id === "p1").length,
    });
    expect(stats.latency.sum).toBe(done.reduce((s, c) => s + (c.result?.durationMs ?? 0), 0));
    expect(scheduler.status("p1")?.last).toMatchObject({ ok: false, code: "status", durationMs: 30 });
  });
});

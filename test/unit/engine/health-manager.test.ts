import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { EventFactory, type VipdEvent } from "../../../src/alert/events.js";
import type {
  AgentCheckConfig,
  HealthConfig,
  HttpCheckConfig,
  MaxDown,
  ProbeCheckConfig,
  RealServerConfig,
  VirtualServerConfig,
} from "../../../src/config/types.js";
import type { ServerHealth } from "../../../src/engine/desired.js";
import { HealthManager, type StateStore } from "../../../src/engine/health-manager.js";
import type { RealServerChange } from "../../../src/engine/notify.js";
import { decodeHealth, MIN_RECENT_MS } from "../../../src/health/persist.js";
import { InProcessRunner } from "../../../src/health/runner.js";
import { CheckScheduler } from "../../../src/health/scheduler.js";
import { FakeChecks, FakeClock, type FakeResult, OK } from "../health/fake-clock.js";

// ------------------------------------------------------------------ config builders

function http(over: Partial<HttpCheckConfig> = {}): HttpCheckConfig {
  return {
    type: "http",
    intervalMs: 1000,
    fastIntervalMs: 1000,
    downIntervalMs: 1000,
    timeoutMs: 500,
    rise: 2,
    fall: 2,
    initial: "down",
    method: "GET",
    path: "/health",
    headers: {},
    status: [{ min: 200, max: 299 }],
    maxBodyBytes: 65536,
    keepalive: false,
    ...over,
  };
}

function agentCheck(over: Partial<AgentCheckConfig> = {}): AgentCheckConfig {
  return {
    type: "agent",
    intervalMs: 1000,
    fastIntervalMs: 1000,
    downIntervalMs: 1000,
    timeoutMs: 500,
    rise: 1,
    fall: 1,
    initial: "up",
    connectPort: 9777,
    ...over,
  };
}

function rs(
  address: string,
  checks: ProbeCheckConfig[] = [http()],
  over: Partial<RealServerConfig> = {},
): RealServerConfig {
  return { address, port: 80, family: 4, weight: 10, upperThreshold: 0, lowerThreshold: 0, checks, ...over };
}

function vs(
  name: string,
  realServers: RealServerConfig[],
  over: Partial<VirtualServerConfig> = {},
): VirtualServerConfig {
  return {
    name,
    family: 4,
    address: "10.0.0.100",
    port: 80,
    protocol: "tcp",
    scheduler: "wlc",
    schedulerFlags: { fallback: false, port: false },
    forwarding: "dr",
    onePacket: false,
    onFailure: "remove",
    quorum: { weight: 0, hysteresis: 0 },
    slowStartMs: 0,
    realServers,
    ...over,
  };
}

const HEALTH: HealthConfig = { stateDir: "/nonexistent/vipd-test", concurrency: 100, tlsConcurrency: 10 };
const DOWN_503: FakeResult = { ok: false, code: "status", reason: "status 503" };
const K1 = "web/10.0.0.21:80";
const K2 = "web/10.0.0.22:80";
const K3 = "web/10.0.0.23:80";

// ------------------------------------------------------------------ the harness

class MemoryStore implements StateStore {
  text: string | undefined;
  writes = 0;
  async read(): Promise<string | undefined> {
    return this.text;
  }
  async write(text: string): Promise<void> {
    this.text = text;
    this.writes++;
  }
}

interface World {
  clock: FakeClock;
  checks: FakeChecks;
  store: MemoryStore;
  manager: HealthManager;
  /** Every onHealth call, in order. */
  health: Map<string, ServerHealth>[];
  events: VipdEvent[];
  /** Every onServingChange call (the notify hooks' feed), in order. */
  serving: RealServerChange[];
  /** The onHealth changes of one server, in order. */
  healthOf(key: string): ServerHealth[];
  state(key: string): string | undefined;
}

function world(
  virtualServers: VirtualServerConfig[],
  opts: { store?: MemoryStore; clock?: FakeClock; checks?: FakeChecks } = {},
): World {
  const clock = opts.clock ?? new FakeClock(11);
  const checks = opts.checks ?? new FakeChecks(clock);
  const store = opts.store ?? new MemoryStore();
  const health: Map<string, ServerHealth>[] = [];
  const events: VipdEvent[] = [];
  const serving: RealServerChange[] = [];
  const factory = new EventFactory({ node: "lb1", now: clock.wallNow, bootId: "test" });
  const runner = new InProcessRunner(
    (limits, onChanges) => new CheckScheduler(clock, limits, checks.run, (c) => onChanges([c])),
  );
  const manager = new HealthManager({
    runner,
    virtualServers,
    health: HEALTH,
    store,
    onHealth: (changes) => health.push(new Map(changes)),
    events: () => factory,
    onEvent: (e) => events.push(e),
    onServingChange: (c) => serving.push(c),
    clock,
    log: pino({ level: "silent" }),
  });
  return {
    clock,
    checks,
    store,
    manager,
    health,
    events,
    serving,
    healthOf: (key) => health.flatMap((m) => (m.has(key) ? [m.get(key) as ServerHealth] : [])),
    state: (key) => [...manager.records()].find((r) => r.checks.key === key)?.state,
  };
}

const kinds = (events: readonly VipdEvent[]) => events.map((e) => e.event);

// ------------------------------------------------------------------ tests

describe("HealthManager: checks to health", () => {
  it("starts servers with no known state down, and brings one up at its first good check", async () => {
    const w = world([vs("web", [rs("10.0.0.21")])]);
    const start = await w.manager.start();
    expect(start).toEqual(new Map([[K1, { up: false }]]));
    expect(w.state(K1)).toBe("down");
    const status = await w.manager.status();
    expect(status.realServers[0]).toMatchObject({
      state: "down",
      code: "initial",
      reason: "not checked yet",
      weight: null,
    });
    expect(w.events).toEqual([]);

    await w.clock.advance(1100);
    expect(w.state(K1)).toBe("up");
    expect(w.health).toEqual([new Map([[K1, { up: true }]])]);
    expect(w.events).toHaveLength(1);
    expect(w.events[0]).toMatchObject({
      event: "real_server.up",
      node: "lb1",
      virtual_server: "web",
      real_server: "10.0.0.21:80",
      code: "ok",
    });
    // Nothing more while it stays up.
    await w.clock.advance(10_000);
    expect(w.events).toHaveLength(1);
    expect(w.health).toHaveLength(1);
  });

  it("takes a server down after `fall` failures, with the reason", async () => {
    const w = world([vs("web", [rs("10.0.0.21"), rs("10.0.0.22")])]);
    await w.manager.start();
    await w.clock.advance(1100);
    expect(w.state(K1)).toBe("up");
    w.events.length = 0;
    w.health.length = 0;

    w.checks.set("10.0.0.21", DOWN_503);
    // One failure (fall is 2) changes nothing.
    await w.clock.advance(1050);
    expect(w.state(K1)).toBe("up");
    expect(w.events).toEqual([]);
    await w.clock.advance(1100);
    expect(w.state(K1)).toBe("down");
    expect(w.health).toEqual([new Map([[K1, { up: false }]])]);
    expect(w.events).toHaveLength(1);
    expect(w.events[0]).toMatchObject({
      event: "real_server.down",
      virtual_server: "web",
      real_server: "10.0.0.21:80",
      reason: "status 503",
      code: "status",
    });
    expect(w.manager.counters.transitions.get("down:status")).toBe(1);
    // The notify hooks hear of it once, with the server's own address and port.
    expect(w.serving.slice(-1)).toEqual([
      {
        virtualServer: "web",
        realServer: "10.0.0.21:80",
        address: "10.0.0.21",
        port: 80,
        serving: false,
        reason: "status 503",
      },
    ]);
    // The other server is untouched.
    expect(w.state(K2)).toBe("up");
    expect(w.manager.healthMap().get(K2)).toEqual({ up: true });
  });

  it("a first check that fails keeps the server down without an event, with the check's reason", async () => {
    const w = world([vs("web", [rs("10.0.0.21")])]);
    w.checks.set("10.0.0.21", DOWN_503);
    await w.manager.start();
    await w.clock.advance(5000);
    expect(w.events).toEqual([]);
    expect(w.health).toEqual([]);
    const status = await w.manager.status();
    expect(status.realServers[0]).toMatchObject({ state: "down", code: "status", reason: "status 503" });
  });

  it("initial: up starts a server up; a good first check changes nothing", async () => {
    const w = world([vs("web", [rs("10.0.0.21", [http({ initial: "up" })])])]);
    expect(await w.manager.start()).toEqual(new Map([[K1, { up: true }]]));
    await w.clock.advance(5000);
    expect(w.events).toEqual([]);
    expect(w.health).toEqual([]);
    expect(w.state(K1)).toBe("up");
  });

  it("shares one probe between two virtual servers with the same server and check", async () => {
    const w = world([vs("web", [rs("10.0.0.21")]), vs("web2", [rs("10.0.0.21")], { address: "10.0.0.101" })]);
    await w.manager.start();
    expect(w.manager.dedup()).toEqual({ probes: 1, subscriptions: 2 });
    await w.clock.advance(1100);
    expect(w.checks.calls).toHaveLength(1);
    expect(w.health).toEqual([
      new Map([
        [K1, { up: true }],
        ["web2/10.0.0.21:80", { up: true }],
      ]),
    ]);
    expect(kinds(w.events)).toEqual(["real_server.up", "real_server.up"]);
  });
});

describe("HealthManager: restart and reload", () => {
  async function upThenStop(config: () => VirtualServerConfig[]) {
    const w = world(config());
    await w.manager.start();
    await w.clock.advance(1100);
    expect(w.state(K1)).toBe("up");
    await w.manager.stop();
    return w;
  }

  it("starts from a recent saved state, with no events", async () => {
    const config = () => [vs("web", [rs("10.0.0.21"), rs("10.0.0.22")])];
    const before = world(config());
    before.checks.set("10.0.0.22", DOWN_503);
    await before.manager.start();
    await before.clock.advance(3000);
    await before.manager.stop();
    expect(decodeHealth(before.store.text ?? "")).toMatchObject({
      version: 1,
      savedAt: before.clock.wallNow(),
    });

    const clock = new FakeClock(5, before.clock.wallNow() + 2000);
    const checks = new FakeChecks(clock);
    checks.set("10.0.0.22", DOWN_503);
    const after = world(config(), { store: before.store, clock, checks });
    expect(await after.manager.start()).toEqual(
      new Map([
        [K1, { up: true }],
        [K2, { up: false }],
      ]),
    );
    await after.clock.advance(10_000);
    expect(after.events).toEqual([]);
    expect(after.health).toEqual([]);
    const status = await after.manager.status();
    expect(status.realServers.map((r) => [r.state, r.reason])).toEqual([
      ["up", "ok"],
      ["down", "status 503"],
    ]);
  });

  it("ignores a stale saved state", async () => {
    const config = () => [vs("web", [rs("10.0.0.21")])];
    const before = await upThenStop(config);
    // Older than the floor (3 × the 1 s interval is less): every probe is checked afresh.
    const clock = new FakeClock(5, before.clock.wallNow() + MIN_RECENT_MS + 1);
    const after = world(config(), { store: before.store, clock });
    expect(await after.manager.start()).toEqual(new Map([[K1, { up: false }]]));
  });

  it("ignores a saved state it cannot read, and one whose agent state is malformed", async () => {
    const config = () => [vs("web", [rs("10.0.0.21", [http(), agentCheck()])])];
    const garbage = new MemoryStore();
    garbage.text = "{ not json";
    expect(await world(config(), { store: garbage }).manager.start()).toEqual(new Map([[K1, { up: false }]]));

    // A file that says the agent's weight is a bare number: not a state vipd writes.
    const before = world(config());
    before.checks.set("10.0.0.21:9777", { ...OK, agent: { weight: { percent: 50 } } });
    await before.manager.start();
    await before.clock.advance(1100);
    await before.manager.stop();
    const saved = JSON.parse(before.store.text as string);
    for (const p of Object.values(saved.probes) as { agent?: { weight: unknown } }[])
      if (p.agent) p.agent.weight = 5;
    const bad = new MemoryStore();
    bad.text = JSON.stringify(saved);
    const clock = new FakeClock(5, before.clock.wallNow() + 1000);
    const after = world(config(), { store: bad, clock });
    await expect(after.manager.start()).resolves.toBeInstanceOf(Map);
  });

  it("a reload keeps unchanged probes and their state (no event, no run)", async () => {
    const config = () => [vs("web", [rs("10.0.0.21"), rs("10.0.0.22")])];
    const w = world(config());
    await w.manager.start();
    await w.clock.advance(1100);
    w.events.length = 0;
    w.health.length = 0;
    const calls = w.checks.calls.length;
    const map = w.manager.reload(config(), HEALTH);
    expect(map).toEqual(
      new Map([
        [K1, { up: true }],
        [K2, { up: true }],
      ]),
    );
    await w.clock.advance(0);
    expect(w.checks.calls.length).toBe(calls);
    await w.clock.advance(5000);
    expect(w.events).toEqual([]);
    expect(w.health).toEqual([]);
  });

  it("a reload adding a server starts it down without an event; removing one drops it", async () => {
    const w = world([vs("web", [rs("10.0.0.21"), rs("10.0.0.22")])]);
    await w.manager.start();
    await w.clock.advance(1100);
    w.events.length = 0;
    w.health.length = 0;

    w.checks.set("10.0.0.23", DOWN_503);
    const map = w.manager.reload([vs("web", [rs("10.0.0.21"), rs("10.0.0.23")])], HEALTH);
    expect(map).toEqual(
      new Map([
        [K1, { up: true }],
        [K3, { up: false }],
      ]),
    );
    expect([...w.manager.records()].map((r) => r.checks.key)).toEqual([K1, K3]);
    await w.clock.advance(5000);
    expect(w.events).toEqual([]);
    expect(w.health).toEqual([]);
    expect(w.state(K3)).toBe("down");

    // Once it answers, its coming up is a real transition.
    w.checks.set("10.0.0.23", OK);
    await w.clock.advance(3000);
    expect(kinds(w.events)).toEqual(["real_server.up"]);
    expect(w.healthOf(K3)).toEqual([{ up: true }]);
  });

  it("a server added behind a probe that already runs has its health at once", async () => {
    const w = world([vs("web", [rs("10.0.0.21")])]);
    await w.manager.start();
    await w.clock.advance(1100);
    const map = w.manager.reload(
      [vs("web", [rs("10.0.0.21")]), vs("web2", [rs("10.0.0.21")], { address: "10.0.0.101" })],
      HEALTH,
    );
    expect(map.get("web2/10.0.0.21:80")).toEqual({ up: true });
  });
});

describe("HealthManager: the operator", () => {
  async function upWorld(config = () => [vs("web", [rs("10.0.0.21"), rs("10.0.0.22")])]) {
    const w = world(config());
    await w.manager.start();
    await w.clock.advance(1100);
    w.events.length = 0;
    w.health.length = 0;
    return w;
  }

  it("drain → weight 0, disable → out, enable → back", async () => {
    const w = await upWorld();
    w.manager.setAdmin("web", "10.0.0.21:80", "drain");
    expect(w.healthOf(K1)).toEqual([{ up: true, weight: 0 }]);
    expect(w.state(K1)).toBe("drain");
    expect(w.events[0]).toMatchObject({
      event: "real_server.admin",
      virtual_server: "web",
      real_server: "10.0.0.21:80",
      action: "drain",
    });

    w.manager.setAdmin("web", "10.0.0.21:80", "disable");
    expect(w.healthOf(K1).at(-1)).toEqual({ up: false, disabled: true });
    expect(w.state(K1)).toBe("disabled");

    w.manager.setAdmin("web", "10.0.0.21:80", "enable");
    expect(w.healthOf(K1).at(-1)).toEqual({ up: true });
    expect(w.state(K1)).toBe("up");
    expect(kinds(w.events).filter((k) => k === "real_server.admin")).toHaveLength(3);
    // The other server was never touched.
    expect(w.healthOf(K2)).toEqual([]);
    const status = await w.manager.status();
    expect(status.realServers[0]).toMatchObject({ state: "up", weight: 10 });
  });

  it("checks still run under the operator's word; enable returns to what they say", async () => {
    const w = await upWorld();
    w.manager.setAdmin("web", "10.0.0.21:80", "disable");
    w.checks.set("10.0.0.21", DOWN_503);
    await w.clock.advance(5000);
    expect(w.state(K1)).toBe("disabled");
    w.manager.setAdmin("web", "10.0.0.21:80", "enable");
    expect(w.state(K1)).toBe("down");
    expect(w.healthOf(K1).at(-1)).toEqual({ up: false });
  });

  it("refuses unknown virtual and real servers", async () => {
    const w = await upWorld();
    expect(() => w.manager.setAdmin("nope", "10.0.0.21:80", "drain")).toThrow(
      /no virtual server named 'nope'/,
    );
    expect(() => w.manager.setAdmin("web", "10.0.0.99:80", "drain")).toThrow(/has no real server/);
  });

  it("keeps drain and disable across a restart, through the store", async () => {
    const config = () => [vs("web", [rs("10.0.0.21"), rs("10.0.0.22")])];
    const w = await upWorld(config);
    w.manager.setAdmin("web", "10.0.0.21:80", "drain");
    w.manager.setAdmin("web", "10.0.0.22:80", "disable");
    await w.manager.stop();
    expect(decodeHealth(w.store.text as string)).toMatchObject({
      admin: { [K1]: "drain", [K2]: "disabled" },
    });

    const recent = world(config(), { store: w.store, clock: new FakeClock(3, w.clock.wallNow() + 1000) });
    expect(await recent.manager.start()).toEqual(
      new Map([
        [K1, { up: true, weight: 0 }],
        [K2, { up: false, disabled: true }],
      ]),
    );
    // The admin state is a decision, not a measurement: restored however old the file is.
    const stale = world(config(), { store: w.store, clock: new FakeClock(3, w.clock.wallNow() + 3_600_000) });
    const map = await stale.manager.start();
    expect(map.get(K2)).toEqual({ up: false, disabled: true });
    await stale.clock.advance(1100);
    expect(stale.state(K1)).toBe("drain");
    expect(stale.manager.healthMap().get(K1)).toEqual({ up: true, weight: 0 });
  });

  it("keeps the drain of a server without checks across reloads and restarts", async () => {
    const config = () => [vs("web", [rs("10.0.0.21"), rs("10.0.0.30", [])])];
    const w = await upWorld(config);
    w.manager.setAdmin("web", "10.0.0.30:80", "drain");
    expect(w.healthOf("web/10.0.0.30:80")).toEqual([{ up: true, weight: 0 }]);
    expect(w.manager.reload(config(), HEALTH).get("web/10.0.0.30:80")).toEqual({ up: true, weight: 0 });
    await w.manager.stop();
    const after = world(config(), { store: w.store, clock: new FakeClock(3, w.clock.wallNow() + 1000) });
    expect((await after.manager.start()).get("web/10.0.0.30:80")).toEqual({ up: true, weight: 0 });
    // A server the config no longer has is forgotten.
    after.manager.reload([vs("web", [rs("10.0.0.21")])], HEALTH);
    await after.manager.stop();
    expect(decodeHealth(after.store.text as string)).toMatchObject({ admin: {} });
  });
});

describe("HealthManager: the guard and slow start", () => {
  it("max_down {count: 1}: only the first of three to fail goes; the others are held in", async () => {
    const maxDown: MaxDown = { count: 1 };
    const w = world([vs("web", [rs("10.0.0.21"), rs("10.0.0.22"), rs("10.0.0.23")], { maxDown })]);
    await w.manager.start();
    // Their first checks bring them up.
    await w.clock.advance(1100);
    expect([K1, K2, K3].map((k) => w.state(k))).toEqual(["up", "up", "up"]);
    const holds = w.manager.counters.guardHolds;
    w.events.length = 0;
    w.health.length = 0;

    // .22 fails first; the others a few seconds later.
    w.checks.set("10.0.0.22", DOWN_503);
    await w.clock.advance(3000);
    expect(w.state(K2)).toBe("down");
    w.checks.set("10.0.0.21", DOWN_503);
    w.checks.set("10.0.0.23", DOWN_503);
    await w.clock.advance(5000);
    expect([K1, K2, K3].map((k) => w.state(k))).toEqual(["guard", "down", "guard"]);
    expect(w.manager.counters.guardHolds - holds).toBe(2);
    expect(w.manager.healthMap()).toEqual(
      new Map([
        [K1, { up: true }],
        [K2, { up: false }],
        [K3, { up: true }],
      ]),
    );
    expect(w.events.map((e) => [e.event, "real_server" in e ? e.real_server : ""])).toEqual([
      ["real_server.down", "10.0.0.22:80"],
    ]);
    const status = await w.manager.status();
    expect(status.guardHolds).toBe(w.manager.counters.guardHolds);
    expect(status.realServers[0]).toMatchObject({ state: "guard", code: "guard" });
    expect(status.realServers[0]?.reason).toContain("status 503");
    // Stable: more time changes nothing.
    await w.clock.advance(10_000);
    expect([K1, K2, K3].map((k) => w.state(k))).toEqual(["guard", "down", "guard"]);
    expect(w.manager.counters.guardHolds - holds).toBe(2);

    // When the one that is out recovers, the earliest held failure may go in its place.
    w.checks.set("10.0.0.22", OK);
    await w.clock.advance(3000);
    expect(w.state(K2)).toBe("up");
    expect([K1, K3].map((k) => w.state(k)).sort()).toEqual(["down", "guard"]);
  });

  it("max_down holds no server that was never checked: at start they are out until checked", async () => {
    const w = world([
      vs("web", [rs("10.0.0.21"), rs("10.0.0.22"), rs("10.0.0.23")], { maxDown: { count: 1 } }),
    ]);
    const initial = await w.manager.start();
    expect([...initial.values()]).toEqual([{ up: false }, { up: false }, { up: false }]);
    expect([K1, K2, K3].map((k) => w.state(k))).toEqual(["down", "down", "down"]);
    expect(w.manager.counters.guardHolds).toBe(0);
  });

  it("slow start ramps a recovered server's weight from 1 to its weight", async () => {
    const w = world([
      vs("web", [rs("10.0.0.21", [http({ initial: "up" })], { weight: 10 })], { slowStartMs: 10_000 }),
    ]);
    // Up at start: no ramp for a server that starts up.
    expect(await w.manager.start()).toEqual(new Map([[K1, { up: true }]]));
    await w.clock.advance(1100);
    expect(w.state(K1)).toBe("up");
    expect(w.health).toEqual([]);

    w.checks.set("10.0.0.21", DOWN_503);
    await w.clock.advance(3000);
    expect(w.state(K1)).toBe("down");
    w.health.length = 0;
    w.checks.set("10.0.0.21", OK);
    await w.clock.advance(2500);
    expect(w.state(K1)).toBe("slow_start");
    expect(w.healthOf(K1)[0]).toEqual({ up: true, weight: 1 });
    await w.clock.advance(12_000);
    const weights = w.healthOf(K1).map((h) => {
      expect(h.up).toBe(true);
      return h.weight ?? 10;
    });
    expect(weights[0]).toBe(1);
    expect(weights.at(-1)).toBe(10);
    expect(w.healthOf(K1).at(-1)).toEqual({ up: true });
    expect(weights.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < weights.length; i++) expect(weights[i]).toBeGreaterThan(weights[i - 1] as number);
    expect(w.state(K1)).toBe("up");
    // Events: down, then up once (the ramp is not a transition).
    expect(kinds(w.events)).toEqual(["real_server.down", "real_server.up"]);
  });

  it("slow start leaves a server of weight 0 at 0", async () => {
    const w = world([vs("web", [rs("10.0.0.21", [http()], { weight: 0 })], { slowStartMs: 10_000 })]);
    await w.manager.start();
    await w.clock.advance(1100);
    expect(w.healthOf(K1)).toEqual([{ up: true }]);
  });
});

describe("HealthManager: agents", () => {
  const config = () => [vs("web", [rs("10.0.0.21", [http(), agentCheck()])])];

  it("agent drain → weight 0, state drain; ready → back", async () => {
    const w = world(config());
    let reply: FakeResult = { ...OK, reason: "agent: drain", agent: { admin: "drain" } };
    w.checks.set("10.0.0.21:9777", { ...OK }, 1);
    w.checks.byAddress.set("10.0.0.21:9777", { kind: "auto", delayMs: 1, result: () => reply });
    await w.manager.start();
    await w.clock.advance(1100);
    expect(w.state(K1)).toBe("drain");
    expect(w.manager.healthMap().get(K1)).toEqual({ up: true, weight: 0 });
    reply = { ...OK, agent: { admin: "ready" } };
    await w.clock.advance(1200);
    expect(w.state(K1)).toBe("up");
    expect(w.healthOf(K1).at(-1)).toEqual({ up: true });
  });

  it("agent weight:50% → half the configured weight", async () => {
    const w = world(config());
    w.checks.set("10.0.0.21:9777", { ...OK, agent: { weight: { percent: 50 } } });
    await w.manager.start();
    await w.clock.advance(1100);
    expect(w.manager.healthMap().get(K1)).toEqual({ up: true, weight: 5 });
    expect(w.state(K1)).toBe("up");
  });

  it("agent maint → out as if disabled; an unreachable agent changes nothing", async () => {
    const w = world(config());
    w.checks.set("10.0.0.21:9777", { ...OK, agent: { admin: "maint" } });
    await w.manager.start();
    await w.clock.advance(1100);
    expect(w.state(K1)).toBe("maint");
    expect(w.manager.healthMap().get(K1)).toEqual({ up: false, disabled: true });
    w.checks.set("10.0.0.21:9777", { ok: false, code: "refused", reason: "connection refused" });
    await w.clock.advance(5000);
    expect(w.state(K1)).toBe("maint");
  });
});

describe("HealthManager: exec dynamic weight", () => {
  it("uses the weight the exec check's exit code set, and follows it", async () => {
    const exec: ProbeCheckConfig = {
      ...http(),
      type: "exec",
      command: ["/usr/local/bin/weight"],
      dynamicWeight: true,
    };
    const w = world([vs("web", [rs("10.0.0.21", [exec])])]);
    w.checks.set("10.0.0.21", { ...OK, reason: "exec exit 5", weight: 3 });
    await w.manager.start();
    await w.clock.advance(1100);
    expect(w.manager.healthMap().get(K1)).toEqual({ up: true, weight: 3 });
    w.checks.set("10.0.0.21", { ...OK, reason: "exec exit 12", weight: 10 });
    await w.clock.advance(1100);
    // Weight 10 is the configured one: the plain form.
    expect(w.healthOf(K1)).toEqual([{ up: true, weight: 3 }, { up: true }]);
  });
});

describe("HealthManager: persistence", () => {
  it("writes within a second of a change, and every 5 s anyway", async () => {
    const w = world([vs("web", [rs("10.0.0.21")])]);
    await w.manager.start();
    await w.clock.advance(1100);
    expect(w.state(K1)).toBe("up");
    await w.clock.advance(1000);
    const written = decodeHealth(w.store.text as string);
    expect("error" in written).toBe(false);
    expect(Object.values((written as { probes: Record<string, { health: string }> }).probes)).toEqual([
      { health: "up", code: "ok", reason: "ok" },
    ]);
    // Nothing changes from here on: one write per 5 s, each with a fresh savedAt.
    const writes = w.store.writes;
    await w.clock.advance(20_000);
    expect(w.store.writes - writes).toBeGreaterThanOrEqual(3);
    expect(w.store.writes - writes).toBeLessThanOrEqual(5);
    expect((decodeHealth(w.store.text as string) as { savedAt: number }).savedAt).toBeGreaterThan(
      w.clock.wallNow() - 6000,
    );
  });
});

describe("HealthManager: status", () => {
  it("reports each server's state, reason and checks", async () => {
    const w = world([vs("web", [rs("10.0.0.21"), rs("10.0.0.22")], { onFailure: "inhibit" })]);
    w.checks.set("10.0.0.22", DOWN_503);
    await w.manager.start();
    await w.clock.advance(1100);
    const status = await w.manager.status();
    expect(status).toMatchObject({
      probes: 2,
      subscriptions: 2,
      dedupRatio: 1,
      worker: "running",
      guardHolds: 0,
    });
    expect(status.results.ok).toBeGreaterThanOrEqual(1);
    expect(status.results.status).toBeGreaterThanOrEqual(1);
    expect(status.realServers).toHaveLength(2);
    expect(status.realServers[0]).toMatchObject({
      virtualServer: "web",
      realServer: "10.0.0.21:80",
      state: "up",
      reason: "ok",
      weight: 10,
      configuredWeight: 10,
    });
    expect(status.realServers[0]?.checks).toEqual([
      expect.objectContaining({
        type: "http",
        health: "up",
        last: expect.objectContaining({ ok: true, code: "ok" }),
      }),
    ]);
    // Inhibited: in the table at weight 0.
    expect(status.realServers[1]).toMatchObject({
      state: "down",
      reason: "status 503",
      code: "status",
      weight: 0,
    });
    expect(status.realServers[1]?.checks[0]).toMatchObject({ health: "down", reason: "status 503" });
  });

  it("stop() persists and stops checking", async () => {
    const w = world([vs("web", [rs("10.0.0.21")])]);
    await w.manager.start();
    await w.clock.advance(1100);
    await w.manager.stop();
    const calls = w.checks.calls.length;
    const writes = w.store.writes;
    await w.clock.advance(10_000);
    expect(w.checks.calls.length).toBe(calls);
    expect(w.store.writes).toBe(writes);
    expect(w.clock.pendingTimers).toBe(0);
  });
});

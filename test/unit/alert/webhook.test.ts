import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Agent, type Dispatcher } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { EventFactory, serializeEvent, type VipdEvent, verifySignature } from "../../../src/alert/events.js";
import {
  Alerts,
  type SleepFn,
  WebhookSender,
  type WebhookSenderOptions,
} from "../../../src/alert/webhook.js";
import { deadUrl, gate, type Receiver, startReceiver } from "./receiver.js";

const T0 = Date.parse("2024-05-06T07:08:09.010Z");

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function captureLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines, warnings: (msg: string) => lines.filter((l) => l.level === 40 && l.msg === msg) };
}

/** A sleep that records what was asked and returns at once. */
function recordingSleep(): { sleep: SleepFn; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    sleep: (ms) => {
      calls.push(ms);
      return Promise.resolve();
    },
  };
}

/** Counts requests handed to undici, to show that send() itself does no I/O. */
class CountingAgent extends Agent {
  dispatches = 0;
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.dispatches += 1;
    return super.dispatch(options, handler);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function receiver(handler?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(handler);
  cleanups.push(() => r.close());
  return r;
}

function sender(options: WebhookSenderOptions): WebhookSender {
  const s = new WebhookSender({ logger: captureLogger().logger, now: () => T0, ...options });
  cleanups.push(() => s.close({ drainMs: 0 }));
  return s;
}

function events(n: number): VipdEvent[] {
  const f = new EventFactory({ node: "lb1", now: () => T0, bootId: "t" });
  return Array.from({ length: n }, (_, i) =>
    f.realServerDown({ virtual_server: "web", real_server: `10.0.0.${i + 1}:80`, reason: "HTTP 503" }),
  );
}

describe("WebhookSender delivery", () => {
  it("POSTs the serialized event with the documented headers and a verifiable signature", async () => {
    const r = await receiver();
    const s = sender({ url: r.url, secret: "hunter2" });
    const f = new EventFactory({ node: "lb1", now: () => T0, bootId: "t" });
    const ev = f.vrrpState({
      instance: "web",
      from: "BACKUP",
      to: "MASTER",
      reason: "master_down",
      priority: 150,
    });

    expect(s.send(ev)).toBe(true);
    await s.whenIdle();

    expect(r.received).toHaveLength(1);
    const got = r.received[0]!;
    expect(got.body).toBe(serializeEvent(ev));
    expect(JSON.parse(got.body)).toEqual(ev);
    expect(got.headers["content-type"]).toBe("application/json");
    expect(got.headers["user-agent"]).toMatch(/^vipd\/\d+\.\d+\.\d+/);
    expect(got.headers["x-vipd-event"]).toBe("vrrp.state");
    expect(got.headers["x-vipd-delivery"]).toBe("lb1:t:1");
    expect(got.headers["x-vipd-attempt"]).toBe("1");
    expect(verifySignature(got.body, got.headers["x-vipd-signature"], "hunter2")).toBe(true);
    expect(verifySignature(got.body, got.headers["x-vipd-signature"], "hunter3")).toBe(false);
    expect(s.stats()).toEqual({
      queued: 0,
      inFlight: 0,
      delivered: 1,
      failed: 0,
      dropped: 0,
      retries: 0,
      lastDeliveredAt: "2024-05-06T07:08:09.010Z",
    });
  });

  it("sends no signature header without a secret", async () => {
    const r = await receiver();
    const s = sender({ url: r.url });
    s.send(events(1)[0]!);
    await s.whenIdle();
    expect(r.received).toHaveLength(1);
    expect(r.received[0]!.headers["x-vipd-signature"]).toBeUndefined();
  });

  it("signs with the secret read from secret_file when built from config", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vipd-alert-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "webhook.secret");
    writeFileSync(path, "from-file\n");
    const r = await receiver();
    const alerts = Alerts.fromConfig([{ url: r.url, secret_file: path }], { logger: captureLogger().logger });
    cleanups.push(() => alerts.close({ drainMs: 0 }));
    alerts.emit(events(1)[0]!);
    await alerts.whenIdle();
    const got = r.received[0]!;
    expect(verifySignature(got.body, got.headers["x-vipd-signature"], "from-file")).toBe(true);
  });

  it("fails fast with the secret file's name when it cannot be read", () => {
    expect(() =>
      Alerts.fromConfig([{ url: "http://127.0.0.1:1/x", secret_file: "/nonexistent/vipd.secret" }]),
    ).toThrow(
      expect.objectContaining({
        code: "ALERT_SECRET_UNREADABLE",
        context: { path: "/nonexistent/vipd.secret" },
      }),
    );
  });

  it("respects the event filter", async () => {
    const r = await receiver();
    const s = sender({ url: r.url, events: ["real_server.down", "quorum.lost"] });
    const f = new EventFactory({ node: "lb1", now: () => T0, bootId: "t" });
    const sent = [
      s.send(f.vrrpState({ instance: "web", from: "BACKUP", to: "MASTER", reason: "x", priority: 1 })),
      s.send(f.realServerDown({ virtual_server: "web", real_server: "10.0.0.1:80" })),
      s.send(f.realServerUp({ virtual_server: "web", real_server: "10.0.0.1:80" })),
      s.send(f.quorumLost({ virtual_server: "web", weight: 0, quorum: 1 })),
      s.send(f.quorumGained({ virtual_server: "web", weight: 1, quorum: 1 })),
    ];
    expect(sent).toEqual([false, true, false, true, false]);
    await s.whenIdle();
    expect(r.received.map((x) => x.headers["x-vipd-event"])).toEqual(["real_server.down", "quorum.lost"]);
    expect(s.stats()).toMatchObject({ delivered: 2, dropped: 0, failed: 0 });
  });

  it("an empty filter sends nothing", async () => {
    const r = await receiver();
    const s = sender({ url: r.url, events: [] });
    expect(s.send(events(1)[0]!)).toBe(false);
    await s.whenIdle();
    expect(r.received).toHaveLength(0);
  });
});

describe("retries and order", () => {
  it("retries the head until delivered before sending anything after it: 1,1,1,2,3", async () => {
    const evs = events(3);
    let failuresLeft = 2;
    const r = await receiver((req) => {
      if (req.id === evs[0]!.id && failuresLeft > 0) {
        failuresLeft -= 1;
        return { status: 500 };
      }
      return { status: 200 };
    });
    const { sleep, calls } = recordingSleep();
    const s = sender({ url: r.url, sleep, random: () => 0.5 });
    for (const e of evs) s.send(e);
    await s.whenIdle();

    expect(r.received.map((x) => x.id)).toEqual([evs[0]!.id, evs[0]!.id, evs[0]!.id, evs[1]!.id, evs[2]!.id]);
    expect(r.received.map((x) => x.headers["x-vipd-attempt"])).toEqual(["1", "2", "3", "1", "1"]);
    // the same body (and so the same signature) on every attempt
    expect(new Set(r.received.slice(0, 3).map((x) => x.body)).size).toBe(1);
    // full jitter with random()=0.5: floor(0.5·(500+1)), floor(0.5·(1000+1))
    expect(calls).toEqual([250, 500]);
    expect(s.stats()).toMatchObject({
      delivered: 3,
      failed: 0,
      dropped: 0,
      retries: 2,
      lastError: "HTTP 500",
    });
  });

  it.each([400, 401, 403, 404, 410, 422])(
    "HTTP %i is permanent: not retried, counted failed, next event proceeds",
    async (status) => {
      const evs = events(2);
      const r = await receiver((req) => (req.id === evs[0]!.id ? { status } : { status: 200 }));
      const { sleep, calls } = recordingSleep();
      const { logger, warnings } = captureLogger();
      const s = sender({ url: r.url, sleep, logger });
      s.send(evs[0]!);
      s.send(evs[1]!);
      await s.whenIdle();
      expect(r.received.map((x) => x.id)).toEqual([evs[0]!.id, evs[1]!.id]);
      expect(calls).toEqual([]);
      expect(s.stats()).toMatchObject({
        delivered: 1,
        failed: 1,
        retries: 0,
        dropped: 0,
        lastError: `HTTP ${status}`,
      });
      expect(warnings("alert rejected by webhook; not retrying")).toHaveLength(1);
    },
  );

  it.each([408, 502, 503])("HTTP %i is retried", async (status) => {
    let first = true;
    const r = await receiver(() => {
      if (first) {
        first = false;
        return { status };
      }
      return { status: 204 };
    });
    const { sleep } = recordingSleep();
    const s = sender({ url: r.url, sleep });
    s.send(events(1)[0]!);
    await s.whenIdle();
    expect(r.received).toHaveLength(2);
    expect(s.stats()).toMatchObject({ delivered: 1, failed: 0, retries: 1 });
  });

  it("honours 429 Retry-After (seconds) instead of the backoff", async () => {
    let n = 0;
    const r = await receiver(() =>
      ++n === 1 ? { status: 429, headers: { "retry-after": "7" } } : { status: 200 },
    );
    const { sleep, calls } = recordingSleep();
    const s = sender({ url: r.url, sleep, random: () => 0 });
    s.send(events(1)[0]!);
    await s.whenIdle();
    expect(calls).toEqual([7000]);
    expect(s.stats()).toMatchObject({ delivered: 1, retries: 1 });
  });

  it("honours Retry-After as an HTTP-date against the injected clock", async () => {
    let n = 0;
    const at = new Date(T0 + 12_000).toUTCString();
    const r = await receiver(() =>
      ++n === 1 ? { status: 503, headers: { "retry-after": at } } : { status: 200 },
    );
    const { sleep, calls } = recordingSleep();
    const s = sender({ url: r.url, sleep, now: () => T0 - (T0 % 1000) });
    s.send(events(1)[0]!);
    await s.whenIdle();
    expect(calls).toEqual([12_000]);
  });

  it("caps Retry-After at maxRetryAfterMs", async () => {
    let n = 0;
    const r = await receiver(() =>
      ++n === 1 ? { status: 429, headers: { "retry-after": "3600" } } : { status: 200 },
    );
    const { sleep, calls } = recordingSleep();
    const s = sender({ url: r.url, sleep, maxRetryAfterMs: 10_000 });
    s.send(events(1)[0]!);
    await s.whenIdle();
    expect(calls).toEqual([10_000]);
  });

  it("aborts a request the receiver never answers after timeoutMs, and retries it", async () => {
    let n = 0;
    const r = await receiver(() => (++n === 1 ? "hang" : { status: 200 }));
    const { sleep } = recordingSleep();
    const s = sender({ url: r.url, sleep, timeoutMs: 100 });
    s.send(events(1)[0]!);
    await s.whenIdle();
    await r.waitForAborted(1); // the first request was cut by the client
    expect(r.received).toHaveLength(2);
    expect(r.received.map((x) => x.headers["x-vipd-attempt"])).toEqual(["1", "2"]);
    expect(s.stats()).toMatchObject({ delivered: 1, failed: 0, retries: 1 });
    expect(s.stats().lastError).toMatch(/timeout/i);
  });

  it("gives up after `retries` timeouts and counts it failed", async () => {
    const r = await receiver(() => "hang");
    const { sleep, calls } = recordingSleep();
    const s = sender({ url: r.url, sleep, timeoutMs: 100, retries: 2 });
    s.send(events(1)[0]!);
    await s.whenIdle();
    await r.waitForAborted(3);
    expect(r.received).toHaveLength(3);
    expect(calls).toHaveLength(2);
    expect(s.stats()).toMatchObject({ delivered: 0, failed: 1, retries: 2, dropped: 0 });
  });
});

describe("a dead receiver", () => {
  it("emit returns before any network activity; events are retried, then given up", async () => {
    const url = await deadUrl();
    const agent = new CountingAgent();
    cleanups.push(() => agent.destroy());
    const { sleep, calls } = recordingSleep();
    const alerts = Alerts.fromConfig([{ url, retries: 3 }], {
      dispatcher: agent,
      sleep,
      logger: captureLogger().logger,
    });
    cleanups.push(() => alerts.close({ drainMs: 0 }));

    const evs = events(5);
    for (const [i, e] of evs.entries()) {
      expect(alerts.emit(e)).toBeUndefined();
      // synchronous: queued, and nothing handed to the network yet
      expect(alerts.stats()[0]).toMatchObject({ queued: i + 1, inFlight: 0 });
      expect(agent.dispatches).toBe(0);
    }

    await alerts.whenIdle();
    expect(agent.dispatches).toBe(5 * 4);
    expect(calls).toHaveLength(5 * 3);
    const st = alerts.stats()[0]!;
    expect(st).toMatchObject({ queued: 0, inFlight: 0, delivered: 0, failed: 5, retries: 15, dropped: 0 });
    expect(st.lastError).toMatch(/ECONNREFUSED/);
  });

  it("does not delay another webhook: each has its own queue", async () => {
    const dead = await receiver(() => "hang");
    const live = await receiver();
    const alerts = Alerts.fromConfig(
      [
        { url: dead.url, name: "dead", timeoutMs: 60_000 },
        { url: live.url, name: "live" },
      ],
      { logger: captureLogger().logger },
    );
    cleanups.push(() => alerts.close({ drainMs: 0 }));
    const evs = events(3);
    for (const e of evs) alerts.emit(e);
    await live.waitFor(3);
    await alerts.senders[1]!.whenIdle();
    expect(live.received.map((x) => x.id)).toEqual(evs.map((e) => e.id));
    const [d, l] = alerts.stats();
    expect(l).toMatchObject({ name: "live", delivered: 3 });
    expect(d).toMatchObject({ name: "dead", delivered: 0, inFlight: 1, queued: 2 });

    await alerts.close({ drainMs: 0 });
    expect(alerts.stats()[0]).toMatchObject({ inFlight: 0, queued: 0, dropped: 3, failed: 0 });
  });
});

describe("bounded queue", () => {
  it("burst before the loop starts: keeps the newest queueSize events, drops the 7 oldest", async () => {
    const open = gate();
    const r = await receiver(async () => {
      await open.promise;
      return { status: 200 };
    });
    const s = sender({ url: r.url, queueSize: 3 });
    const evs = events(10);
    for (const e of evs) s.send(e);
    // nothing is in flight yet: the loop starts on a later microtask
    expect(s.stats()).toMatchObject({ queued: 3, inFlight: 0, dropped: 7 });

    await r.waitFor(1);
    expect(s.stats()).toMatchObject({ queued: 2, inFlight: 1, dropped: 7 });
    open.open();
    await s.whenIdle();
    expect(r.received.map((x) => x.id)).toEqual(evs.slice(7).map((e) => e.id));
    expect(s.stats()).toMatchObject({ delivered: 3, dropped: 7, failed: 0 });
  });

  it("the in-flight event is never dropped: 1 in flight + 3 newest kept, 6 dropped", async () => {
    const open = gate();
    const r = await receiver(async () => {
      await open.promise;
      return { status: 200 };
    });
    const s = sender({ url: r.url, queueSize: 3 });
    const evs = events(10);
    s.send(evs[0]!);
    await r.waitFor(1); // event 1 is on the wire, blocked
    for (const e of evs.slice(1)) s.send(e);
    expect(s.stats()).toMatchObject({ queued: 3, inFlight: 1, dropped: 6 });

    open.open();
    await s.whenIdle();
    expect(r.received.map((x) => x.id)).toEqual([evs[0]!, ...evs.slice(7)].map((e) => e.id));
    expect(s.stats()).toMatchObject({ delivered: 4, dropped: 6, queued: 0, inFlight: 0 });
  });

  it("rate-limits the drop warning: the first drop at once, then one summary per interval", async () => {
    const open = gate();
    const r = await receiver(async () => {
      await open.promise;
      return { status: 200 };
    });
    const { logger, warnings } = captureLogger();
    let now = T0;
    const s = sender({ url: r.url, queueSize: 1, logger, now: () => now, dropLogIntervalMs: 10_000 });
    const evs = events(1000);
    s.send(evs[0]!);
    await r.waitFor(1);
    for (const e of evs.slice(1, 500)) s.send(e); // 498 drops
    expect(warnings("alert events dropped").map((l) => l.dropped)).toEqual([1]);

    now += 10_000;
    for (const e of evs.slice(500)) s.send(e); // 500 more drops
    const lines = warnings("alert events dropped");
    expect(lines.map((l) => l.dropped)).toEqual([1, 498]);
    expect(lines[1]).toMatchObject({ droppedTotal: 499, byReason: { queue_full: 498 } });
    expect(s.stats().dropped).toBe(998);

    open.open();
    await s.close({ drainMs: 10_000 });
    // the rest is summarised when the sender closes
    expect(warnings("alert events dropped").map((l) => l.dropped)).toEqual([1, 498, 499]);
    expect(r.received.map((x) => x.id)).toEqual([evs[0]!.id, evs[999]!.id]);
  });
});

describe("close", () => {
  it("drains what is queued, then returns; later sends are ignored and counted dropped", async () => {
    const r = await receiver();
    const s = sender({ url: r.url });
    const evs = events(4);
    for (const e of evs.slice(0, 3)) s.send(e);
    await s.close({ drainMs: 10_000 });
    expect(r.received.map((x) => x.id)).toEqual(evs.slice(0, 3).map((e) => e.id));
    expect(s.stats()).toMatchObject({ delivered: 3, queued: 0, inFlight: 0, dropped: 0 });

    expect(s.send(evs[3]!)).toBe(false);
    expect(s.stats()).toMatchObject({ delivered: 3, queued: 0, dropped: 1 });
    await s.whenIdle();
    expect(r.received).toHaveLength(3);
    // idempotent
    await s.close();
  });

  it("after drainMs, aborts the in-flight request and drops the rest", async () => {
    const r = await receiver(() => "hang");
    const s = sender({ url: r.url, timeoutMs: 60_000 });
    for (const e of events(3)) s.send(e);
    await r.waitFor(1);
    await s.close({ drainMs: 20 });
    await r.waitForAborted(1);
    expect(r.received).toHaveLength(1);
    expect(s.stats()).toMatchObject({
      queued: 0,
      inFlight: 0,
      delivered: 0,
      failed: 0,
      dropped: 3,
      retries: 0,
    });
  });

  it("interrupts a backoff wait (real timers) instead of sleeping it out", async () => {
    const r = await receiver(() => ({ status: 500 }));
    const sleeping = gate();
    const logger = pino(
      { level: "debug" },
      {
        write: (line: string) => {
          if ((JSON.parse(line) as LogLine).msg === "alert delivery failed; retrying") sleeping.open();
        },
      },
    );
    const s = sender({
      url: r.url,
      logger,
      backoff: { baseMs: 3_600_000, maxMs: 3_600_000, jitter: false },
      retries: 5,
    });
    s.send(events(1)[0]!);
    await sleeping.promise; // the sender is now in its hour-long backoff wait
    await s.close({ drainMs: 0 });
    expect(r.received).toHaveLength(1);
    expect(s.stats()).toMatchObject({
      dropped: 1,
      retries: 0,
      failed: 0,
      inFlight: 0,
      lastError: "HTTP 500",
    });
  });

  it("leaves no sockets or timers behind (idle keep-alive and aborted in-flight alike)", async () => {
    let n = 0;
    const r = await receiver(() => (++n === 1 ? { status: 200 } : "hang"));
    await settleSockets(); // earlier tests' sockets finish closing
    const before = countHandles();
    expect(before.TCPSocketWrap).toBeUndefined();
    const s = new WebhookSender({ url: r.url, timeoutMs: 60_000, logger: captureLogger().logger });
    for (const e of events(3)) s.send(e);
    await r.waitFor(2); // event 1 delivered over a keep-alive socket, event 2 hangs on it
    expect(countHandles().TCPSocketWrap).toBeGreaterThan(0);
    await s.close({ drainMs: 0 });
    expect(s.stats()).toMatchObject({ delivered: 1, dropped: 2 });
    await settleSockets();
    const after = countHandles();
    expect(after.TCPSocketWrap).toBeUndefined();
    expect(after.Timeout ?? 0).toBeLessThanOrEqual(before.Timeout ?? 0);
  });
});

function countHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of process.getActiveResourcesInfo()) {
    if (k === "Immediate") continue;
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

/** Lets socket teardown (both ends) finish: a bounded number of event-loop turns, no wall-clock wait. */
async function settleSockets(): Promise<void> {
  for (let i = 0; i < 100 && countHandles().TCPSocketWrap !== undefined; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

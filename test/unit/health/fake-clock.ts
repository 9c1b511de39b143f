/**
 * A fake clock for the health scheduler and manager tests, and fake checkers driven by it.
 *
 * - `now()` is monotonic fake ms (starts at 0); `wallNow()` is a wall clock at `wallBase + now()`.
 * - `setTimer` / `clearTimer` keep timers in a list; `advance(ms)` fires every timer due within
 *   the window in due order (ties in the order they were set), including timers set by earlier
 *   callbacks, and lets promise callbacks run after each timer (so a checker that resolves
 *   inside a timer is seen by the scheduler before the next timer fires).
 * - `random()` is a seeded PRNG (mulberry32); values pushed with `queueRandom` come first.
 *
 * Every method is an arrow property: the code under test passes `clock.random` unbound.
 */
import type { ProbeDef } from "../../../src/health/probes.js";
import type { RunCheck } from "../../../src/health/scheduler.js";
import type { CheckResult } from "../../../src/health/types.js";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** Lets every pending promise callback run (a macrotask turn, not a wall-clock wait). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class FakeClock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();
  private state: number;
  private readonly randomQueue: number[] = [];

  constructor(
    seed = 1,
    readonly wallBase = 1_700_000_000_000,
  ) {
    this.state = seed >>> 0;
  }

  now = (): number => this.t;

  wallNow = (): number => this.wallBase + this.t;

  setTimer = (fn: () => void, ms: number): unknown => {
    const seq = ++this.seq;
    this.timers.set(seq, { at: this.t + Math.max(0, ms), seq, fn });
    return seq;
  };

  clearTimer = (handle: unknown): void => {
    this.timers.delete(handle as number);
  };

  random = (): number => {
    const queued = this.randomQueue.shift();
    if (queued !== undefined) return queued;
    // mulberry32
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };

  /** The next random() calls return these, in order, before the PRNG resumes. */
  queueRandom(...values: number[]): void {
    this.randomQueue.push(...values);
  }

  /** Timers armed and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.at > end) continue;
        if (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))
          next = timer;
      }
      if (next === undefined) break;
      this.timers.delete(next.seq);
      this.t = next.at;
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }

  /** Advances to an absolute time (never backwards). */
  advanceTo(at: number): Promise<void> {
    return this.advance(Math.max(0, at - this.t));
  }
}

export type FakeResult = Pick<CheckResult, "ok" | "code" | "reason"> &
  Partial<Pick<CheckResult, "weight" | "agent">>;

export const OK: FakeResult = { ok: true, code: "ok", reason: "ok" };

/** What a fake check does: answer after `delayMs` of fake time, or wait to be answered by hand. */
export type Behaviour =
  | { kind: "auto"; delayMs: number; result: FakeResult | (() => FakeResult) }
  | { kind: "manual" }
  | { kind: "throw"; error: unknown }
  | { kind: "reject"; error: unknown };

export interface FakeCall {
  probe: ProbeDef;
  id: string;
  start: number;
  end?: number;
  signal: AbortSignal;
  result?: CheckResult;
  /** Resolves a manual check (ignored once it has resolved). */
  answer(result: FakeResult): void;
}

/**
 * Fake checkers: every call is recorded; the behaviour is chosen per probe id, then per target
 * endpoint, then per target address, then the default. Every fake observes its AbortSignal and resolves at once with
 * `timeout` when it fires, as the checker contract says.
 */
export class FakeChecks {
  readonly calls: FakeCall[] = [];
  readonly byId = new Map<string, Behaviour>();
  /** By "address:port" of the target (an agent on its own port, say), or by address alone. */
  readonly byAddress = new Map<string, Behaviour>();
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    private readonly clock: FakeClock,
    public defaultBehaviour: Behaviour = { kind: "auto", delayMs: 1, result: OK },
  ) {}

  /** Results for a target "address" or "address:port" (checks answer after `delayMs`). */
  set(address: string, result: FakeResult, delayMs = 1): void {
    this.byAddress.set(address, { kind: "auto", delayMs, result });
  }

  callsOf(id: string): FakeCall[] {
    return this.calls.filter((c) => c.id === id);
  }

  running(): FakeCall[] {
    return this.calls.filter((c) => c.end === undefined);
  }

  run: RunCheck = (probe, signal) => {
    const behaviour =
      this.byId.get(probe.id) ??
      this.byAddress.get(`${probe.target.address}:${probe.target.port}`) ??
      this.byAddress.get(probe.target.address) ??
      this.defaultBehaviour;
    if (behaviour.kind === "throw") throw behaviour.error;
    if (behaviour.kind === "reject") return Promise.reject(behaviour.error);
    const start = this.clock.now();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<CheckResult>((resolve) => {
      let timer: unknown;
      const call: FakeCall = {
        probe,
        id: probe.id,
        start,
        signal,
        answer: (r) => {
          if (call.end !== undefined) return;
          if (timer !== undefined) this.clock.clearTimer(timer);
          call.end = this.clock.now();
          this.inFlight--;
          call.result = { ...r, durationMs: call.end - start };
          resolve(call.result);
        },
      };
      this.calls.push(call);
      signal.addEventListener("abort", () => call.answer({ ok: false, code: "timeout", reason: "timeout" }), {
        once: true,
      });
      if (behaviour.kind === "auto") {
        const result = behaviour.result;
        timer = this.clock.setTimer(
          () => call.answer(typeof result === "function" ? result() : result),
          behaviour.delayMs,
        );
      }
    });
  };
}

/**
 * The VRRP worker's heartbeat watchdog, as data [pure]: the main thread's heartbeats in, a
 * decision out. The worker (worker.ts) feeds it the clock and runs what it decides: demote every
 * instance while the main thread is silent for longer than `heartbeat_timeout`, and lift the
 * demotion at the next heartbeat.
 */
export type WatchdogDecision =
  | { type: "demote"; reason: string; ageMs: number }
  | { type: "clear"; reason: string }
  | null;

export class HeartbeatWatchdog {
  private lastBeat: number;
  private demotedFor: string | null = null;

  constructor(
    private timeoutMs: number,
    now: number,
  ) {
    this.lastBeat = now;
  }

  /** How often to call {@link check}: a tenth of the timeout, within 10..100 ms. */
  static checkIntervalMs(timeoutMs: number): number {
    return Math.min(100, Math.max(10, Math.floor(timeoutMs / 10)));
  }

  get demoted(): string | null {
    return this.demotedFor;
  }

  ageMs(now: number): number {
    return now - this.lastBeat;
  }

  setTimeout(timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
  }

  /** A heartbeat arrived; clears a demotion. */
  beat(now: number): WatchdogDecision {
    this.lastBeat = now;
    if (this.demotedFor === null) return null;
    const reason = this.demotedFor;
    this.demotedFor = null;
    return { type: "clear", reason };
  }

  /** Demotes once the last heartbeat is older than the timeout (once, until the next beat). */
  check(now: number): WatchdogDecision {
    if (this.demotedFor !== null) return null;
    const age = now - this.lastBeat;
    if (age <= this.timeoutMs) return null;
    const reason = `main thread unresponsive: no heartbeat for ${Math.round(age)} ms (heartbeat_timeout ${this.timeoutMs} ms)`;
    this.demotedFor = reason;
    return { type: "demote", reason, ageMs: age };
  }
}

/** The clock and interval timer the monitor runs on (the worker's real ones; a fake in tests). */
export interface WatchdogTimers {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/**
 * The watchdog wired to a timer: checks every {@link HeartbeatWatchdog.checkIntervalMs} and
 * hands each decision (demote, clear) to `onDecision`, so a demotion comes at most one check
 * interval after the heartbeat timeout.
 */
export class HeartbeatMonitor {
  private readonly watchdog: HeartbeatWatchdog;
  private handle: unknown;

  constructor(
    private readonly timers: WatchdogTimers,
    private readonly onDecision: (decision: NonNullable<WatchdogDecision>) => void,
  ) {
    this.watchdog = new HeartbeatWatchdog(2000, timers.now());
  }

  get demoted(): string | null {
    return this.watchdog.demoted;
  }

  ageMs(): number {
    return this.watchdog.ageMs(this.timers.now());
  }

  /** (Re)arms with `timeoutMs`; the clock of the last heartbeat is kept. */
  arm(timeoutMs: number): void {
    this.disarm();
    this.watchdog.setTimeout(timeoutMs);
    this.handle = this.timers.setInterval(() => {
      const decision = this.watchdog.check(this.timers.now());
      if (decision !== null) this.onDecision(decision);
    }, HeartbeatWatchdog.checkIntervalMs(timeoutMs));
  }

  disarm(): void {
    if (this.handle !== undefined) this.timers.clearInterval(this.handle);
    this.handle = undefined;
  }

  beat(): void {
    const decision = this.watchdog.beat(this.timers.now());
    if (decision !== null) this.onDecision(decision);
  }
}

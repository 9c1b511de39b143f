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

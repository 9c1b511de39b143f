/**
 * Shared by the keepalived interop tests: polling for an outcome, and what each daemon reported
 * as invalid (keepalived's log lines, vipd's drop counters).
 */
import { expect } from "vitest";
import type { VrrpDaemon } from "./directors.js";
import { Keepalived } from "./keepalived.js";
import { Vipd } from "./vipd.js";

/** Polls until `fn` resolves to `want` (the VIP moves in a netlink round trip after the log line). */
export async function eventually<T>(fn: () => Promise<T>, want: T, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await fn();
  while (JSON.stringify(last) !== JSON.stringify(want) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    last = await fn();
  }
  return last;
}

/** What `d` reported as invalid: keepalived's invalid-packet log lines, or vipd's drops. */
export function invalidPackets(d: VrrpDaemon): object {
  if (d instanceof Keepalived)
    return { host: d.host, kind: d.kind, keepalivedInvalidLines: d.invalidPacketLines() };
  if (d instanceof Vipd) return { host: d.host, kind: d.kind, vipdDrops: d.drops() };
  return { host: d.host, kind: d.kind };
}

export function expectNoInvalidPackets(...daemons: VrrpDaemon[]): void {
  for (const d of daemons) {
    const want = d instanceof Keepalived ? { keepalivedInvalidLines: [] } : { vipdDrops: {} };
    expect(invalidPackets(d)).toEqual({ host: d.host, kind: d.kind, ...want });
  }
}

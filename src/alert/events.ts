import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

/**
 * Alert event payloads [pure].
 *
 * Every event vipd reports to webhooks is one member of the `VipdEvent` union,
 * discriminated by `event`. All of them carry:
 * - `id`: unique per event, `<node>:<boot>:<seq>` (seq is monotonic per factory, boot is
 *   fixed per factory so ids stay unique across restarts). A webhook that is retried is
 *   sent with the same id (also in the `x-vipd-delivery` header), so receivers dedupe on it.
 * - `event`: the type name, `node`: the director that saw it, `timestamp`: ISO-8601 UTC.
 *
 * The body of a webhook is `serializeEvent(e)`: JSON with keys sorted at every level and
 * undefined fields left out, so the same event always gives the same bytes.
 *
 * Signatures (for receivers): `X-Vipd-Signature: sha256=<hex>` where hex is
 * HMAC-SHA256(secret, raw request body). Verify over the raw bytes as received (before any
 * JSON parsing), compare in constant time (`verifySignature` does both), then dedupe by `id`.
 */

export const EVENT_TYPES = [
  "vrrp.state",
  "real_server.down",
  "real_server.up",
  "real_server.admin",
  "quorum.lost",
  "quorum.gained",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: unknown): value is EventType {
  return typeof value === "string" && (EVENT_TYPES as readonly string[]).includes(value);
}

interface EventBase<T extends EventType> {
  id: string;
  event: T;
  node: string;
  /** ISO-8601, UTC (`Date.prototype.toISOString`). */
  timestamp: string;
}

/** A VRRP instance changed state. `from`/`to` are the state names the VRRP module uses (e.g. BACKUP, MASTER). */
export interface VrrpStateEvent extends EventBase<"vrrp.state"> {
  instance: string;
  from: string;
  to: string;
  reason: string;
  priority: number;
}

interface RealServerFields {
  virtual_server: string;
  /** "addr:port"; IPv6 as "[addr]:port". */
  real_server: string;
  /** Human-readable: "status 503", "tls: unknown CA", "agent: drain", "disabled by operator". */
  reason?: string;
  /** The stable result code behind the reason (src/health/types.ts ResultCode, or admin / guard). */
  code?: string;
}

export interface RealServerDownEvent extends EventBase<"real_server.down">, RealServerFields {}
export interface RealServerUpEvent extends EventBase<"real_server.up">, RealServerFields {}
/** The operator drained, disabled or enabled a real server (`vipd server ...`). */
export interface RealServerAdminEvent extends EventBase<"real_server.admin"> {
  virtual_server: string;
  real_server: string;
  action: "drain" | "disable" | "enable";
}

interface QuorumFields {
  virtual_server: string;
  /** Sum of the weights of the healthy real servers. */
  weight: number;
  /** The configured quorum weight. */
  quorum: number;
}

export interface QuorumLostEvent extends EventBase<"quorum.lost">, QuorumFields {}
export interface QuorumGainedEvent extends EventBase<"quorum.gained">, QuorumFields {}

export type VipdEvent =
  | VrrpStateEvent
  | RealServerDownEvent
  | RealServerUpEvent
  | RealServerAdminEvent
  | QuorumLostEvent
  | QuorumGainedEvent;

export type EventOf<T extends EventType> = Extract<VipdEvent, { event: T }>;

/** The fields a caller supplies; the factory fills in id, event, node and timestamp. */
export type EventFields<T extends EventType> = Omit<EventOf<T>, "id" | "event" | "node" | "timestamp">;

export interface EventFactoryOptions {
  node: string;
  /** Milliseconds since the epoch; default Date.now. */
  now?: () => number;
  /** Distinguishes this factory's ids from those of an earlier run (or another thread); default random. */
  bootId?: string;
}

/** Builds events for one node: stamps id (node + boot + monotonic sequence), node and timestamp. */
export class EventFactory {
  readonly node: string;
  readonly bootId: string;
  private readonly now: () => number;
  private seq = 0;

  constructor(options: EventFactoryOptions) {
    this.node = options.node;
    this.now = options.now ?? Date.now;
    this.bootId = options.bootId ?? randomUUID().slice(0, 8);
  }

  make<T extends EventType>(type: T, fields: EventFields<T>): EventOf<T> {
    this.seq += 1;
    return {
      ...fields,
      id: `${this.node}:${this.bootId}:${this.seq}`,
      event: type,
      node: this.node,
      timestamp: new Date(this.now()).toISOString(),
    } as EventOf<T>;
  }

  vrrpState(fields: EventFields<"vrrp.state">): VrrpStateEvent {
    return this.make("vrrp.state", fields);
  }

  realServerDown(fields: EventFields<"real_server.down">): RealServerDownEvent {
    return this.make("real_server.down", fields);
  }

  realServerUp(fields: EventFields<"real_server.up">): RealServerUpEvent {
    return this.make("real_server.up", fields);
  }

  realServerAdmin(fields: EventFields<"real_server.admin">): RealServerAdminEvent {
    return this.make("real_server.admin", fields);
  }

  quorumLost(fields: EventFields<"quorum.lost">): QuorumLostEvent {
    return this.make("quorum.lost", fields);
  }

  quorumGained(fields: EventFields<"quorum.gained">): QuorumGainedEvent {
    return this.make("quorum.gained", fields);
  }
}

/**
 * JSON with object keys sorted (code-unit order) at every level and `undefined` members
 * omitted, as JSON.stringify does. Same value → same string, whatever the insertion order.
 */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** The webhook body for an event. */
export function serializeEvent(event: VipdEvent): string {
  return stableStringify(event);
}

export const SIGNATURE_HEADER = "X-Vipd-Signature";
const SIGNATURE_PREFIX = "sha256=";

/** `sha256=<hex>` HMAC-SHA256 of the body under the secret. */
export function signBody(body: string | Uint8Array, secret: string): string {
  return SIGNATURE_PREFIX + createHmac("sha256", secret).update(body).digest("hex");
}

/**
 * True when `header` is the valid `sha256=<hex>` signature of `body` under `secret`.
 * Constant-time in the digest comparison; false (never throws) for a missing or malformed header.
 */
export function verifySignature(
  body: string | Uint8Array,
  header: string | readonly string[] | undefined | null,
  secret: string,
): boolean {
  if (typeof header !== "string") return false;
  const value = header.trim();
  if (!value.toLowerCase().startsWith(SIGNATURE_PREFIX)) return false;
  const hex = value.slice(SIGNATURE_PREFIX.length);
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false;
  const given = Buffer.from(hex, "hex");
  const expected = createHmac("sha256", secret).update(body).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Fakes for the VRRP driver's unit tests: a manual clock with one-shot timers, an InstanceIo
 * that records what the driver asked for, packet builders, and a pino logger that captures lines.
 */
import { Writable } from "node:stream";
import { pino } from "pino";
import type { IpPrefix, VrrpInstanceConfig } from "../../../src/config/types.js";
import type { Logger } from "../../../src/log.js";
import type { ReceivedPacket } from "../../../src/sys/vrrp-socket.js";
import type { Clock, InstanceIo } from "../../../src/vrrp/instance.js";
import {
  encodeAdvert,
  ipToBytes,
  VRRP_MCAST_V4,
  VRRP_MCAST_V6,
  type VrrpAdvert,
} from "../../../src/vrrp/packet.js";

export class FakeClock implements Clock {
  t = 1000;
  private seq = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  /** Most timers armed at the same time, ever. */
  maxArmed = 0;

  now(): number {
    return this.t;
  }

  setTimer(delayMs: number, fn: () => void): number {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + delayMs, fn });
    this.maxArmed = Math.max(this.maxArmed, this.timers.size);
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** The earliest armed deadline, or null. */
  next(): number | null {
    let best: number | null = null;
    for (const t of this.timers.values()) if (best === null || t.at < best) best = t.at;
    return best;
  }

  /** Moves time forward by `ms`, firing due timers in deadline order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!due || e[1].at < due[1].at)) due = e;
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
  }
}

export interface SentAdvert {
  at: number;
  advert: VrrpAdvert;
  source: string;
}

export class FakeIo implements InstanceIo {
  readonly sent: SentAdvert[] = [];
  /** What happened, in order: "add 10.0.0.100/24", "del …", "announce 10.0.0.100/24 x5". */
  readonly ops: string[] = [];
  readonly vips = new Set<string>();
  failSend = false;

  constructor(
    private readonly clock: FakeClock,
    present: string[] = [],
  ) {
    for (const p of present) this.vips.add(p);
  }

  sendAdvert(advert: VrrpAdvert, source: string): void {
    if (this.failSend) throw new Error("sendmsg ENETDOWN: Network is down");
    this.sent.push({ at: this.clock.now(), advert, source });
  }

  async addVips(vips: readonly IpPrefix[]): Promise<void> {
    for (const v of vips) {
      const c = `${v.address}/${v.prefixLength}`;
      this.vips.add(c);
      this.ops.push(`add ${c}`);
    }
  }

  async delVips(vips: readonly IpPrefix[]): Promise<IpPrefix[]> {
    const removed: IpPrefix[] = [];
    for (const v of vips) {
      const c = `${v.address}/${v.prefixLength}`;
      if (this.vips.delete(c)) {
        removed.push(v);
        this.ops.push(`del ${c}`);
      }
    }
    return removed;
  }

  announce(vips: readonly IpPrefix[], count: number): void {
    this.ops.push(`announce ${vips.map((v) => `${v.address}/${v.prefixLength}`).join(",")} x${count}`);
  }

  priorities(): number[] {
    return this.sent.map((s) => s.advert.priority);
  }
}

export function prefix(cidr: string): IpPrefix {
  const [address = "", len = "32"] = cidr.split("/");
  return { address, prefixLength: Number(len), family: address.includes(":") ? 6 : 4 };
}

export function instanceConfig(over: Partial<VrrpInstanceConfig> = {}): VrrpInstanceConfig {
  return {
    name: "web",
    interface: "eth0",
    vrid: 51,
    priority: 100,
    version: 3,
    family: 4,
    advertIntervalMs: 100,
    preempt: true,
    preemptDelayMs: 0,
    virtualIps: [prefix("10.0.0.100/24")],
    unicastPeers: [],
    trackInterfaces: [],
    trackScripts: [],
    trackFiles: [],
    garp: { repeat: 5, delayMs: 5000, refreshMs: 0 },
    checksumMode: "pseudo",
    unicastTtl: { send: 255 },
    ...over,
  };
}

/** A raw IPv4 packet (20-byte header) carrying `payload`, as a raw socket returns it. */
export function ipv4Packet(src: string, dst: string, ttl: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = ttl;
  h[9] = 112;
  ipToBytes(src, "inet").copy(h, 12);
  ipToBytes(dst, "inet").copy(h, 16);
  return Buffer.concat([h, payload]);
}

export interface AdvertOptions {
  priority?: number;
  vrid?: number;
  intervalCs?: number;
  src?: string;
  ttl?: number;
  addresses?: string[];
}

/** A valid v3 IPv4 advert packet from `src` (default 10.0.0.9), then optionally mangled by the caller. */
export function v4Advert(o: AdvertOptions = {}): { packet: Buffer; payload: Buffer; src: string } {
  const src = o.src ?? "10.0.0.9";
  const payload = encodeAdvert(
    {
      version: 3,
      vrid: o.vrid ?? 51,
      priority: o.priority ?? 100,
      maxAdvertIntervalCs: o.intervalCs ?? 10,
      addresses: o.addresses ?? ["10.0.0.100"],
    },
    { family: "inet", src, dst: VRRP_MCAST_V4 },
  );
  return { packet: ipv4Packet(src, VRRP_MCAST_V4, o.ttl ?? 255, payload), payload, src };
}

export function rx4(packet: Buffer): ReceivedPacket {
  return { family: "inet", packet };
}

export function rx6(o: AdvertOptions & { hopLimit?: number } = {}): ReceivedPacket {
  const src = o.src ?? "fe80::9";
  const payload = encodeAdvert(
    {
      version: 3,
      vrid: o.vrid ?? 51,
      priority: o.priority ?? 100,
      maxAdvertIntervalCs: o.intervalCs ?? 10,
      addresses: o.addresses ?? ["2001:db8::100"],
    },
    { family: "inet6", src, dst: VRRP_MCAST_V6 },
  );
  return { family: "inet6", payload, hopLimit: o.hopLimit ?? 255, src, dst: VRRP_MCAST_V6 };
}

/** A pino logger whose JSON lines end up in `lines`. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n"))
        if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: "debug" }, stream), lines };
}

/** Lets queued promise work (VIP changes, announcements) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

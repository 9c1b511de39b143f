/**
 * Crafting and sending VRRP adverts, well-formed or not, from a lab namespace: a raw IPv4 socket
 * (protocol 112) opened inside the namespace (the test process stays where it is), sending to
 * 224.0.0.18 out of one interface with a chosen TTL.
 *
 *   const inj = Injector.open(lab.nsPath("x"), "eth0");
 *   inj.send(malformedAdvert("bad_checksum", base), { ttl: 255 });
 *   inj.close();
 */
import { VipdError } from "../../../src/errors.js";
import { acceptIfAnyOf, encodeBpf, loadWord } from "../../../src/sys/bpf.js";
import { IP_ADD_MEMBERSHIP, IP_MULTICAST_TTL, SOL_IP } from "../../../src/sys/constants.js";
import { ifNameToIndex, type NativeVipdSocket, openSocket, packIpMreqn } from "../../../src/sys/socket.js";
import {
  encodeAdvert,
  ipToBytes,
  parseIpv4Header,
  VRRP_MCAST_V4,
  VRRP_PROTOCOL,
  VRRP_TTL,
  type VrrpAdvert,
  vrrpChecksum,
} from "../../../src/vrrp/packet.js";
import { nowMs } from "./lines.js";

export interface AdvertBase {
  version: 2 | 3;
  vrid: number;
  priority: number;
  /** The instance's advert interval in milliseconds (v2: whole seconds). */
  advertIntervalMs: number;
  addresses: string[];
  /** Source address of the injecting host (for the v3 IPv4 pseudo-header checksum). */
  src: string;
}

/** A well-formed advert for `base`, as a peer would send it. */
export function validAdvert(base: AdvertBase, overrides: Partial<AdvertBase> = {}): Buffer {
  const b = { ...base, ...overrides };
  const advert: VrrpAdvert =
    b.version === 2
      ? {
          version: 2,
          vrid: b.vrid,
          priority: b.priority,
          advertIntervalS: b.advertIntervalMs / 1000,
          addresses: b.addresses,
        }
      : {
          version: 3,
          vrid: b.vrid,
          priority: b.priority,
          maxAdvertIntervalCs: b.advertIntervalMs / 10,
          addresses: b.addresses,
        };
  return encodeAdvert(advert, { family: "inet", src: b.src, dst: VRRP_MCAST_V4 });
}

/** The kinds of bad adverts lab requirement 6 injects, with the drop reason vipd must count. */
export const MALFORMED_KINDS = {
  bad_checksum: "checksum",
  ttl_64: "ttl",
  wrong_version: "version",
  truncated: "length",
  wrong_vrid: "vrid",
  higher_priority_bad_checksum: "checksum",
} as const;

export type MalformedKind = keyof typeof MALFORMED_KINDS;

export interface Injection {
  kind: MalformedKind;
  payload: Buffer;
  ttl: number;
}

/** Flips bits of the checksum field so that it matches neither checksum form. */
function breakChecksum(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  out.writeUInt16BE(out.readUInt16BE(6) ^ 0x5a5a, 6);
  return out;
}

/**
 * One bad advert of `kind`, built from a well-formed advert for the instance under attack
 * (`base`: its VRID, version and interval, and a priority that would matter if accepted).
 */
export function malformedAdvert(kind: MalformedKind, base: AdvertBase): Injection {
  const good = validAdvert(base);
  switch (kind) {
    case "bad_checksum":
      return { kind, payload: breakChecksum(good), ttl: VRRP_TTL };
    case "ttl_64":
      return { kind, payload: good, ttl: 64 };
    case "wrong_version": {
      // Version 4 in the high nibble, checksum recomputed so that only the version is wrong.
      const out = Buffer.from(good);
      out[0] = (4 << 4) | (out[0]! & 0x0f);
      const mode = base.version === 2 ? "message" : "pseudo";
      out.writeUInt16BE(vrrpChecksum(out, "inet", mode, base.src, VRRP_MCAST_V4), 6);
      return { kind, payload: out, ttl: VRRP_TTL };
    }
    case "truncated":
      return { kind, payload: good.subarray(0, 6), ttl: VRRP_TTL };
    case "wrong_vrid":
      return {
        kind,
        payload: validAdvert(base, { vrid: base.vrid === 255 ? 254 : base.vrid + 1 }),
        ttl: VRRP_TTL,
      };
    case "higher_priority_bad_checksum":
      return { kind, payload: breakChecksum(validAdvert(base, { priority: 254 })), ttl: VRRP_TTL };
  }
}

export class Injector {
  private readonly sock: NativeVipdSocket;

  private constructor(sock: NativeVipdSocket) {
    this.sock = sock;
  }

  /** A raw VRRP socket in the namespace at `netnsPath` (e.g. lab.nsPath("x")), sending out of `ifname`. */
  static open(netnsPath: string, ifname: string): Injector {
    const sock = openSocket({ family: "inet", protocol: VRRP_PROTOCOL, netns: netnsPath });
    try {
      sock.bindToDevice(ifname);
      sock.unref();
    } catch (err) {
      sock.close();
      throw err;
    }
    return new Injector(sock);
  }

  /** Sends one VRRP message (the kernel adds the IPv4 header) to 224.0.0.18 with `ttl`. */
  send(payload: Buffer, opts: { ttl?: number } = {}): void {
    this.sock.setOption(SOL_IP, IP_MULTICAST_TTL, opts.ttl ?? VRRP_TTL);
    this.sock.send(payload, { family: "inet", address: VRRP_MCAST_V4 });
  }

  close(): void {
    this.sock.close();
  }
}

export interface SeenAdvert {
  /** Arrival (epoch ms). */
  at: number;
  src: string;
  vrid: number;
  priority: number;
}

/**
 * Watches the VRRP adverts on a segment from a bystander namespace (a raw socket there that
 * joins 224.0.0.18 on `ifname`), e.g. to fail a master right after it advertised. With
 * `sources`, a kernel filter keeps everyone else's packets out (a flood on the segment then costs
 * the watching process nothing).
 */
export class AdvertWatcher {
  private readonly sock: NativeVipdSocket;
  private waiters: Array<(a: SeenAdvert) => void> = [];
  /** Every advert seen, in order, once {@link record} was called. */
  readonly seen: SeenAdvert[] = [];
  private recording = false;

  private constructor(sock: NativeVipdSocket) {
    this.sock = sock;
    sock.on("message", (packet: Buffer) => {
      const h = parseIpv4Header(packet);
      if (!h.ok || h.header.protocol !== VRRP_PROTOCOL) return;
      const msg = packet.subarray(h.header.headerLength, h.header.totalLength);
      if (msg.length < 8) return;
      const seen: SeenAdvert = { at: nowMs(), src: h.header.src, vrid: msg[1]!, priority: msg[2]! };
      if (this.recording) this.seen.push(seen);
      for (const w of [...this.waiters]) w(seen);
    });
  }

  static open(netnsPath: string, ifname: string, opts: { sources?: readonly string[] } = {}): AdvertWatcher {
    const sock = openSocket({ family: "inet", protocol: VRRP_PROTOCOL, netns: netnsPath });
    try {
      if (opts.sources !== undefined) {
        // `ld [12]`: the IPv4 source address.
        const sources = opts.sources.map((s) => ipToBytes(s, "inet").readUInt32BE(0));
        sock.attachFilter(encodeBpf(acceptIfAnyOf([loadWord(12)], sources)));
      }
      const ifindex = ifNameToIndex(ifname, netnsPath);
      sock.setOption(SOL_IP, IP_ADD_MEMBERSHIP, packIpMreqn(VRRP_MCAST_V4, ifindex));
      sock.unref();
    } catch (err) {
      sock.close();
      throw err;
    }
    return new AdvertWatcher(sock);
  }

  /** Resolves with the next advert (from `src` when given) to arrive. */
  next(opts: { src?: string; timeoutMs?: number } = {}): Promise<SeenAdvert> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const waiter = (a: SeenAdvert): void => {
        if (opts.src !== undefined && a.src !== opts.src) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(a);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new VipdError(
            "LAB_WAIT_TIMEOUT",
            `no VRRP advert${opts.src ? ` from ${opts.src}` : ""} in ${timeoutMs} ms`,
            {},
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Keeps every advert from now on in {@link seen}. */
  record(): this {
    this.recording = true;
    return this;
  }

  close(): void {
    this.sock.close();
  }
}

/**
 * Crafting and sending VRRP adverts, well-formed or not, from a lab namespace: a raw IPv4 socket
 * (protocol 112) opened inside the namespace (the test process stays where it is), sending to
 * 224.0.0.18 out of one interface with a chosen TTL.
 *
 *   const inj = Injector.open(lab.nsPath("x"), "eth0");
 *   inj.send(malformedAdvert("bad_checksum", base), { ttl: 255 });
 *   inj.close();
 */
import { IP_MULTICAST_TTL, SOL_IP } from "../../../src/sys/constants.js";
import { type NativeVipdSocket, openSocket } from "../../../src/sys/socket.js";
import {
  encodeAdvert,
  VRRP_MCAST_V4,
  VRRP_PROTOCOL,
  VRRP_TTL,
  type VrrpAdvert,
  vrrpChecksum,
} from "../../../src/vrrp/packet.js";

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

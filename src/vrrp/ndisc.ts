import { VipdError } from "../errors.js";
import { internetChecksum, ipToBytes, ipv6PseudoHeader } from "./packet.js";

/**
 * Unsolicited Neighbour Advertisements (RFC 4861 §4.4, §7.2.6): what a new master sends for
 * each IPv6 VIP, the IPv6 counterpart of gratuitous ARP.
 *
 * The message is the ICMPv6 part only, for a raw ICMPv6 socket: send it to ff02::1 with hop
 * limit 255 (NDISC_HOP_LIMIT — receivers drop ND messages with any other value) from the VIP
 * itself as source, as keepalived does. On a raw ICMPv6 socket the kernel always fills in the
 * checksum, so the checksum field is left zero unless src/dst are given.
 *
 * Flags: Override set (replace cached link-layer addresses), Solicited clear (unsolicited).
 * Router: RFC 5798 says a VRRP router sets it; keepalived sets it only when IPv6 forwarding is
 * on for the interface. A director is usually not a router for the VIP's clients, so it is off
 * unless asked for (the driver can pass the interface's forwarding sysctl).
 *
 * Layout (32 bytes): type 136, code 0, checksum, flags + 3 reserved bytes, target (16),
 * option 2 "target link-layer address" (type, length 1 = 8 bytes, MAC).
 */

export const ICMPV6_PROTOCOL = 58;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_OPT_TARGET_LL_ADDR = 2;
export const NDISC_HOP_LIMIT = 255;
export const ALL_NODES = "ff02::1";
export const NA_LEN = 32;

export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;

export interface NaOptions {
  /** Set the Router flag; default false. */
  router?: boolean;
  /** With src (and dst, default ff02::1) the checksum is filled in; otherwise it is left 0 for the kernel. */
  src?: string;
  dst?: string;
}

/** ICMPv6 checksum (RFC 4443 §2.3) of `message` with its checksum field (bytes 2-3) taken as zero. */
export function icmpv6Checksum(message: Uint8Array, src: string, dst: string): number {
  const m = Buffer.from(message);
  if (m.length >= 4) m.writeUInt16BE(0, 2);
  return internetChecksum(ipv6PseudoHeader(src, dst, ICMPV6_PROTOCOL, m.length), m);
}

/** An unsolicited Neighbour Advertisement for `ip6` at link-layer address `mac`. */
export function buildUnsolicitedNa(mac: Uint8Array, ip6: string, opts: NaOptions = {}): Buffer {
  if (mac.length !== 6) {
    throw new VipdError("VRRP_BAD_MAC", `a MAC address has 6 bytes, not ${mac.length}`, {
      length: mac.length,
    });
  }
  const target = ipToBytes(ip6, "inet6");
  const m = Buffer.alloc(NA_LEN);
  m[0] = ND_NEIGHBOR_ADVERT;
  m[1] = 0;
  m[4] = NA_FLAG_OVERRIDE | (opts.router ? NA_FLAG_ROUTER : 0);
  target.copy(m, 8);
  m[24] = ND_OPT_TARGET_LL_ADDR;
  m[25] = 1; // in units of 8 bytes
  Buffer.from(mac).copy(m, 26);
  if (opts.src !== undefined) m.writeUInt16BE(icmpv6Checksum(m, opts.src, opts.dst ?? ALL_NODES), 2);
  return m;
}

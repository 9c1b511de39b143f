import { VipdError } from "../errors.js";
import { formatIp, type IpFamily, parseIpBytes } from "../net/ip.js";

export { formatIp };

/**
 * IP address text ↔ bytes, as rtnetlink carries them (network order), and CIDR parsing.
 * Pure; no DNS, no zone ids.
 */

export type InetFamily = IpFamily;

export interface ParsedIp {
  family: InetFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Buffer;
  /** Canonical text (RFC 5952 for IPv6). */
  address: string;
}

export interface ParsedCidr extends ParsedIp {
  prefixLength: number;
  /** "address/prefixLength" in canonical form. */
  cidr: string;
}

/** Parses an IPv4 or IPv6 address. Throws NETLINK_BAD_ADDRESS. */
export function parseIp(text: string): ParsedIp {
  const t = text.trim();
  const parsed = parseIpBytes(t);
  if (!parsed) {
    throw new VipdError("NETLINK_BAD_ADDRESS", `"${text}" is not a valid IP address`, { address: text });
  }
  return { ...parsed, address: formatIp(parsed.bytes) };
}

/**
 * Parses "10.0.0.100/24" or "fd00::1/64". Without a prefix, the host prefix is assumed
 * (/32, /128). Host bits may be set (it is an interface address, not a network).
 */
export function parseCidr(text: string): ParsedCidr {
  const t = text.trim();
  const slash = t.indexOf("/");
  const ip = parseIp(slash === -1 ? t : t.slice(0, slash));
  const max = ip.family === "inet" ? 32 : 128;
  let prefixLength = max;
  if (slash !== -1) {
    const p = t.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) {
      throw new VipdError("NETLINK_BAD_ADDRESS", `"${text}": prefix length must be 0..${max}`, {
        address: text,
      });
    }
    prefixLength = Number(p);
  }
  return { ...ip, prefixLength, cidr: `${ip.address}/${prefixLength}` };
}

/** "aa:bb:cc:dd:ee:ff" for a link-layer address of any length. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(":");
}

import { VipdError } from "../errors.js";

/**
 * IP address text ↔ bytes, as rtnetlink carries them (network order), and CIDR parsing.
 * Pure; no DNS, no zone ids.
 */

export type InetFamily = "inet" | "inet6";

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

function bad(text: string, why: string): VipdError {
  return new VipdError("NETLINK_BAD_ADDRESS", `"${text}" is not a valid IP address: ${why}`, {
    address: text,
  });
}

function parseV4(text: string, original = text): Buffer {
  const parts = text.split(".");
  if (parts.length !== 4) throw bad(original, "IPv4 needs 4 dotted parts");
  const out = Buffer.alloc(4);
  parts.forEach((p, i) => {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) throw bad(original, `bad IPv4 part "${p}"`);
    out[i] = Number(p);
  });
  return out;
}

function parseV6(text: string): Buffer {
  if (text.includes("%")) throw bad(text, "zone ids are not supported here");
  let body = text;
  let tail: Buffer | undefined;
  const lastColon = body.lastIndexOf(":");
  if (body.includes(".")) {
    tail = parseV4(body.slice(lastColon + 1), text);
    body = `${body.slice(0, lastColon + 1)}0:0`;
  }
  const halves = body.split("::");
  if (halves.length > 2) throw bad(text, 'more than one "::"');
  const groups = (s: string): number[] => {
    if (s === "") return [];
    return s.split(":").map((g) => {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad(text, `bad IPv6 group "${g}"`);
      return Number.parseInt(g, 16);
    });
  };
  const head = groups(halves[0] ?? "");
  let all: number[];
  if (halves.length === 2) {
    const rest = groups(halves[1] ?? "");
    const fill = 8 - head.length - rest.length;
    if (fill < 1) throw bad(text, '"::" stands for no groups');
    all = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else {
    all = head;
  }
  if (all.length !== 8) throw bad(text, `IPv6 needs 8 groups, got ${all.length}`);
  const out = Buffer.alloc(16);
  all.forEach((g, i) => {
    out.writeUInt16BE(g, i * 2);
  });
  if (tail) tail.copy(out, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address. Throws NETLINK_BAD_ADDRESS. */
export function parseIp(text: string): ParsedIp {
  const t = text.trim();
  if (t.includes(":")) {
    const bytes = parseV6(t);
    return { family: "inet6", bytes, address: formatIp(bytes) };
  }
  const bytes = parseV4(t);
  return { family: "inet", bytes, address: formatIp(bytes) };
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

/** Formats 4 or 16 network-order bytes; IPv6 per RFC 5952 (IPv4-mapped as ::ffff:a.b.c.d). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) {
    throw new VipdError("NETLINK_BAD_ADDRESS", `an IP address has 4 or 16 bytes, not ${bytes.length}`, {
      length: bytes.length,
    });
  }
  const b = Buffer.from(bytes);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${Array.from(b.subarray(12)).join(".")}`;
  }
  // Longest run of at least two zero groups; the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** "aa:bb:cc:dd:ee:ff" for a link-layer address of any length. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(":");
}

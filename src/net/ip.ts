import { VipdError } from "../errors.js";

/**
 * IP address text ↔ network-order bytes, shared by every codec (netlink, VRRP, IPVS).
 * Pure; no DNS. Decimal IPv4 only: leading zeros are refused, because inet_aton would read
 * them as octal and two tools would then disagree about the same text.
 */

export type IpFamily = "inet" | "inet6";

const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** 4 bytes of a dotted-quad address, or null. */
export function parseIpv4(text: string): Buffer | null {
  // By hand rather than a regex per octet: the IPVS diff and encoder parse every entry of
  // tables of 10,000 destinations, and the regex was the hot spot there.
  const out = Buffer.alloc(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a final "."
    if (c === 46) {
      if (digits === 0 || part > 3) return null;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return null; // a leading zero
      value = value * 10 + (c - 48);
      if (value > 255) return null;
      digits++;
    } else {
      return null;
    }
  }
  return part === 4 ? out : null;
}

/** 16 bytes of an IPv6 address (a dotted-quad tail is allowed; a zone is not), or null. */
export function parseIpv6(text: string): Buffer | null {
  if (text.length === 0 || text.includes("%")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string, allowV4Tail: boolean): number[] | null => {
    if (part === "") return [];
    const words: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (allowV4Tail && i === items.length - 1 && item.includes(".")) {
        const v4 = parseIpv4(item);
        if (!v4) return null;
        words.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else if (V6_GROUP.test(item)) {
        words.push(Number.parseInt(item, 16));
      } else {
        return null;
      }
    }
    return words;
  };
  let words: number[];
  if (halves.length === 2) {
    const head = groups(halves[0]!, false);
    const tail = groups(halves[1]!, true);
    // "::" stands for at least one group of zeros.
    if (!head || !tail || head.length + tail.length > 7) return null;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = groups(text, true);
    if (all?.length !== 8) return null;
    words = all;
  }
  const out = Buffer.alloc(16);
  words.forEach((word, i) => {
    out.writeUInt16BE(word, i * 2);
  });
  return out;
}

/** Bytes and family of an IPv4 or IPv6 address, or null when it is neither. */
export function parseIpBytes(text: string): { family: IpFamily; bytes: Buffer } | null {
  if (text.includes(":")) {
    const bytes = parseIpv6(text);
    return bytes ? { family: "inet6", bytes } : null;
  }
  const bytes = parseIpv4(text);
  return bytes ? { family: "inet", bytes } : null;
}

export function ipFamilyOf(text: string): IpFamily | null {
  return parseIpBytes(text)?.family ?? null;
}

/**
 * Text of 4 or 16 network-order bytes. IPv6 per RFC 5952: lowercase, no leading zeros, the
 * longest run (the first on a tie) of two or more zero groups as "::", and IPv4-mapped
 * addresses as ::ffff:a.b.c.d.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) {
    throw new VipdError("NET_BAD_ADDRESS", `an IP address has 4 or 16 bytes, not ${bytes.length}`, {
      length: bytes.length,
    });
  }
  const b = Buffer.from(bytes);
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(b.readUInt16BE(i * 2));
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${Array.from(b.subarray(12)).join(".")}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

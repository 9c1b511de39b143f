import { formatIp, parseIpBytes } from "../net/ip.js";
import type { AddressFamily, Endpoint, IpPrefix, ListenAddress } from "./types.js";

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/** 4, 6, or 0 for anything that is not a plain IP literal (zone indexes such as `fe80::1%eth0` are refused). */
export function ipFamily(text: string): 0 | AddressFamily {
  const parsed = parseIpBytes(text);
  return parsed === null ? 0 : parsed.family === "inet" ? 4 : 6;
}

/** The canonical spelling of a valid IP literal: IPv4 unchanged, IPv6 compressed and lower case. */
export function canonicalIp(text: string): string {
  const parsed = parseIpBytes(text);
  return parsed === null ? text : formatIp(parsed.bytes);
}

function ipv4ToInt(address: string): number {
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/**
 * Why an address cannot be a unicast host address (VIP, peer, real server), or undefined when it can.
 * Loopback is refused only when `allowLoopback` is false.
 */
export function nonUnicastReason(
  address: string,
  family: AddressFamily,
  allowLoopback: boolean,
): string | undefined {
  if (family === 4) {
    const n = ipv4ToInt(address);
    const first = n >>> 24;
    if (n === 0) return "is the unspecified address";
    if (first === 0) return "is in 0.0.0.0/8";
    if (n === 0xffffffff) return "is the broadcast address";
    if (first >= 224 && first < 240) return "is a multicast address";
    if (first >= 240) return "is in reserved 240.0.0.0/4";
    if (!allowLoopback && first === 127) return "is a loopback address";
    return undefined;
  }
  const canonical = canonicalIp(address);
  if (canonical === "::") return "is the unspecified address";
  if (canonical.startsWith("ff")) return "is a multicast address";
  if (!allowLoopback && canonical === "::1") return "is the loopback address";
  return undefined;
}

/** `10.0.0.100/24`, `2001:db8::1/64`, or a bare address (which gets /32 or /128). */
export function parseIpPrefix(text: string): Parsed<IpPrefix> {
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const family = ipFamily(addressText);
  if (family === 0)
    return fail(`'${text}' is not an IP address${slash === -1 ? "" : " with a prefix length"}`);
  const max = family === 4 ? 32 : 128;
  let prefixLength = max;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) return fail(`'${text}' has an invalid prefix length '${prefixText}'`);
    prefixLength = Number(prefixText);
    if (prefixLength < 1 || prefixLength > max) {
      return fail(`'${text}' has prefix length ${prefixLength}; IPv${family} allows 1..${max}`);
    }
  }
  return { ok: true, value: { address: canonicalIp(addressText), prefixLength, family } };
}

function parsePort(text: string, whole: string): Parsed<number> {
  if (!/^\d{1,5}$/.test(text)) return fail(`'${whole}' has an invalid port '${text}'`);
  const port = Number(text);
  if (port < 1 || port > 65535) return fail(`'${whole}' has port ${port}; ports are 1..65535`);
  return { ok: true, value: port };
}

/** Splits `host:port` / `[v6]:port` into its parts without judging the host. */
function splitHostPort(text: string): Parsed<{ host: string; portText: string; bracketed: boolean }> {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1 || text[close + 1] !== ":") return fail(`'${text}' is not [address]:port`);
    return {
      ok: true,
      value: { host: text.slice(1, close), portText: text.slice(close + 2), bracketed: true },
    };
  }
  const colon = text.lastIndexOf(":");
  if (colon === -1) return fail(`'${text}' has no port (expected address:port)`);
  const host = text.slice(0, colon);
  if (host.includes(":")) return fail(`'${text}': write an IPv6 address with a port as [address]:port`);
  return { ok: true, value: { host, portText: text.slice(colon + 1), bracketed: false } };
}

/** `10.0.0.50:80` or `[2001:db8::50]:80`. */
export function parseEndpoint(text: string): Parsed<Endpoint> {
  const split = splitHostPort(text);
  if (!split.ok) return split;
  const { host, portText, bracketed } = split.value;
  const family = ipFamily(host);
  if (family === 0) return fail(`'${text}' does not start with an IP address`);
  if (family === 6 && !bracketed)
    return fail(`'${text}': write an IPv6 address with a port as [address]:port`);
  if (family === 4 && bracketed) return fail(`'${text}': only IPv6 addresses go in brackets`);
  const port = parsePort(portText, text);
  if (!port.ok) return port;
  return { ok: true, value: { address: canonicalIp(host), port: port.value, family } };
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Why `name` is not a DNS name, or undefined when it is: dot-separated labels of 1..63 letters,
 * digits and '-' (not first or last), 253 characters in all, one trailing dot allowed. Host
 * names (TLS server names) stop there; query names may also hold '_' (`_sip._tcp.example.com`).
 */
export function dnsNameProblem(name: string, kind: "host" | "query"): string | undefined {
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  if (bare.length > 253) return "is longer than 253 characters";
  const allowed = kind === "host" ? /^[A-Za-z0-9-]+$/ : /^[A-Za-z0-9_-]+$/;
  const what = kind === "host" ? "letters, digits and '-'" : "letters, digits, '_' and '-'";
  for (const label of bare.split(".")) {
    if (label.length === 0) return "has an empty label";
    if (label.length > 63) return `has a label longer than 63 characters`;
    if (!allowed.test(label)) return `has a label '${label}' with characters other than ${what}`;
    if (label.startsWith("-") || label.endsWith("-"))
      return `has a label '${label}' that starts or ends with '-'`;
  }
  return undefined;
}

/** `127.0.0.1:9717`, `[::1]:9717`, `localhost:9717`. */
export function parseListenAddress(text: string): Parsed<ListenAddress> {
  const split = splitHostPort(text);
  if (!split.ok) return split;
  const { host, portText, bracketed } = split.value;
  const family = ipFamily(host);
  if (bracketed ? family !== 6 : family === 0 && !HOSTNAME.test(host)) {
    return fail(`'${text}' does not start with an IP address or host name`);
  }
  const port = parsePort(portText, text);
  if (!port.ok) return port;
  return { ok: true, value: { host: family === 0 ? host : canonicalIp(host), port: port.value } };
}

/** Prefix length of a dotted IPv4 netmask such as 255.255.255.0, or undefined if it is not contiguous. */
export function netmaskToPrefix(mask: string): number | undefined {
  if (ipFamily(mask) !== 4) return undefined;
  const n = ipv4ToInt(mask);
  const inverted = ~n >>> 0;
  if ((inverted & (inverted + 1)) !== 0) return undefined;
  return 32 - Math.log2(inverted + 1);
}

/** `address:port` with brackets for IPv6, for messages and keys. */
export function formatEndpoint(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

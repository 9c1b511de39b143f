/**
 * The keys of a check block: which check types each applies to, and how each is read on its own,
 * before merging and before the effective type is known. What depends on the type (tcp's send
 * escapes, an agent's one-line send) is settled in checks.ts once the type is known.
 */
import { isMap, isScalar, isSeq, type Node } from "yaml";
import type { CONFIG_KEYS } from "./keys.js";
import { canonicalIp, dnsNameProblem, ipFamily, nonUnicastReason } from "./net.js";
import { describe, type Field, join, type Reader } from "./reader.js";
import type { CheckType, DigestAlgorithm, DnsRcode, DnsRecordType, StatusRange } from "./types.js";

export type CheckKey = (typeof CONFIG_KEYS.check)[number];

export const CHECK_TYPES: readonly CheckType[] = ["http", "https", "tcp", "exec", "agent", "dns", "none"];
export const DNS_RECORD_TYPES: readonly DnsRecordType[] = [
  "A",
  "AAAA",
  "CNAME",
  "MX",
  "NS",
  "PTR",
  "SOA",
  "SRV",
  "TXT",
];
export const DNS_RCODES: readonly DnsRcode[] = [
  "NOERROR",
  "FORMERR",
  "SERVFAIL",
  "NXDOMAIN",
  "NOTIMP",
  "REFUSED",
];
const INITIAL_STATES = ["up", "down"] as const;
const MAX_INTERVAL_MS = 3_600_000;
const MAX_BODY_BYTES = 16_777_216;
/** RFC 9110 token: method and header names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The keys a real server's check keeps from its service's when it names another type. */
export const TIMING_KEYS = [
  "interval",
  "fast_interval",
  "down_interval",
  "timeout",
  "rise",
  "fall",
] as const satisfies readonly CheckKey[];
const PROBE_KEYS = ["type", "connect_address", "connect_port", "initial", ...TIMING_KEYS] as const;
const HTTP_KEYS = [
  "method",
  "path",
  "host",
  "headers",
  "status",
  "expect",
  "expect_regex",
  "digest",
  "max_body",
  "keepalive",
] as const;
export const TLS_KEYS = ["tls_verify", "ca_file", "sni", "cert_file", "key_file"] as const;

/** The keys each type takes. `port` is not listed: it is read as `connect_port`. */
export const APPLICABLE: Readonly<Record<CheckType, readonly CheckKey[]>> = {
  none: ["type"],
  http: [...PROBE_KEYS, ...HTTP_KEYS],
  https: [...PROBE_KEYS, ...HTTP_KEYS, ...TLS_KEYS],
  tcp: [...PROBE_KEYS, "send", "expect"],
  exec: [...PROBE_KEYS, "command", "dynamic_weight"],
  agent: [...PROBE_KEYS, "send"],
  dns: [...PROBE_KEYS, "name", "record", "rcode"],
};

type KeyReader = (r: Reader, f: Field) => unknown;

const duration: KeyReader = (r, f) => r.duration(f, 10, MAX_INTERVAL_MS);
const count: KeyReader = (r, f) => r.integer(f, 1, 1000);
const port: KeyReader = (r, f) => r.integer(f, 1, 65535, "a port");
const file: KeyReader = (r, f) => r.absolutePath(f, "a file path");
const flag: KeyReader = (r, f) => r.boolean(f);

/** How each key's value is read; undefined = invalid (and reported). */
export const KEY_READERS: Readonly<Record<CheckKey, KeyReader>> = {
  type: (r, f) => r.oneOf(f, CHECK_TYPES, "check type"),
  port,
  connect_address: readConnectAddress,
  connect_port: port,
  method: readMethod,
  path: readPath,
  status: readStatus,
  host: readHost,
  headers: readHeaders,
  expect: (r, f) => r.string(f, "a string to look for in the response"),
  expect_regex: readRegex,
  digest: readDigest,
  max_body: (r, f) => r.integer(f, 1, MAX_BODY_BYTES, "a number of bytes"),
  keepalive: flag,
  tls_verify: flag,
  ca_file: file,
  sni: readServerName,
  cert_file: file,
  key_file: file,
  send: (r, f) => r.string(f, "a string to send"),
  command: (r, f) => readCommand(r, f),
  dynamic_weight: flag,
  name: readQueryName,
  record: (r, f) => oneOfUpper(r, f, DNS_RECORD_TYPES, "DNS record type"),
  rcode: (r, f) => oneOfUpper(r, f, DNS_RCODES, "DNS rcode"),
  initial: (r, f) => r.oneOf(f, INITIAL_STATES, "initial state"),
  interval: duration,
  fast_interval: duration,
  down_interval: duration,
  timeout: duration,
  rise: count,
  fall: count,
};

function readConnectAddress(r: Reader, f: Field): string | undefined {
  const text = r.string(f, "an IP address");
  if (text === undefined) return undefined;
  const family = ipFamily(text);
  if (family === 0) return r.fail(f, `connect_address '${text}' is not an IP address`);
  const address = canonicalIp(text);
  const bad = nonUnicastReason(address, family, true);
  return bad === undefined ? address : r.fail(f, `connect_address ${address} ${bad}`);
}

function readMethod(r: Reader, f: Field): string | undefined {
  const method = r.string(f, "an HTTP method");
  if (method !== undefined && !TOKEN.test(method))
    return r.fail(f, `method '${method}' is not an HTTP method name (letters, digits and !#$%&'*+-.^_\`|~)`);
  return method?.toUpperCase();
}

function readPath(r: Reader, f: Field): string | undefined {
  const path = r.string(f, "a URL path");
  if (path !== undefined && !path.startsWith("/")) return r.fail(f, `path '${path}' must start with '/'`);
  if (path !== undefined && /\s/.test(path)) return r.fail(f, `path '${path}' must not contain spaces`);
  return path;
}

function readHost(r: Reader, f: Field): string | undefined {
  const host = r.string(f, "a Host header value");
  if (host !== undefined && /\s/.test(host)) return r.fail(f, `host '${host}' must not contain spaces`);
  return host;
}

/** `[200-299]`, `[200, 301]`, `200`, `[2xx, 301]` → inclusive ranges. */
function readStatus(r: Reader, field: Field): StatusRange[] | undefined {
  const items: Field[] = isSeq(field.node) ? (r.list(field) ?? []) : [field];
  if (isSeq(field.node) && items.length === 0)
    return r.fail(field, "status needs at least one code or range");
  const out: StatusRange[] = [];
  let ok = true;
  for (const item of items) {
    const range = readStatusItem(r, item);
    if (range === undefined) ok = false;
    else out.push(range);
  }
  return ok ? out : undefined;
}

function readStatusItem(r: Reader, item: Field): StatusRange | undefined {
  const value = isScalar(item.node) ? item.node.value : undefined;
  const inRange = (code: number): boolean => Number.isInteger(code) && code >= 100 && code <= 599;
  if (typeof value === "number") {
    if (!inRange(value)) return r.fail(item, `HTTP status ${value} is out of range (100..599)`);
    return { min: value, max: value };
  }
  if (typeof value === "string") {
    const family = /^([1-5])xx$/i.exec(value);
    if (family) return { min: Number(family[1]) * 100, max: Number(family[1]) * 100 + 99 };
    const span = /^(\d{3})\s*-\s*(\d{3})$/.exec(value);
    if (span) {
      const min = Number(span[1]);
      const max = Number(span[2]);
      if (!inRange(min) || !inRange(max))
        return r.fail(item, `status range '${value}' is out of range (100..599)`);
      if (min > max) return r.fail(item, `status range '${value}' is backwards`);
      return { min, max };
    }
  }
  return r.fail(
    item,
    `expected an HTTP status code or range such as 200, 200-299 or 2xx, got ${describe(item.node)}`,
  );
}

/**
 * Header name → value. Not read with Reader.map: header names are free-form, and one such as
 * `x-request-id` must not be skipped as an `x-` extension key.
 */
function readHeaders(r: Reader, f: Field): Record<string, string> | undefined {
  if (!isMap(f.node))
    return r.fail(f, `expected a mapping of header names to values, got ${describe(f.node)}`);
  const out: Record<string, string> = {};
  let ok = true;
  for (const pair of f.node.items) {
    const keyNode = (pair.key as Node | null) ?? undefined;
    const name = isScalar(keyNode) ? keyNode.value : undefined;
    const at = keyNode ?? f.node;
    const problem =
      typeof name !== "string"
        ? `header names must be strings, got ${describe(keyNode)}`
        : !TOKEN.test(name)
          ? `header name '${name}' is not an HTTP token (letters, digits and !#$%&'*+-.^_\`|~)`
          : name.toLowerCase() === "host"
            ? "set the Host header with the check's 'host' key, not in headers"
            : Object.hasOwn(out, name.toLowerCase())
              ? `header '${name}' is given twice (names are case-insensitive)`
              : undefined;
    const path = join(f.path, typeof name === "string" ? name : "?");
    if (problem !== undefined || typeof name !== "string") {
      r.error(at, path, problem ?? "");
      ok = false;
      continue;
    }
    const valueNode = r.resolve(pair.value);
    if (valueNode === undefined) {
      r.error(at, path, `header '${name}' needs a value`);
      ok = false;
      continue;
    }
    const value = r.string({ node: valueNode, key: at, path }, "a header value");
    if (value !== undefined && /[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
      r.error(
        valueNode,
        path,
        `header '${name}' has a control character in its value (a line break would end the header)`,
      );
      ok = false;
    } else if (value === undefined) ok = false;
    else out[name.toLowerCase()] = value;
  }
  return ok ? out : undefined;
}

function readRegex(r: Reader, f: Field): string | undefined {
  const source = r.string(f, "a regular expression");
  if (source === undefined) return undefined;
  try {
    new RegExp(source);
  } catch (err) {
    return r.fail(f, `expect_regex does not compile: ${(err as Error).message}`);
  }
  return source;
}

const DIGEST_HEX: Record<DigestAlgorithm, number> = { md5: 32, sha256: 64 };

/** `md5:<32 hex>` or `sha256:<64 hex>` → lower-case hex. */
function readDigest(r: Reader, f: Field): { algorithm: DigestAlgorithm; hex: string } | undefined {
  const text = r.string(f, "md5:<hex> or sha256:<hex>");
  if (text === undefined) return undefined;
  const match = /^(md5|sha256):([0-9a-f]+)$/i.exec(text);
  if (match === null) {
    // keepalived writes a bare MD5 digest.
    const hint = /^[0-9a-f]{32}$/i.test(text) ? ` (an MD5 digest is written md5:${text})` : "";
    return r.fail(f, `digest '${text}' is not md5:<32 hex digits> or sha256:<64 hex digits>${hint}`);
  }
  const algorithm = (match[1] as string).toLowerCase() as DigestAlgorithm;
  const hex = (match[2] as string).toLowerCase();
  if (hex.length !== DIGEST_HEX[algorithm])
    return r.fail(
      f,
      `${algorithm} digests have ${DIGEST_HEX[algorithm]} hex digits; this one has ${hex.length}`,
    );
  return { algorithm, hex };
}

/** A TLS server name: a host name, never an IP address (RFC 6066 forbids literal addresses in SNI). */
function readServerName(r: Reader, f: Field): string | undefined {
  const name = r.string(f, "a DNS name");
  if (name === undefined) return undefined;
  if (ipFamily(name) !== 0) return r.fail(f, `sni '${name}' is an IP address; SNI carries a DNS name`);
  const problem = dnsNameProblem(name, "host");
  if (problem !== undefined) return r.fail(f, `sni '${name}' ${problem}`);
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** The name a dns check resolves; `.` is the root (keepalived's default, with SOA). */
function readQueryName(r: Reader, f: Field): string | undefined {
  const name = r.string(f, "a DNS name");
  if (name === undefined) return undefined;
  if (name === ".") return name;
  if (ipFamily(name) === 4) {
    const reverse = `${name.split(".").reverse().join(".")}.in-addr.arpa`;
    return r.fail(f, `name '${name}' is an IP address; a PTR check resolves its reverse name (${reverse})`);
  }
  const problem = dnsNameProblem(name, "query");
  if (problem !== undefined) return r.fail(f, `name '${name}' ${problem}`);
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** argv, never a shell command line: a plain string is refused with the list it probably meant. */
export function readCommand(r: Reader, f: Field, key = "command"): string[] | undefined {
  if (isScalar(f.node) && typeof f.node.value === "string") {
    const words = f.node.value
      .trim()
      .split(/\s+/)
      .map((w) => JSON.stringify(w));
    return r.fail(
      f,
      `${key} is run without a shell, so it is a list of arguments: write [${words.join(", ")}]`,
    );
  }
  const items = r.list(f, "a list of arguments");
  if (items === undefined) return undefined;
  if (items.length === 0) return r.fail(f, `${key} needs at least the program to run`);
  const argv = items.map((item) => r.string(item, "an argument"));
  return argv.every((a) => a !== undefined) ? (argv as string[]) : undefined;
}

/** oneOf, but any case is accepted (`aaaa`, `NxDomain`) and the upper-case spelling kept. */
function oneOfUpper<T extends string>(
  r: Reader,
  f: Field,
  values: readonly T[],
  what: string,
): T | undefined {
  const value = isScalar(f.node) ? f.node.value : undefined;
  const upper = typeof value === "string" ? value.toUpperCase() : undefined;
  if (upper !== undefined && (values as readonly string[]).includes(upper)) return upper as T;
  return r.oneOf(f, values, what);
}

export type Decoded = { ok: true; value: string } | { ok: false; reason: string };

/** tcp's `send`: `\n`, `\r`, `\t`, `\\` and `\xHH` (ASCII) decoded; any other backslash is an error. */
export function decodeEscapes(text: string): Decoded {
  const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", "\\": "\\" };
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = text[i + 1] ?? "";
    const mapped = simple[next];
    if (mapped !== undefined) {
      out += mapped;
      i++;
      continue;
    }
    if (next !== "x")
      return { ok: false, reason: `unknown escape '\\${next}' (use \\n, \\r, \\t, \\\\ or \\xHH)` };
    const hex = text.slice(i + 2, i + 4);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return { ok: false, reason: "'\\x' needs two hex digits" };
    const code = Number.parseInt(hex, 16);
    // The string is sent as UTF-8, where \x80..\xff would become two bytes: refuse rather than surprise.
    if (code > 0x7f)
      return {
        ok: false,
        reason: `'\\x${hex}' is not ASCII; send is sent as UTF-8, so write the character itself`,
      };
    out += String.fromCharCode(code);
    i += 3;
  }
  return { ok: true, value: out };
}

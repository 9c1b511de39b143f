/**
 * keepalived checkers (HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, DNS_CHECK) → vipd checks, with
 * keepalived's own defaults kept (delay_loop 60s, connect_timeout 5s, per-checker retry) and a
 * warning for whatever is not translated exactly. One checker gives one check, except an
 * HTTP_GET with several url blocks: keepalived needs every URL to pass, so each becomes a check.
 */
import { formatDuration } from "../config/duration.js";
import { ipFamily } from "../config/net.js";
import type { AddressFamily } from "../config/types.js";
import type { Statement, Word } from "./parse.js";

export interface MigratedCheck {
  type: "http" | "https" | "tcp" | "exec" | "dns" | "none";
  connect_address?: string;
  connect_port?: number;
  path?: string;
  status?: (number | string)[];
  host?: string;
  expect?: string;
  expect_regex?: string;
  digest?: string;
  tls_verify?: boolean;
  command?: string[];
  dynamic_weight?: boolean;
  name?: string;
  record?: string;
  interval?: string;
  fast_interval?: string;
  timeout?: string;
  rise?: number;
  fall?: number;
}

/** Per-level settings a real server and its checkers inherit (virtual server → real server → checker). */
export interface CheckDefaults {
  delayLoopMs?: number;
  connectTimeoutMs?: number;
  retry?: number;
  delayBeforeRetry?: { ms: number; at: Word };
  virtualhost?: string;
}

/** The converter's readers and warnings, shared with it. */
export interface ConvertTools {
  warn(at: Statement | Word, message: string, keyword?: string): void;
  notTranslated(s: Statement): void;
  arg(s: Statement, what: string): Word | undefined;
  int(s: Statement, min: number, max: number, what?: string): number | undefined;
  timer(s: Statement, min: number, max: number): number | undefined;
  /** Reads delay_loop, connect_timeout, retry, ... into `defaults`; false when `c` is none of them. */
  checkDefault(c: Statement, defaults: CheckDefaults): boolean;
}

export const CHECKERS = new Set(["HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK", "DNS_CHECK"]);
export const UNSUPPORTED_CHECKERS = new Set([
  "SMTP_CHECK",
  "UDP_CHECK",
  "PING_CHECK",
  "BFD_CHECK",
  "FILE_CHECK",
]);

const KEEPALIVED = {
  delayLoopMs: 60_000,
  connectTimeoutMs: 5_000,
  /** Failures retried before a server is down: MISC_CHECK 0, DNS_CHECK 3 (check_dns.h), the others 1. */
  retry: { MISC_CHECK: 0, DNS_CHECK: 3, default: 1 } as Record<string, number>,
  /** The wait after a failed check before its retry (check_api.c: default_delay_before_retry). */
  delayBeforeRetryMs: 1000,
  dnsRecord: "SOA",
  dnsName: ".",
};
/** keepalived's DNS_CHECK types (check_dns.c), all of which vipd checks. */
const DNS_TYPES = new Set(["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"]);
const NO_ALPHA =
  "not translated: vipd has no alpha mode; a real server's state follows its check results (rise, fall)";

/** Where a checker connects: keepalived's connect_ip / connect_port. */
interface Connection {
  connect_address?: string;
  connect_port?: number;
}

type Timing = Required<Pick<MigratedCheck, "interval" | "timeout" | "rise" | "fall">> &
  Pick<MigratedCheck, "fast_interval">;

export class CheckerConverter {
  constructor(private readonly t: ConvertTools) {}

  /**
   * The checks of one checker block; empty when it cannot be translated (warned about).
   * `checkPort` is the port keepalived would have checked when the block names none.
   */
  convert(
    c: Statement,
    inherited: CheckDefaults,
    rs: { checkPort: number | undefined; family: AddressFamily },
  ): MigratedCheck[] {
    const kind = c.keyword.text;
    const defaults: CheckDefaults = { ...inherited };
    const conn: Connection = rs.checkPort === undefined ? {} : { connect_port: rs.checkPort };
    const own: Statement[] = [];
    for (const o of c.block ?? []) {
      if (this.connection(o, conn, rs.family)) continue;
      if (o.keyword.text === "nb_get_retry" && (kind === "HTTP_GET" || kind === "SSL_GET")) {
        // The HTTP checkers' deprecated name for retry.
        defaults.retry = this.t.int(o, 0, 999, "a count") ?? defaults.retry;
        continue;
      }
      if (OWN_KEYWORDS[kind]?.has(o.keyword.text)) own.push(o);
      else if (o.keyword.text === "alpha") this.t.warn(o, NO_ALPHA);
      else if (!this.t.checkDefault(o, defaults)) this.t.notTranslated(o);
    }
    switch (kind) {
      case "TCP_CHECK":
        return [{ type: "tcp", ...conn, ...this.timing(c, defaults) }];
      case "HTTP_GET":
      case "SSL_GET":
        return this.http(c, own, defaults, conn);
      case "MISC_CHECK":
        return this.misc(c, own, defaults);
      case "DNS_CHECK":
        return [this.dns(c, own, defaults, conn)];
      default:
        return [];
    }
  }

  /** connect_port, connect_ip, and the binding options vipd lacks; false for anything else. */
  private connection(o: Statement, conn: Connection, family: AddressFamily): boolean {
    switch (o.keyword.text) {
      case "connect_port": {
        const port = this.t.int(o, 1, 65535, "a port");
        if (port !== undefined) conn.connect_port = port;
        return true;
      }
      case "connect_ip": {
        const word = this.t.arg(o, "an IP address");
        const f = word === undefined ? 0 : ipFamily(word.text);
        if (word !== undefined && f === 0) this.t.warn(o, `'${word.text}' is not an IP address; dropped`);
        else if (word !== undefined && f !== family)
          this.t.warn(o, `${word.text} is IPv${f} but the real server is IPv${family}; dropped`);
        else if (word !== undefined) conn.connect_address = canonicalAddress(word.text);
        return true;
      }
      case "bindto":
      case "bind_port":
      case "bind_if":
      case "fwmark":
        this.t.warn(o, "not supported: vipd connects from the default source address and port; dropped");
        return true;
      default:
        return false;
    }
  }

  private timing(c: Statement, defaults: CheckDefaults, ownTimeout?: { ms: number; key: string }): Timing {
    const intervalMs = defaults.delayLoopMs ?? KEEPALIVED.delayLoopMs;
    const key = ownTimeout?.key ?? "connect_timeout";
    let timeoutMs = ownTimeout?.ms ?? defaults.connectTimeoutMs ?? KEEPALIVED.connectTimeoutMs;
    if (timeoutMs > intervalMs) {
      this.t.warn(
        c,
        `${key} ${formatDuration(timeoutMs)} is longer than delay_loop ${formatDuration(intervalMs)}; vipd needs timeout <= interval, so the timeout is ${formatDuration(intervalMs)}`,
      );
      timeoutMs = intervalMs;
    }
    // keepalived retries `retry` more times after a failure before declaring the server down.
    const retry = defaults.retry ?? KEEPALIVED.retry[c.keyword.text] ?? (KEEPALIVED.retry.default as number);
    const fall = Math.min(1000, retry + 1);
    const timing: Timing = {
      interval: formatDuration(intervalMs),
      timeout: formatDuration(timeoutMs),
      rise: 1,
      fall,
    };
    if (retry === 0) return timing;
    // keepalived retries a failed check delay_before_retry after it failed; vipd re-checks a
    // server between states every fast_interval (from start to start, so at least the timeout).
    const delayMs = defaults.delayBeforeRetry?.ms ?? KEEPALIVED.delayBeforeRetryMs;
    const fastMs = Math.max(delayMs, timeoutMs);
    if (fastMs !== intervalMs) timing.fast_interval = formatDuration(fastMs);
    // keepalived's default (1 s, shorter than any usual timeout) comes out within a timeout of
    // what keepalived does, so only a delay the file sets, and vipd cannot keep, is worth a word.
    const given = defaults.delayBeforeRetry;
    if (given !== undefined && fastMs !== delayMs) {
      this.t.warn(
        given.at,
        `keepalived retries ${formatDuration(delayMs)} after a failed check; vipd's fast_interval runs from check start to check start and must cover the ${formatDuration(timeoutMs)} timeout, so it is ${formatDuration(fastMs)}: a server that stops answering is down after about ${formatDuration(intervalMs + retry * fastMs)} (keepalived: ${formatDuration(intervalMs + retry * (timeoutMs + delayMs))} when each check times out, ${formatDuration(intervalMs + retry * delayMs)} when refused)`,
        "delay_before_retry",
      );
    }
    return timing;
  }

  // ------------------------------------------------------------------------------------------
  // HTTP_GET / SSL_GET

  private http(c: Statement, urls: Statement[], defaults: CheckDefaults, conn: Connection): MigratedCheck[] {
    const timing = this.timing(c, defaults);
    // keepalived never verifies the server's certificate; vipd does unless told not to.
    const head: MigratedCheck =
      c.keyword.text === "SSL_GET"
        ? { type: "https", ...conn, tls_verify: false }
        : { type: "http", ...conn };
    const host = this.host(c, defaults.virtualhost);
    if (urls.length === 0) {
      // keepalived 2.2.7: "HTTP/SSL_GET checker has no urls specified - ignoring".
      this.t.warn(
        c,
        "has no url block: keepalived ignores this checker, and so does this config (add a url { path / } block to check)",
      );
      return [];
    }
    return urls.map((url) => ({ ...head, ...this.url(c, url, host), ...timing }));
  }

  /** A host without spaces (vipd's Host header), or undefined with a warning. */
  private host(c: Statement, host: string | undefined): string | undefined {
    if (host === undefined || !/\s/.test(host)) return host;
    this.t.warn(c, `virtualhost '${host}' contains spaces; dropped`, "virtualhost");
    return undefined;
  }

  private url(c: Statement, url: Statement, inheritedHost: string | undefined): Partial<MigratedCheck> {
    const out: Partial<MigratedCheck> = { path: "/" };
    let host = inheritedHost;
    for (const u of url.block ?? []) {
      switch (u.keyword.text) {
        case "path": {
          const word = this.t.arg(u, "a URL path");
          if (word === undefined) break;
          if (!word.text.startsWith("/") || /\s/.test(word.text))
            this.t.warn(u, `'${word.text}' is not a path starting with '/' without spaces; using /`);
          else out.path = word.text;
          break;
        }
        case "status_code": {
          const codes = this.statusCodes(u);
          if (codes !== undefined) out.status = codes;
          break;
        }
        case "virtualhost": {
          const word = this.t.arg(u, "a host name");
          if (word !== undefined) host = this.host(c, word.text);
          break;
        }
        case "digest": {
          const word = this.t.arg(u, "an MD5 digest");
          // keepalived's digest is the MD5 of the body, in hex.
          if (word !== undefined && /^[0-9a-f]{32}$/i.test(word.text))
            out.digest = `md5:${word.text.toLowerCase()}`;
          else if (word !== undefined)
            this.t.warn(u, `'${word.text}' is not an MD5 digest (32 hex digits); dropped`);
          break;
        }
        case "regex":
          Object.assign(out, this.regex(u));
          break;
        default:
          this.t.notTranslated(u);
      }
    }
    if (host !== undefined) out.host = host;
    return out;
  }

  /** A literal pattern stays a plain substring (expect); any other becomes expect_regex if JavaScript accepts it. */
  private regex(u: Statement): Partial<MigratedCheck> {
    const word = this.t.arg(u, "a regular expression");
    if (word === undefined) return {};
    if (!/[\\^$.|?*+()[\]{}]/.test(word.text)) return { expect: word.text };
    try {
      new RegExp(word.text);
    } catch {
      this.t.warn(
        u,
        "not supported: this PCRE pattern is not a valid JavaScript regular expression; dropped",
      );
      return {};
    }
    return { expect_regex: word.text };
  }

  /** `status_code 200 200-299 ...` → vipd's status list (single codes as numbers, ranges as strings). */
  private statusCodes(u: Statement): (number | string)[] | undefined {
    if (u.args.length === 0) {
      this.t.warn(u, "needs status codes; ignored");
      return undefined;
    }
    const out: (number | string)[] = [];
    const ok = (n: number): boolean => n >= 100 && n <= 599;
    for (const w of u.args) {
      const single = /^\d{3}$/.exec(w.text);
      const range = /^(\d{3})-(\d{3})$/.exec(w.text);
      if (single !== null && ok(Number(w.text))) out.push(Number(w.text));
      else if (
        range !== null &&
        ok(Number(range[1])) &&
        ok(Number(range[2])) &&
        Number(range[1]) <= Number(range[2])
      )
        out.push(w.text);
      else this.t.warn(w, `'${w.text}' is not an HTTP status code or range; dropped`, "status_code");
    }
    return out.length === 0 ? undefined : out;
  }

  // ------------------------------------------------------------------------------------------
  // MISC_CHECK and DNS_CHECK

  private misc(c: Statement, own: Statement[], defaults: CheckDefaults): MigratedCheck[] {
    let command: string[] | undefined;
    let timeout: { ms: number; key: string } | undefined;
    let dynamic = false;
    for (const o of own) {
      if (o.keyword.text === "misc_path") command = this.command(o) ?? command;
      else if (o.keyword.text === "misc_timeout") {
        const ms = this.t.timer(o, 10, 3_600_000);
        if (ms !== undefined) timeout = { ms, key: "misc_timeout" };
      } else if (o.keyword.text === "misc_dynamic") dynamic = true;
      else this.t.warn(o, "not translated: vipd runs exec checks as the user it runs as");
    }
    if (command === undefined) {
      this.t.warn(c, "has no usable misc_path; dropped");
      return [];
    }
    // keepalived's misc_timeout defaults to the delay_loop.
    const timing = this.timing(
      c,
      defaults,
      timeout ?? { ms: defaults.delayLoopMs ?? KEEPALIVED.delayLoopMs, key: "misc_timeout" },
    );
    return [{ type: "exec", command, ...(dynamic ? { dynamic_weight: true } : {}), ...timing }];
  }

  /** misc_path as argv: one (quoted) string is split as a shell splits words; several words are argv as they are. */
  private command(o: Statement): string[] | undefined {
    if (o.args.length === 0) {
      this.t.warn(o, "needs a program; ignored");
      return undefined;
    }
    const text = o.args.map((w) => w.text).join(" ");
    const argv = o.args.length === 1 ? shellWords(text) : o.args.map((w) => w.text);
    if (argv === undefined || argv.length === 0) {
      this.t.warn(o, `cannot split '${text}' into arguments (an unterminated quote); ignored`);
      return undefined;
    }
    if (/[|&;<>`$]/.test(text)) {
      this.t.warn(
        o,
        "uses shell syntax, but vipd (like keepalived 2) runs the program without a shell; wrap it in [/bin/sh, -c, ...] if it needs one",
      );
    }
    return argv;
  }

  private dns(c: Statement, own: Statement[], defaults: CheckDefaults, conn: Connection): MigratedCheck {
    let record = KEEPALIVED.dnsRecord;
    let name = KEEPALIVED.dnsName;
    for (const o of own) {
      const word = this.t.arg(o, o.keyword.text === "type" ? "a record type" : "a name");
      if (word === undefined) continue;
      if (o.keyword.text === "name") name = word.text;
      else if (DNS_TYPES.has(word.text.toUpperCase())) record = word.text.toUpperCase();
      else
        this.t.warn(
          o,
          `'${word.text}' is not a record type keepalived checks; using SOA, as keepalived does`,
        );
    }
    this.t.warn(
      c,
      `translated as a dns check; with rcode NOERROR vipd also needs an answer of type ${record}, where keepalived accepts any NOERROR reply`,
    );
    return { type: "dns", ...conn, name, record, ...this.timing(c, defaults) };
  }
}

/** Keywords a checker block has besides the connection and common ones. */
const OWN_KEYWORDS: Record<string, ReadonlySet<string>> = {
  HTTP_GET: new Set(["url"]),
  SSL_GET: new Set(["url"]),
  MISC_CHECK: new Set(["misc_path", "misc_timeout", "misc_dynamic", "user"]),
  DNS_CHECK: new Set(["type", "name"]),
};

/**
 * Splits a command line into words as a POSIX shell does, without expanding anything: blanks
 * separate words, '…' is literal, "…" and a bare backslash escape. Undefined for an unterminated quote.
 */
export function shellWords(text: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) return undefined;
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      word ??= "";
      for (; j < text.length && text[j] !== '"'; j++) {
        // Inside double quotes a backslash escapes only these.
        if (text[j] === "\\" && '"\\$`'.includes(text[j + 1] ?? "")) j++;
        word += text[j];
      }
      if (j >= text.length) return undefined;
      i = j;
    } else if (c === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** IPv6 compressed and lower case; IPv4 unchanged. */
function canonicalAddress(address: string): string {
  if (ipFamily(address) !== 6) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/**
 * The `http` and `https` checks, on undici's Client: one request, then the status, the body's
 * text, pattern or digest. A fresh connection per check unless `keepalive` (a pool could hide a
 * dead server behind a connection that happens to still be open, and a new connection is what
 * a client of the virtual service would make).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import net from "node:net";
import tls from "node:tls";
import { type buildConnector, Client } from "undici";
import type { HttpCheckConfig, TlsCheckConfig } from "../../config/types.js";
import type { Checker, CheckResult, CheckTarget } from "../types.js";
import { describeNetError, fail, ok, quote, stopwatch } from "./result.js";

/** Where a check is when its timeout fires: the reason names it ("timeout (headers)"). */
type Phase = "connect" | "tls handshake" | "headers" | "body";

interface Connection {
  client: Client;
  /** Every socket the connector opened: a connect in progress is not undici's to close yet, so it is ours. */
  sockets: Set<net.Socket>;
  phase: Phase;
  /**
   * The first error of the current socket. undici overwrites it with its own "other side closed"
   * when the socket ends right after (a TLS 1.3 alert about our client certificate, say).
   */
  socketError?: unknown;
  /** The key in `kept`, when kept. */
  key?: string;
}

/** keepalive checks: one connection per origin + TLS settings, reused run after run. */
const kept = new Map<string, Connection>();
/** ca/cert/key files by path, read once (a reload that wants them read again calls clearTlsFileCache). */
const files = new Map<string, Promise<Buffer>>();
/**
 * TLS contexts by (ca, cert, key) file set. Given raw `ca`/`cert`/`key`, tls.connect builds a
 * context (parsing every certificate) for each connection: a fifth of an https check's CPU.
 */
const contexts = new Map<string, tls.SecureContext>();
/** expect_regex compiled once per source. */
const patterns = new Map<string, RegExp | Error>();

const noop = () => {};

export const httpCheck: Checker<HttpCheckConfig> = async (target, spec, signal) => {
  const elapsed = stopwatch();
  const https = spec.type === "https";
  const host = hostHeader(target, spec);
  // Never an IP: without a servername Node checks an IP target against the certificate's IP SANs.
  const servername = https ? (spec.tls?.sni ?? dnsName(host)) : undefined;
  let conn: Connection | undefined;
  let onAbort = noop;
  const aborted = new Promise<CheckResult>((resolve) => {
    onAbort = () => resolve(fail(elapsed, "timeout", `timeout (${conn?.phase ?? "connect"})`));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  if (signal.aborted) onAbort();

  const work = (async (): Promise<CheckResult> => {
    const options = https ? await tlsOptions(spec.tls) : {};
    if (typeof options === "string") return fail(elapsed, "error", options);
    // The race is already lost: opening a connection now would leak it.
    if (signal.aborted) return fail(elapsed, "timeout", "timeout (connect)");
    conn = acquire(target, spec, options, servername);
    return await exchange(conn, spec, host, signal, elapsed);
  })().catch((err: unknown) => {
    const generic = (err as { code?: unknown } | null)?.code === "UND_ERR_SOCKET";
    const cause = generic && conn?.socketError !== undefined ? conn.socketError : err;
    const { code, reason } = describeNetError(unwrap(cause), signal.aborted);
    return fail(elapsed, code, reason);
  });

  // The abort wins over a request still in flight: destroying the connection below ends it.
  const result = await Promise.race([aborted, work]);
  signal.removeEventListener("abort", onAbort);
  if (conn !== undefined && !(conn.key !== undefined && result.ok)) await destroy(conn);
  return result;
};

/** Shutdown (or a reload that drops keepalive checks): close every kept connection. */
export async function closeKeptConnections(): Promise<void> {
  const all = [...kept.values()];
  kept.clear();
  await Promise.all(all.map(destroy));
}

/** Forget the cached ca/cert/key files, so that the next checks read them again. */
export function clearTlsFileCache(): void {
  files.clear();
  contexts.clear();
}

async function exchange(
  conn: Connection,
  spec: HttpCheckConfig,
  host: string,
  signal: AbortSignal,
  elapsed: () => number,
): Promise<CheckResult> {
  const connected = [...conn.sockets].some((s) => !s.connecting && !s.destroyed);
  conn.phase = connected ? "headers" : "connect";
  const { statusCode, body } = await conn.client.request({
    method: spec.method || "GET",
    path: spec.path || "/",
    headers: { "user-agent": "vipd-check", ...spec.headers, host },
    // No Connection: close even on a fresh connection: with it, undici takes a RST mid-body
    // for the body's end, and the check would read `closed` instead of `reset`.
    signal,
  });
  conn.phase = "body";
  // Destroying an unread body errors it; the error is of no interest once the check has its result.
  body.on("error", noop);
  const ranges = spec.status.length > 0 ? spec.status : [{ min: 200, max: 299 }];
  if (!ranges.some((r) => statusCode >= r.min && statusCode <= r.max)) {
    body.destroy();
    return fail(elapsed, "status", `status ${statusCode}`);
  }
  if (spec.expect === undefined && spec.expectRegex === undefined && spec.digest === undefined) {
    // A kept connection is reusable only once its body is consumed; a fresh one is destroyed anyway.
    if (spec.keepalive) await body.dump({ limit: spec.maxBodyBytes });
    else body.destroy();
    return ok(elapsed);
  }
  const bytes = await readBody(body, spec.maxBodyBytes);
  if (spec.expect !== undefined && bytes.indexOf(spec.expect) === -1)
    return fail(elapsed, "body_mismatch", `body lacks ${quote(spec.expect)}`);
  if (spec.expectRegex !== undefined) {
    const re = pattern(spec.expectRegex);
    if (re instanceof Error) return fail(elapsed, "error", `invalid expect_regex: ${re.message}`);
    if (!re.test(bytes.toString("utf8")))
      return fail(elapsed, "body_mismatch", `body does not match /${shorten(spec.expectRegex)}/`);
  }
  if (spec.digest !== undefined) {
    const { algorithm, hex } = spec.digest;
    const got = createHash(algorithm).update(bytes).digest("hex");
    const want = hex.toLowerCase();
    const reason = `digest ${algorithm} ${shorten(got, 12)} ≠ expected ${shorten(want, 12)}`;
    if (got !== want) return fail(elapsed, "digest_mismatch", reason);
  }
  return ok(elapsed);
}

/** At most `max` bytes of the body; the rest is left unread and the body destroyed (so is the connection). */
async function readBody(body: AsyncIterable<Buffer> & { destroy(): void }, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (max > 0) {
    for await (const chunk of body) {
      const take = Math.min(chunk.length, max - size);
      chunks.push(take < chunk.length ? chunk.subarray(0, take) : chunk);
      size += take;
      if (size >= max) break;
    }
  }
  body.destroy();
  return Buffer.concat(chunks, size);
}

function acquire(
  target: CheckTarget,
  spec: HttpCheckConfig,
  options: tls.ConnectionOptions,
  servername: string | undefined,
): Connection {
  const origin = `${spec.type}://${urlHost(target.address)}:${target.port}`;
  if (!spec.keepalive) return open(target, spec, origin, options, servername);
  const key = JSON.stringify([origin, servername ?? null, spec.tls ?? null]);
  let conn = kept.get(key);
  if (conn === undefined || conn.client.destroyed) {
    conn = open(target, spec, origin, options, servername);
    conn.key = key;
    kept.set(key, conn);
  }
  return conn;
}

function open(
  target: CheckTarget,
  spec: HttpCheckConfig,
  origin: string,
  options: tls.ConnectionOptions,
  servername: string | undefined,
): Connection {
  const https = spec.type === "https";
  const sockets = new Set<net.Socket>();
  const conn: Connection = { client: undefined as unknown as Client, sockets, phase: "connect" };
  // Our own connector rather than undici's: it sends exactly our servername (undici would take
  // the Host header's), keeps no TLS session cache (each handshake verifies the certificate anew),
  // arms no connect timer (the check's signal is the one clock) and hands us every socket.
  const connect: buildConnector.connector = (_opts, callback) => {
    conn.phase = "connect";
    conn.socketError = undefined;
    const where = { host: target.address, port: target.port, noDelay: true };
    const socket = https
      ? tls.connect({
          ...options,
          ...where,
          ALPNProtocols: ["http/1.1"],
          ...(servername ? { servername } : {}),
        })
      : net.connect(where);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let pending = true;
    socket.once("connect", () => {
      conn.phase = https ? "tls handshake" : "headers";
    });
    socket.once(https ? "secureConnect" : "connect", () => {
      conn.phase = "headers";
      pending = false;
      callback(null, socket);
    });
    socket.on("error", (err) => {
      conn.socketError ??= err;
      if (!pending) return;
      pending = false;
      socket.destroy();
      callback(err, null);
    });
  };
  // A kept connection must outlive the pause between two runs; the server's Keep-Alive hint still
  // shortens it.
  const idle = Math.max(1000, Math.max(spec.intervalMs, spec.fastIntervalMs) + spec.timeoutMs + 1000);
  conn.client = new Client(origin, {
    connect,
    pipelining: 1,
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: idle,
    keepAliveMaxTimeout: idle,
  });
  return conn;
}

async function destroy(conn: Connection): Promise<void> {
  if (conn.key !== undefined && kept.get(conn.key) === conn) kept.delete(conn.key);
  for (const socket of conn.sockets) socket.destroy();
  await conn.client.destroy().catch(noop);
}

/** The TLS options of a check, or why they could not be had (an unreadable file). */
async function tlsOptions(config: TlsCheckConfig | undefined): Promise<tls.ConnectionOptions | string> {
  const options: tls.ConnectionOptions = { rejectUnauthorized: config?.verify ?? true };
  const wanted = [
    ["ca", "ca_file", config?.caFile],
    ["cert", "cert_file", config?.certFile],
    ["key", "key_file", config?.keyFile],
  ] as const;
  for (const [option, name, path] of wanted) {
    if (path === undefined) continue;
    try {
      options[option] = await readCached(path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return `cannot read ${name} ${path}: ${e.code ?? e.message}`;
    }
  }
  const key = JSON.stringify([config?.caFile ?? null, config?.certFile ?? null, config?.keyFile ?? null]);
  let secureContext = contexts.get(key);
  if (secureContext === undefined) {
    try {
      secureContext = tls.createSecureContext({ ca: options.ca, cert: options.cert, key: options.key });
      contexts.set(key, secureContext);
    } catch {
      // Files tls.connect cannot use either: let it fail there, as it names the problem.
      return options;
    }
  }
  return { rejectUnauthorized: options.rejectUnauthorized, secureContext };
}

function readCached(path: string): Promise<Buffer> {
  let contents = files.get(path);
  if (contents === undefined) {
    contents = readFile(path);
    files.set(path, contents);
    // A failure is not cached: the file may be there by the next run.
    contents.catch(() => files.delete(path));
  }
  return contents;
}

function pattern(source: string): RegExp | Error {
  let re = patterns.get(source);
  if (re === undefined) {
    try {
      re = new RegExp(source);
    } catch (err) {
      re = err as Error;
    }
    patterns.set(source, re);
  }
  return re;
}

/** Host header: the configured one, else the target's address (bracketed if IPv6) and a non-default port. */
function hostHeader(target: CheckTarget, spec: HttpCheckConfig): string {
  if (spec.host !== undefined) return spec.host;
  const defaultPort = spec.type === "https" ? 443 : 80;
  return urlHost(target.address) + (target.port === defaultPort ? "" : `:${target.port}`);
}

/** The DNS name in a Host header ("name", "name:port"), or undefined for an IP literal. */
function dnsName(host: string): string | undefined {
  if (host.startsWith("[")) return undefined;
  const name = host.replace(/:\d*$/, "").replace(/\.$/, "");
  return name === "" || net.isIP(name) !== 0 ? undefined : name;
}

function urlHost(address: string): string {
  return net.isIPv6(address) ? `[${address}]` : address;
}

function shorten(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** undici may wrap the error that happened (in `cause`): the innermost one names it. */
function unwrap(err: unknown, depth = 0): unknown {
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause == null || cause === err || depth > 8 ? err : unwrap(cause, depth + 1);
}

/**
 * Building CheckResults, shared by every checker: the clock a check is timed with, and the
 * mapping of socket and TLS errors to result codes, so that "connection refused" reads the same
 * whichever checker met it.
 */
import type { CheckResult, ResultCode } from "../types.js";

/** A started check's stopwatch (monotonic). */
export function stopwatch(): () => number {
  const start = performance.now();
  return () => Math.round((performance.now() - start) * 1000) / 1000;
}

export function ok(elapsed: () => number, extra: Partial<CheckResult> = {}): CheckResult {
  return { ok: true, code: "ok", reason: "ok", durationMs: elapsed(), ...extra };
}

export function fail(elapsed: () => number, code: ResultCode, reason: string): CheckResult {
  return { ok: false, code, reason, durationMs: elapsed() };
}

/** TLS verification failures by OpenSSL code, named as operators search for them. */
const TLS_REASONS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unknown CA",
  UNABLE_TO_GET_ISSUER_CERT: "unknown CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "unknown CA",
  SELF_SIGNED_CERT_IN_CHAIN: "unknown CA",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  CERT_HAS_EXPIRED: "certificate expired",
  CERT_NOT_YET_VALID: "certificate not yet valid",
  ERR_TLS_CERT_ALTNAME_INVALID: "name mismatch",
  CERT_REVOKED: "certificate revoked",
  ERR_SSL_WRONG_VERSION_NUMBER: "not TLS (wrong version number)",
  // The server's alerts about our client certificate (TLS 1.3 sends them after the handshake,
  // so they surface while the request waits for its reply).
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "client certificate required",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "client certificate rejected",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "client certificate: unknown CA",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: "client certificate expired",
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: "handshake failure",
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: "no common protocol version",
};

/**
 * The code and reason for an error a socket, TLS or HTTP client raised. `aborted` = the check's
 * signal fired (its timeout): that wins over whatever error the abort caused.
 */
export function describeNetError(err: unknown, aborted: boolean): { code: ResultCode; reason: string } {
  if (aborted) return { code: "timeout", reason: "timeout" };
  const e = (err ?? {}) as { code?: unknown; message?: unknown; cause?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : String(err);
  // undici's HTTPParserError carries no code for some parse failures ("Expected HTTP/").
  if (code === "" && (e as { name?: unknown }).name === "HTTPParserError")
    return { code: "protocol", reason: `protocol: ${message}` };
  const tls = TLS_REASONS[code];
  if (tls !== undefined) return { code: "tls", reason: `tls: ${tls}` };
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || /\bSSL\b|\bTLS\b/.test(message))
    return { code: "tls", reason: `tls: ${message}` };
  switch (code) {
    case "ECONNREFUSED":
      return { code: "refused", reason: "refused" };
    case "ECONNRESET":
    case "EPIPE":
      return { code: "reset", reason: "reset" };
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EADDRNOTAVAIL":
      return { code: "unreachable", reason: `unreachable (${code})` };
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return { code: "timeout", reason: "timeout" };
    // A body cut short: undici reports a reset of a Connection: close response this way too.
    case "UND_ERR_RES_CONTENT_LENGTH_MISMATCH":
      return { code: "closed", reason: "closed by the server mid-body" };
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
      // undici wraps the socket's own error; its cause names what happened.
      if (e.cause !== undefined && e.cause !== err) return describeNetError(e.cause, false);
      return { code: "closed", reason: "closed by the server" };
    case "HPE_INVALID_CONSTANT":
    case "HPE_INVALID_STATUS":
    case "HPE_INVALID_VERSION":
    case "HPE_INVALID_HEADER_TOKEN":
      return { code: "protocol", reason: `protocol: not HTTP (${code})` };
    default:
      if (code.startsWith("HPE_")) return { code: "protocol", reason: `protocol: ${code}` };
      return { code: "error", reason: code ? `${code}: ${message}` : message };
  }
}

/**
 * Expected text as a reason shows it: quoted, control characters escaped (a `send`/`expect` is
 * often a protocol line ending in \r\n) and cut at `max` characters so a reason stays one short line.
 */
export function quote(text: string, max = 40): string {
  const shown = text.length > max ? `${text.slice(0, max)}…` : text;
  const escaped = shown.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
  return `'${escaped}'`;
}

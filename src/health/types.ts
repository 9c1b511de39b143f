/**
 * The checker contract (docs/health.md). A checker is a function of (target, spec, signal) that
 * always resolves with a CheckResult: it never throws, never schedules anything, and leaves no
 * socket or process behind once it has resolved. Hysteresis (rise/fall), intervals and fan-out
 * live elsewhere (monitor.ts, scheduler.ts).
 */
import type { ProbeCheckConfig } from "../config/types.js";

/** Where a check connects: the real server, or its connect_address / connect_port override. */
export interface CheckTarget {
  address: string;
  port: number;
  family: 4 | 6;
}

/**
 * Why a check failed (or `ok`). Stable: logs, status, metrics labels and webhooks carry it.
 * - timeout: the check's timeout elapsed (connect, TLS, request or reply)
 * - refused / reset / unreachable: the TCP connection was refused, reset, or had no route
 * - closed: the peer closed before the check had what it needed
 * - status: an HTTP status outside the expected ranges
 * - body_mismatch / digest_mismatch: the HTTP body (or TCP reply) lacked the expected text, or its digest differed
 * - tls: the TLS handshake failed (unknown CA, name mismatch, expired, protocol)
 * - exec_exit / exec_signal / exec_spawn: the command exited non-zero, was killed by a signal, or could not start
 * - agent: the agent said the server is down (or in maintenance)
 * - dns_rcode / dns_no_answer / dns_malformed: the DNS reply had another rcode, no record of the type, or was not a valid reply
 * - protocol: the peer spoke, but not the expected protocol (an HTTP parse error, say)
 * - error: anything else (the reason says what)
 */
export type ResultCode =
  | "ok"
  | "timeout"
  | "refused"
  | "reset"
  | "unreachable"
  | "closed"
  | "status"
  | "body_mismatch"
  | "digest_mismatch"
  | "tls"
  | "exec_exit"
  | "exec_signal"
  | "exec_spawn"
  | "agent"
  | "dns_rcode"
  | "dns_no_answer"
  | "dns_malformed"
  | "protocol"
  | "error";

/** What an agent's reply line said; absent fields change nothing. */
export interface AgentReply {
  /** `N%` / `weight:N%`: a share of the configured weight; `weight:N`: an absolute weight. */
  weight?: { percent: number } | { absolute: number };
  /** `ready` / `drain` (weight 0, still up) / `maint` (out, as if disabled). */
  admin?: "ready" | "drain" | "maint";
  /** `up` / `down`, `fail`, `stopped`: the agent's own opinion of the server's health. */
  health?: "up" | "down";
  /** The text after `#`, if any. */
  reason?: string;
}

export interface CheckResult {
  ok: boolean;
  code: ResultCode;
  /** Human-readable and short: "status 503", "tls: unknown CA", "exec exit 3", "agent: drain". */
  reason: string;
  /** From the check's start to its result (monotonic clock). */
  durationMs: number;
  /** exec with dynamic_weight: the weight the exit code set. */
  weight?: number;
  /** agent checks: what the reply said (ok = the agent answered). */
  agent?: AgentReply;
}

/**
 * A checker of one type. `signal` aborts at the check's timeout (or when the scheduler stops);
 * the checker then resolves promptly with code `timeout` and releases everything it holds.
 */
export type Checker<C extends ProbeCheckConfig = ProbeCheckConfig> = (
  target: CheckTarget,
  spec: C,
  signal: AbortSignal,
) => Promise<CheckResult>;

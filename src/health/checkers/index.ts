/** Dispatch by check type: the one place that knows which module checks what. */
import type { ProbeCheckConfig } from "../../config/types.js";
import type { CheckResult, CheckTarget } from "../types.js";
import { agentCheck } from "./agent.js";
import { dnsCheck } from "./dns.js";
import { execCheck } from "./exec.js";
import { closeKeptConnections, httpCheck } from "./http.js";
import { tcpCheck } from "./tcp.js";

export function runChecker(
  target: CheckTarget,
  spec: ProbeCheckConfig,
  signal: AbortSignal,
): Promise<CheckResult> {
  switch (spec.type) {
    case "tcp":
      return tcpCheck(target, spec, signal);
    case "http":
    case "https":
      return httpCheck(target, spec, signal);
    case "exec":
      return execCheck(target, spec, signal);
    case "agent":
      return agentCheck(target, spec, signal);
    case "dns":
      return dnsCheck(target, spec, signal);
  }
}

/** Releases what checkers keep between runs (keepalive connections). */
export async function closeCheckers(): Promise<void> {
  await closeKeptConnections();
}

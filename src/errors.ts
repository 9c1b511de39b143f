/**
 * Every error vipd raises on purpose carries a stable `code` (for alerts, tests and
 * operators' grep) and a `context` object (what was being done, to what).
 * Codes are UPPER_SNAKE and namespaced by area: CONFIG_*, NETLINK_*, SOCKET_*, IPVS_*, VRRP_*, ALERT_*.
 */
export class VipdError extends Error {
  readonly code: string;
  readonly context: Record<string, unknown>;

  constructor(code: string, message: string, context: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = "VipdError";
    this.code = code;
    this.context = context;
  }
}

/** True when `err` is an Error with the given `code` (VipdError or a Node/system error). */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === code;
}

/** A message for logs and CLI output from anything thrown. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

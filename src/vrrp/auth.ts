import { timingSafeEqual } from "node:crypto";
import { passwordProblem, VRRP_PASSWORD_MAX_BYTES } from "../config/password.js";
import { VipdError } from "../errors.js";

export { VRRP_PASSWORD_MAX_BYTES };

/**
 * VRRPv2 simple-password authentication: RFC 2338 §5.3.6 auth type 1, which RFC 3768 retired
 * but keepalived still speaks (`auth_type PASS`) and most real keepalived pairs use. The 8
 * auth-data bytes after the addresses carry the password, zero-padded; the receiver compares
 * all 8. It proves nothing to an attacker on the link (the password travels in clear): it keeps
 * two pairs that share a VRID apart, which is what deployments rely on it for. See docs/vrrp.md.
 */

export const VRRP_AUTH_NONE = 0;
export const VRRP_AUTH_PASS = 1;
/** IPsec AH (RFC 2338 §5.3.6.3): vipd does not speak it; `check` rejects it. */
export const VRRP_AUTH_AH = 2;

/** The 8 auth-data bytes for `password` (zero-padded). Throws VRRP_PASSWORD_INVALID. */
export function passwordAuthData(password: string): Buffer {
  const problem = passwordProblem(password);
  if (problem !== undefined) throw new VipdError("VRRP_PASSWORD_INVALID", problem, {});
  const data = Buffer.alloc(VRRP_PASSWORD_MAX_BYTES);
  data.write(password, "utf8");
  return data;
}

/** Whether two auth-data fields are equal, in time that does not depend on where they differ. */
export function sameAuthData(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function authTypeName(type: number): string {
  switch (type) {
    case VRRP_AUTH_NONE:
      return "0 (none)";
    case VRRP_AUTH_PASS:
      return "1 (simple password)";
    case VRRP_AUTH_AH:
      return "2 (IPsec AH)";
    default:
      return `${type} (unknown)`;
  }
}

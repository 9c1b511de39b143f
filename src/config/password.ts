/**
 * What a VRRPv2 simple password may be. The advert's auth-data field is 8 bytes (RFC 2338
 * §5.3.10): a longer password cannot be sent (keepalived truncates it, vipd refuses it), and a
 * NUL would end it early for keepalived, which compares C strings' bytes.
 */
export const VRRP_PASSWORD_MAX_BYTES = 8;

/** Why `password` cannot be a VRRPv2 password, or undefined. Never quotes the password. */
export function passwordProblem(password: string): string | undefined {
  const bytes = Buffer.byteLength(password);
  if (bytes === 0) return "the password is empty";
  if (bytes > VRRP_PASSWORD_MAX_BYTES)
    return `the password is ${bytes} bytes; VRRPv2 carries at most ${VRRP_PASSWORD_MAX_BYTES}`;
  if (password.includes("\0")) return "the password contains a NUL byte";
  return undefined;
}

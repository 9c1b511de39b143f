/**
 * keepalived's `authentication { auth_type … auth_pass … }` → vipd's `authentication`, as
 * keepalived 2.2.7 reads it (vrrp_parser.c, checked with `keepalived -t`):
 * - auth_type is compared exactly: `PASS` or `AH`; anything else ("pass") is an error there and
 *   leaves the instance without authentication;
 * - auth_pass is cut to 8 bytes ("Truncating auth_pass to 8 characters") and zero-padded;
 * - auth_type without auth_pass is ignored ("Authentication specified but no password given");
 *   auth_pass without auth_type is ignored without a word;
 * - on VRRPv3 the block is ignored ("VRRP version 3 does not support authentication").
 */
import { passwordProblem, VRRP_PASSWORD_MAX_BYTES } from "../config/password.js";
import type { ConvertTools } from "./checkers.js";
import type { Statement, Word } from "./parse.js";

export interface MigratedAuthentication {
  type: "pass";
  password: string;
}

type Tools = Pick<ConvertTools, "warn" | "notTranslated" | "arg">;

export function migrateAuthentication(
  block: Statement,
  version: 2 | 3,
  tools: Tools,
): MigratedAuthentication | undefined {
  let type: Word | undefined;
  let pass: Word | undefined;
  for (const c of block.block ?? []) {
    if (c.keyword.text === "auth_type") type = tools.arg(c, "PASS or AH") ?? type;
    else if (c.keyword.text === "auth_pass") pass = tools.arg(c, "a password") ?? pass;
    else tools.notTranslated(c);
  }
  if (version === 3) {
    tools.warn(block, "keepalived ignores authentication on VRRPv3 (the RFC has none); dropped");
    return undefined;
  }
  if (type === undefined) {
    if (pass !== undefined)
      tools.warn(
        pass,
        "auth_pass without auth_type: keepalived sends no authentication; dropped",
        "auth_pass",
      );
    return undefined;
  }
  if (type.text === "AH") {
    tools.warn(
      type,
      "IPsec AH authentication is not supported by vipd; dropped. A keepalived peer that keeps it drops vipd's adverts: switch the pair to auth_type PASS (or none) first",
      "auth_type",
    );
    return undefined;
  }
  if (type.text !== "PASS") {
    const hint = type.text.toUpperCase() === "PASS" ? " (it compares case: only PASS means a password)" : "";
    tools.warn(
      type,
      `keepalived rejects auth_type '${type.text}'${hint} and runs without authentication; so does this config`,
      "auth_type",
    );
    return undefined;
  }
  if (pass === undefined) {
    tools.warn(type, "keepalived ignores auth_type PASS without auth_pass; dropped", "auth_type");
    return undefined;
  }
  let password = pass.text;
  const bytes = Buffer.from(password);
  if (bytes.length > VRRP_PASSWORD_MAX_BYTES) {
    const cut = bytes.subarray(0, VRRP_PASSWORD_MAX_BYTES);
    password = cut.toString("utf8");
    if (!Buffer.from(password).equals(cut)) {
      tools.warn(
        pass,
        `keepalived cuts auth_pass to its first ${VRRP_PASSWORD_MAX_BYTES} bytes, which end inside a UTF-8 character here; dropped: write those ${VRRP_PASSWORD_MAX_BYTES} bytes as the password on every peer`,
        "auth_pass",
      );
      return undefined;
    }
    tools.warn(
      pass,
      `longer than ${VRRP_PASSWORD_MAX_BYTES} bytes: keepalived sends only its first ${VRRP_PASSWORD_MAX_BYTES}, and so does this config`,
      "auth_pass",
    );
  }
  const problem = passwordProblem(password);
  if (problem !== undefined) {
    tools.warn(pass, `${problem}; dropped`, "auth_pass");
    return undefined;
  }
  return { type: "pass", password };
}

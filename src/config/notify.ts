/**
 * Notify hooks (keepalived's notify / notify_master / … and notify_up / notify_down): commands
 * vipd runs on a state change. What runs when, and with which arguments, is in docs/hooks.md.
 */
import { readCommand } from "./check-keys.js";
import { DEFAULTS } from "./defaults.js";
import { CONFIG_KEYS } from "./keys.js";
import type { Field, Reader } from "./reader.js";
import type { RealServerNotifyConfig, VrrpNotifyConfig } from "./types.js";

const HOUR_MS = 3_600_000;

/** `notify:` of a VRRP instance or sync group. */
export function readVrrpNotify(r: Reader, field: Field): VrrpNotifyConfig | undefined {
  const map = r.map(
    field,
    CONFIG_KEYS.notify,
    "a notify mapping (master, backup, fault, stop, any, timeout)",
  );
  if (map === undefined) return undefined;
  const errorsBefore = r.errorCount;
  const out: VrrpNotifyConfig = { timeoutMs: readTimeout(r, map.get("timeout")) ?? DEFAULTS.notifyTimeoutMs };
  for (const key of ["master", "backup", "fault", "stop", "any"] as const) {
    const f = map.get(key);
    if (f === undefined) continue;
    const argv = readCommand(r, f, key);
    if (argv !== undefined) out[key] = argv;
  }
  return r.errorCount === errorsBefore ? out : undefined;
}

/** `notify:` of a virtual server (for each of its real servers) or of one real server. */
export function readRealServerNotify(r: Reader, field: Field): RealServerNotifyConfig | undefined {
  const map = r.map(field, CONFIG_KEYS.real_server_notify, "a notify mapping (up, down, timeout)");
  if (map === undefined) return undefined;
  const errorsBefore = r.errorCount;
  const out: RealServerNotifyConfig = {
    timeoutMs: readTimeout(r, map.get("timeout")) ?? DEFAULTS.notifyTimeoutMs,
  };
  for (const key of ["up", "down"] as const) {
    const f = map.get(key);
    if (f === undefined) continue;
    const argv = readCommand(r, f, key);
    if (argv !== undefined) out[key] = argv;
  }
  return r.errorCount === errorsBefore ? out : undefined;
}

function readTimeout(r: Reader, field: Field | undefined): number | undefined {
  return field === undefined ? undefined : r.duration(field, 1, HOUR_MS);
}

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
  return readNotify(r, field, CONFIG_KEYS.notify, ["master", "backup", "fault", "stop", "any"]);
}

/** `notify:` of a virtual server (for each of its real servers) or of one real server. */
export function readRealServerNotify(r: Reader, field: Field): RealServerNotifyConfig | undefined {
  return readNotify(r, field, CONFIG_KEYS.real_server_notify, ["up", "down"]);
}

type NotifyMap<K extends string> = { timeoutMs: number } & Partial<Record<K, string[]>>;

/** A notify mapping: an argv per state key, and a timeout. Undefined when any entry is wrong. */
function readNotify<K extends string>(
  r: Reader,
  field: Field,
  keys: readonly string[],
  states: readonly K[],
): NotifyMap<K> | undefined {
  const map = r.map(field, keys, `a notify mapping (${keys.join(", ")})`);
  if (map === undefined) return undefined;
  const errorsBefore = r.errorCount;
  const commands: Partial<Record<K, string[]>> = {};
  for (const key of states) {
    const f = map.get(key);
    if (f === undefined) continue;
    const argv = readCommand(r, f, key);
    if (argv !== undefined) commands[key] = argv;
  }
  const timeoutMs = readTimeout(r, map.get("timeout")) ?? DEFAULTS.notifyTimeoutMs;
  return r.errorCount === errorsBefore ? { ...commands, timeoutMs } : undefined;
}

function readTimeout(r: Reader, field: Field | undefined): number | undefined {
  return field === undefined ? undefined : r.duration(field, 1, HOUR_MS);
}

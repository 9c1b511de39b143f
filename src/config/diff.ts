/**
 * What a reload changes: diff(old, new) between two validated configs. Pure. Instances, sync
 * groups and virtual servers are matched by name (a rename is a removal plus an addition); real
 * servers by address:port within their virtual server.
 */
import { formatEndpoint } from "./net.js";
import type { RealServerConfig, VipdConfig, VirtualServerConfig, VrrpInstanceConfig } from "./types.js";

/** Instance fields that cannot change on a running instance: it must be stopped and started again. */
export const INSTANCE_RESTART_FIELDS: readonly (keyof VrrpInstanceConfig)[] = [
  "interface",
  "vrid",
  "version",
  "family",
  "sourceAddress",
];

/**
 * Whether a change from `before` to `after` needs the instance stopped and started again: a
 * restart field changed, or address ownership (priority 255) came or went, which changes how the
 * state machine starts. The reload diff and the VRRP worker both decide by this.
 */
export function instanceNeedsRestart(before: VrrpInstanceConfig, after: VrrpInstanceConfig): boolean {
  return (
    INSTANCE_RESTART_FIELDS.some((f) => !deepEqual(before[f], after[f])) ||
    (before.priority === 255) !== (after.priority === 255)
  );
}

/** Service fields that make up its IPVS identity: a change means delete and re-create the service. */
export const SERVICE_IDENTITY_FIELDS: readonly (keyof VirtualServerConfig)[] = [
  "family",
  "address",
  "port",
  "fwmark",
  "protocol",
];

export interface InstanceChange {
  name: string;
  /** Changed fields, in VrrpInstanceConfig order. */
  fields: (keyof VrrpInstanceConfig)[];
  /** A field in INSTANCE_RESTART_FIELDS changed. Otherwise the instance can be updated in place. */
  restart: boolean;
}

export interface RealServerChange {
  /** address:port (`[v6]:port` for IPv6). */
  key: string;
  fields: (keyof RealServerConfig)[];
}

export interface RealServersDiff {
  added: string[];
  removed: string[];
  changed: RealServerChange[];
}

export interface VirtualServerChange {
  name: string;
  /** Changed service fields (real servers are reported apart, in `realServers`). */
  fields: (keyof VirtualServerConfig)[];
  /** A field in SERVICE_IDENTITY_FIELDS changed: the old IPVS service goes, a new one comes. */
  recreate: boolean;
  realServers: RealServersDiff;
}

export interface NamedDiff<C> {
  added: string[];
  removed: string[];
  changed: C[];
}

export interface ConfigDiff {
  /** Anything at all changed. */
  changed: boolean;
  node: boolean;
  log: boolean;
  api: boolean;
  metrics: boolean;
  ipvs: boolean;
  /** The `health` section (state_dir, concurrency); checks themselves change their virtual servers. */
  health: boolean;
  alerts: boolean;
  vrrp: {
    instances: NamedDiff<InstanceChange>;
    /** Names of sync groups added, removed, or whose member list changed. */
    syncGroups: NamedDiff<string>;
    heartbeatTimeout: boolean;
    /** vrrp.track_scripts or vrrp.track_files (the definitions; references change their instances). */
    tracking: boolean;
  };
  virtualServers: NamedDiff<VirtualServerChange>;
}

/** Structural equality for config values (plain objects, arrays, primitives). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Keys of either object whose values differ, in first-seen order; `skip` keys are ignored. */
function changedFields<T extends object>(a: T, b: T, skip: readonly string[] = []): (keyof T)[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !skip.includes(k));
  return keys.filter((k) => !deepEqual(a[k as keyof T], b[k as keyof T])) as (keyof T)[];
}

function byName<T extends { name: string }>(items: readonly T[]): Map<string, T> {
  return new Map(items.map((item) => [item.name, item]));
}

function diffNamed<T extends { name: string }, C>(
  before: readonly T[],
  after: readonly T[],
  compare: (a: T, b: T) => C | undefined,
): NamedDiff<C> {
  const old = byName(before);
  const now = byName(after);
  const out: NamedDiff<C> = { added: [], removed: [], changed: [] };
  for (const item of after) {
    const prior = old.get(item.name);
    if (prior === undefined) out.added.push(item.name);
    else {
      const change = compare(prior, item);
      if (change !== undefined) out.changed.push(change);
    }
  }
  for (const item of before) if (!now.has(item.name)) out.removed.push(item.name);
  return out;
}

export function realServerKey(rs: Pick<RealServerConfig, "address" | "port">): string {
  return formatEndpoint(rs.address, rs.port);
}

/** A virtual server's IPVS identity as text: `tcp 10.0.0.100:80` or `fwmark 66 (IPv4)`. */
export function virtualServerKey(
  vs: Pick<VirtualServerConfig, "fwmark" | "family" | "protocol" | "address" | "port">,
): string {
  if (vs.fwmark !== undefined) return `fwmark ${vs.fwmark} (IPv${vs.family})`;
  return `${vs.protocol} ${formatEndpoint(vs.address ?? "", vs.port ?? 0)}`;
}

export function diffRealServers(
  before: readonly RealServerConfig[],
  after: readonly RealServerConfig[],
): RealServersDiff {
  const old = new Map(before.map((rs) => [realServerKey(rs), rs]));
  const now = new Map(after.map((rs) => [realServerKey(rs), rs]));
  const out: RealServersDiff = { added: [], removed: [], changed: [] };
  for (const [key, rs] of now) {
    const prior = old.get(key);
    if (prior === undefined) out.added.push(key);
    else {
      const fields = changedFields(prior, rs);
      if (fields.length > 0) out.changed.push({ key, fields });
    }
  }
  for (const key of old.keys()) if (!now.has(key)) out.removed.push(key);
  return out;
}

export function diff(before: VipdConfig, after: VipdConfig): ConfigDiff {
  const instances = diffNamed(
    before.vrrp.instances,
    after.vrrp.instances,
    (a, b): InstanceChange | undefined => {
      const fields = changedFields(a, b);
      if (fields.length === 0) return undefined;
      return { name: b.name, fields, restart: instanceNeedsRestart(a, b) };
    },
  );
  const syncGroups = diffNamed(before.vrrp.syncGroups, after.vrrp.syncGroups, (a, b) =>
    deepEqual(a, b) ? undefined : b.name,
  );
  const virtualServers = diffNamed(before.virtualServers, after.virtualServers, (a, b) => {
    const fields = changedFields(a, b, ["realServers"]);
    const realServers = diffRealServers(a.realServers, b.realServers);
    const rsChanged = realServers.added.length + realServers.removed.length + realServers.changed.length > 0;
    if (fields.length === 0 && !rsChanged) return undefined;
    return {
      name: b.name,
      fields,
      recreate: fields.some((f) => SERVICE_IDENTITY_FIELDS.includes(f)),
      realServers,
    } satisfies VirtualServerChange;
  });
  const result: ConfigDiff = {
    changed: false,
    node: before.node !== after.node,
    log: !deepEqual(before.log, after.log),
    api: !deepEqual(before.api, after.api),
    metrics: !deepEqual(before.metrics, after.metrics),
    ipvs: !deepEqual(before.ipvs, after.ipvs),
    health: !deepEqual(before.health, after.health),
    alerts: !deepEqual(before.alerts, after.alerts),
    vrrp: {
      instances,
      syncGroups,
      heartbeatTimeout: before.vrrp.heartbeatTimeoutMs !== after.vrrp.heartbeatTimeoutMs,
      tracking:
        !deepEqual(before.vrrp.trackScripts, after.vrrp.trackScripts) ||
        !deepEqual(before.vrrp.trackFiles, after.vrrp.trackFiles),
    },
    virtualServers,
  };
  const named = [instances, syncGroups, virtualServers].some(
    (d) => d.added.length + d.removed.length + d.changed.length > 0,
  );
  result.changed =
    named ||
    result.node ||
    result.log ||
    result.api ||
    result.metrics ||
    result.ipvs ||
    result.health ||
    result.alerts ||
    result.vrrp.heartbeatTimeout ||
    result.vrrp.tracking;
  return result;
}

/** One line per change, for the reload log: `vrrp instance 'web' changed: priority`. */
export function summarizeDiff(d: ConfigDiff): string[] {
  const lines: string[] = [];
  for (const key of ["node", "log", "api", "metrics", "ipvs", "health", "alerts"] as const) {
    if (d[key]) lines.push(`${key} changed`);
  }
  if (d.vrrp.heartbeatTimeout) lines.push("vrrp.heartbeat_timeout changed");
  if (d.vrrp.tracking) lines.push("vrrp.track_scripts or vrrp.track_files changed");
  for (const name of d.vrrp.instances.added) lines.push(`vrrp instance '${name}' added`);
  for (const name of d.vrrp.instances.removed) lines.push(`vrrp instance '${name}' removed`);
  for (const c of d.vrrp.instances.changed) {
    lines.push(`vrrp instance '${c.name}' changed${c.restart ? " (restart)" : ""}: ${c.fields.join(", ")}`);
  }
  for (const name of d.vrrp.syncGroups.added) lines.push(`sync group '${name}' added`);
  for (const name of d.vrrp.syncGroups.removed) lines.push(`sync group '${name}' removed`);
  for (const name of d.vrrp.syncGroups.changed) lines.push(`sync group '${name}' changed`);
  for (const name of d.virtualServers.added) lines.push(`virtual server '${name}' added`);
  for (const name of d.virtualServers.removed) lines.push(`virtual server '${name}' removed`);
  for (const c of d.virtualServers.changed) {
    if (c.fields.length > 0) {
      lines.push(
        `virtual server '${c.name}' changed${c.recreate ? " (recreate)" : ""}: ${c.fields.join(", ")}`,
      );
    }
    for (const key of c.realServers.added) lines.push(`virtual server '${c.name}': real server ${key} added`);
    for (const key of c.realServers.removed)
      lines.push(`virtual server '${c.name}': real server ${key} removed`);
    for (const rs of c.realServers.changed) {
      lines.push(`virtual server '${c.name}': real server ${rs.key} changed: ${rs.fields.join(", ")}`);
    }
  }
  return lines;
}

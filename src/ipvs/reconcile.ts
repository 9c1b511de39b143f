import { VipdError } from "../errors.js";
import { AttrWriter } from "../netlink/attr.js";
import {
  canonicalDestOptions,
  canonicalServiceOptions,
  IPVS_CMD,
  validateDestFor,
  validateService,
  writeDestPayload,
  writeServicePayload,
} from "./codec.js";
import {
  AF_INET6,
  canonicalDestKey,
  canonicalServiceKey,
  type DestKey,
  type DestOptions,
  destKeyString,
  type IpvsTable,
  type ServiceKey,
  type ServiceOptions,
  serviceKeyString,
} from "./types.js";

/**
 * diff(desired, actual) → ops: the pure half of keeping the kernel's IPVS table equal to
 * "configured services × healthy servers". The client applies the ops in order.
 *
 * Order (each op needs only what the ops before it made):
 *   for each desired service, in desired order:
 *     add_service then its add_dest ops, or
 *     set_service (when options differ), then add_dest, set_dest, del_dest
 *   then del_service for every owned actual service that is no longer desired.
 * New destinations go in before stale ones come out, so a service being re-pointed keeps
 * serving throughout. Removing a service is a single del_service: the kernel unlinks all
 * its destinations with it (__ip_vs_del_service), so del_dest ops there would be redundant
 * round trips.
 *
 * Minimal: options are compared in canonical form (defaults filled, HASHED and bits vipd
 * does not own dropped, IPv4 netmask 255.255.255.255, addresses canonical), so a table that
 * matches produces no ops. An option change is a SET (service or destination, including a
 * change of forwarding method, which edit_dest supports); only an identity change
 * (address, port, protocol, family, fwmark) is a delete plus an add. Stats and connection
 * counts are never compared.
 *
 * Ownership: vipd reconciles every service it declares (desired), whoever created it. An
 * actual service that is not desired is deleted only when `owned(key)` says vipd owns it;
 * otherwise it is left alone and listed in `unowned`.
 */

export interface DiffOptions {
  /** True for services vipd manages (e.g. declared by the current or previous config). */
  owned: (key: ServiceKey) => boolean;
}

export interface DiffResult {
  ops: Op[];
  /** Actual services that are neither desired nor owned: left alone. */
  unowned: ServiceKey[];
}

// ---------------------------------------------------------------------------
// Ops

export class AddService {
  readonly kind = "add_service" as const;
  constructor(
    readonly key: ServiceKey,
    readonly options: ServiceOptions,
  ) {}
  describe(): string {
    return `add service ${serviceKeyString(this.key)}: ${describeServiceOptions(this.key, this.options)}`;
  }
}

export class SetService {
  readonly kind = "set_service" as const;
  constructor(
    readonly key: ServiceKey,
    readonly options: ServiceOptions,
    readonly previous: ServiceOptions,
  ) {}
  describe(): string {
    return `set service ${serviceKeyString(this.key)}: ${serviceChanges(this.key, this.previous, this.options)}`;
  }
}

export class DelService {
  readonly kind = "del_service" as const;
  constructor(
    readonly key: ServiceKey,
    /** How many destinations the kernel drops with it (for the description). */
    readonly destinations: number,
  ) {}
  describe(): string {
    const n = this.destinations;
    const tail = n === 0 ? "" : ` (and its ${n} destination${n === 1 ? "" : "s"})`;
    return `del service ${serviceKeyString(this.key)}${tail}`;
  }
}

export class AddDest {
  readonly kind = "add_dest" as const;
  constructor(
    readonly service: ServiceKey,
    readonly key: Required<DestKey>,
    readonly options: DestOptions,
  ) {}
  describe(): string {
    return `add dest ${destKeyString(this.key)} to ${serviceKeyString(this.service)}: ${describeDestOptions(this.options)}`;
  }
}

export class SetDest {
  readonly kind = "set_dest" as const;
  constructor(
    readonly service: ServiceKey,
    readonly key: Required<DestKey>,
    readonly options: DestOptions,
    readonly previous: DestOptions,
  ) {}
  describe(): string {
    return `set dest ${destKeyString(this.key)} in ${serviceKeyString(this.service)}: ${destChanges(this.previous, this.options)}`;
  }
}

export class DelDest {
  readonly kind = "del_dest" as const;
  constructor(
    readonly service: ServiceKey,
    readonly key: Required<DestKey>,
  ) {}
  describe(): string {
    return `del dest ${destKeyString(this.key)} from ${serviceKeyString(this.service)}`;
  }
}

export type Op = AddService | SetService | DelService | AddDest | SetDest | DelDest;

/** The generic netlink command for an op. */
export function opCommand(op: Op): number {
  switch (op.kind) {
    case "add_service":
      return IPVS_CMD.NEW_SERVICE;
    case "set_service":
      return IPVS_CMD.SET_SERVICE;
    case "del_service":
      return IPVS_CMD.DEL_SERVICE;
    case "add_dest":
      return IPVS_CMD.NEW_DEST;
    case "set_dest":
      return IPVS_CMD.SET_DEST;
    case "del_dest":
      return IPVS_CMD.DEL_DEST;
  }
}

/**
 * Writes an op's attribute payload (after the genl header) into `w`, appended to what it
 * holds: the codec's servicePayload / destPayload bytes. `validated`: the op comes from
 * diff(), which checked every entry it carries, so the checks are skipped (same bytes).
 * Throws, leaving `w` as it was, when the op cannot be encoded.
 */
export function writeOp(op: Op, w: AttrWriter, opts: { validated?: boolean } = {}): AttrWriter {
  const validated = opts.validated === true;
  switch (op.kind) {
    case "add_service":
    case "set_service":
    case "del_service": {
      const start = w.length;
      try {
        return writeServicePayload(w, op.key, op.kind === "del_service" ? undefined : op.options, validated);
      } catch (err) {
        w.reset(start);
        throw err;
      }
    }
    case "add_dest":
    case "set_dest":
      return writeDestPayload(w, op.service, op.key, op.options, validated);
    case "del_dest":
      return writeDestPayload(w, op.service, op.key, undefined, validated);
  }
}

/** The generic netlink command and attribute payload (after the genl header) for an op. */
export function encodeOp(op: Op): { cmd: number; payload: Buffer } {
  return { cmd: opCommand(op), payload: writeOp(op, new AttrWriter()).toBuffer() };
}

// ---------------------------------------------------------------------------
// Descriptions

function flagNames(o: ServiceOptions): string[] {
  const f = o.flags ?? {};
  const out: string[] = [];
  if (f.persistent) out.push("persistent");
  if (f.onePacket) out.push("one-packet");
  if (f.shFallback) out.push("sh-fallback");
  if (f.shPort) out.push("sh-port");
  if (f.mhFallback) out.push("mh-fallback");
  if (f.mhPort) out.push("mh-port");
  if (f.schedBits) out.push(`sched-bits 0x${f.schedBits.toString(16)}`);
  return out;
}

function defaultNetmask(key: ServiceKey): string | number {
  return key.af === AF_INET6 ? 128 : "255.255.255.255";
}

/** "wlc, persistent 300s, netmask 255.255.255.0". Expects canonical options. */
export function describeServiceOptions(key: ServiceKey, o: ServiceOptions): string {
  const parts = [
    o.scheduler,
    ...flagNames(o).map((f) => (f === "persistent" ? `persistent ${o.timeout ?? 0}s` : f)),
  ];
  if (!o.flags?.persistent && o.timeout) parts.push(`timeout ${o.timeout}s`);
  if (o.netmask !== undefined && o.netmask !== defaultNetmask(key)) parts.push(`netmask ${o.netmask}`);
  if (o.pe) parts.push(`pe ${o.pe}`);
  return parts.join(", ");
}

function tunnelWord(o: DestOptions): string {
  const t = o.tunnel;
  if (!t) return "";
  let s = t.type;
  if (t.port) s += `:${t.port}`;
  if (t.flags?.csum) s += " csum";
  if (t.flags?.remcsum) s += " remcsum";
  return s;
}

/** "dr, weight 1", "tun gue:6080 csum, weight 2, thresholds 10..100". Expects canonical options. */
export function describeDestOptions(o: DestOptions): string {
  const fwd = o.forwarding === "tun" ? `tun ${tunnelWord(o)}` : o.forwarding;
  const parts = [fwd, `weight ${o.weight}`];
  if (o.upperThreshold || o.lowerThreshold)
    parts.push(`thresholds ${o.lowerThreshold ?? 0}..${o.upperThreshold ?? 0}`);
  return parts.join(", ");
}

function change(out: string[], what: string, from: unknown, to: unknown): void {
  if (from !== to) out.push(`${what} ${String(from)} → ${String(to)}`);
}

function serviceChanges(key: ServiceKey, from: ServiceOptions, to: ServiceOptions): string {
  const out: string[] = [];
  change(out, "scheduler", from.scheduler, to.scheduler);
  change(out, "flags", flagNames(from).join(" ") || "none", flagNames(to).join(" ") || "none");
  change(out, "timeout", `${from.timeout ?? 0}s`, `${to.timeout ?? 0}s`);
  change(out, "netmask", from.netmask ?? defaultNetmask(key), to.netmask ?? defaultNetmask(key));
  change(out, "pe", from.pe ?? "none", to.pe ?? "none");
  return out.join(", ") || "no change";
}

function destChanges(from: DestOptions, to: DestOptions): string {
  const out: string[] = [];
  change(out, "forwarding", from.forwarding, to.forwarding);
  change(out, "weight", from.weight, to.weight);
  change(out, "upper threshold", from.upperThreshold ?? 0, to.upperThreshold ?? 0);
  change(out, "lower threshold", from.lowerThreshold ?? 0, to.lowerThreshold ?? 0);
  change(out, "tunnel", tunnelWord(from) || "none", tunnelWord(to) || "none");
  return out.join(", ") || "no change";
}

// ---------------------------------------------------------------------------
// diff

interface IndexedDest {
  key: Required<DestKey>;
  options: DestOptions;
}

interface Indexed {
  key: ServiceKey;
  options: ServiceOptions;
  dests: Map<string, IndexedDest>;
}

/** Deep equality for plain data (what canonical options are). */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function index(table: IpvsTable, side: "desired" | "actual"): Map<string, Indexed> {
  const out = new Map<string, Indexed>();
  for (const entry of table) {
    const key = canonicalServiceKey(entry.service.key);
    const ks = serviceKeyString(key);
    if (side === "desired") validateService(key, entry.service.options);
    if (out.has(ks)) {
      throw new VipdError("IPVS_DUPLICATE_SERVICE", `${side} IPVS table lists service ${ks} twice`, {
        side,
        service: ks,
      });
    }
    const dests = new Map<string, IndexedDest>();
    for (const d of entry.destinations) {
      if (side === "desired") validateDestFor(key, d.key, d.options);
      const dk = canonicalDestKey(d.key);
      const ds = destKeyString(dk);
      if (dests.has(ds)) {
        throw new VipdError(
          "IPVS_DUPLICATE_DEST",
          `${side} IPVS table lists destination ${ds} of ${ks} twice`,
          {
            side,
            service: ks,
            dest: ds,
          },
        );
      }
      const options = canonicalDestOptions(d.options);
      // Already canonical (as decoded and desired entries are): keep the entry, no copy.
      dests.set(ds, dk === d.key && options === d.options ? (d as IndexedDest) : { key: dk, options });
    }
    out.set(ks, { key, options: canonicalServiceOptions(key.af, entry.service.options), dests });
  }
  return out;
}

/**
 * The ops that turn `actual` into `desired` (see the module comment for order, minimality
 * and ownership). Throws IPVS_INVALID_* when a desired entry would be rejected by the
 * kernel, and IPVS_DUPLICATE_* when a table names a service or destination twice, before
 * any op is produced: an invalid desired table changes nothing.
 */
export function diff(desired: IpvsTable, actual: IpvsTable, opts: DiffOptions): DiffResult {
  const want = index(desired, "desired");
  const have = index(actual, "actual");
  const ops: Op[] = [];

  for (const [ks, d] of want) {
    const a = have.get(ks);
    if (!a) {
      ops.push(new AddService(d.key, d.options));
      for (const dd of d.dests.values()) ops.push(new AddDest(d.key, dd.key, dd.options));
      continue;
    }
    if (!sameData(d.options, a.options)) ops.push(new SetService(d.key, d.options, a.options));
    const adds: Op[] = [];
    const sets: Op[] = [];
    const dels: Op[] = [];
    for (const [ds, dd] of d.dests) {
      const ad = a.dests.get(ds);
      if (!ad) adds.push(new AddDest(d.key, dd.key, dd.options));
      else if (!sameData(dd.options, ad.options))
        sets.push(new SetDest(d.key, dd.key, dd.options, ad.options));
    }
    for (const [ds, ad] of a.dests) {
      if (!d.dests.has(ds)) dels.push(new DelDest(d.key, ad.key));
    }
    ops.push(...adds, ...sets, ...dels);
  }

  const unowned: ServiceKey[] = [];
  for (const [ks, a] of have) {
    if (want.has(ks)) continue;
    if (opts.owned(a.key)) ops.push(new DelService(a.key, a.dests.size));
    else unowned.push(a.key);
  }
  return { ops, unowned };
}

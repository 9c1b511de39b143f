/**
 * Health check blocks. A `check:` is one mapping or a list of them (the server is up only when
 * every check is up). A virtual server's `check` is the default for its real servers. When both
 * are single mappings, a real server's overrides the service's key by key, and naming a different
 * `type` keeps only the timing keys; when either is a list, the real server's replaces it whole.
 * `type: none` alone means no checking (an empty list of checks).
 */
import { isMap, isSeq } from "yaml";
import {
  APPLICABLE,
  CHECK_TYPES,
  type CheckKey,
  decodeEscapes,
  KEY_READERS,
  TIMING_KEYS,
  TLS_KEYS,
} from "./check-keys.js";
import { DEFAULTS } from "./defaults.js";
import { formatDuration } from "./duration.js";
import { CONFIG_KEYS } from "./keys.js";
import { ipFamily } from "./net.js";
import { describe, type Field, type MapReader, type Reader } from "./reader.js";
import type {
  AddressFamily,
  AgentCheckConfig,
  CheckBase,
  CheckTiming,
  CheckType,
  DnsCheckConfig,
  ExecCheckConfig,
  HttpCheckConfig,
  ProbeCheckConfig,
  StatusRange,
  TcpCheckConfig,
  TlsCheckConfig,
} from "./types.js";

/** A check block whose keys were each validated on their own; merging and defaults come later. */
export interface CheckDraft {
  readonly map: MapReader;
  readonly values: Partial<Record<CheckKey, unknown>>;
  readonly fields: Partial<Record<CheckKey, Field>>;
  /** Keys that were present but invalid (already reported). */
  readonly invalid: ReadonlySet<CheckKey>;
}

/** A `check:` as written: one mapping, or a list of them. */
export type CheckSpec =
  | { readonly kind: "one"; readonly draft: CheckDraft }
  | { readonly kind: "list"; readonly drafts: readonly CheckDraft[] };

/** A probing check and where it was written (for errors that depend on the real server). */
export interface ResolvedCheck {
  readonly check: ProbeCheckConfig;
  /** The mapping written last among those merged into it. */
  readonly map: MapReader;
  readonly addressField?: Field;
}

/** The service level, as real servers inherit it. */
export interface ServiceChecks {
  /** The service's `check`; undefined when it has none. */
  readonly field?: Field;
  readonly spec?: CheckSpec;
  /** Undefined when the service's check is broken (already reported). */
  readonly checks?: readonly ResolvedCheck[];
}

const NONE = "none" as const;

export function readCheckSpec(r: Reader, field: Field): CheckSpec | undefined {
  if (!isSeq(field.node)) {
    if (!isMap(field.node))
      return r.fail(field, `expected a check mapping or a list of them, got ${describe(field.node)}`);
    const draft = readCheckDraft(r, field);
    return draft === undefined ? undefined : { kind: "one", draft };
  }
  const items = r.list(field, "a list of checks") ?? [];
  if (items.length === 0)
    return r.fail(field, "a list of checks needs at least one (for no checking write check: { type: none })");
  const drafts: CheckDraft[] = [];
  for (const item of items) {
    const draft = readCheckDraft(r, item, "a check mapping");
    if (draft !== undefined) drafts.push(draft);
  }
  return drafts.length === items.length ? { kind: "list", drafts } : undefined;
}

function readCheckDraft(r: Reader, field: Field, what?: string): CheckDraft | undefined {
  const map = r.map(field, CONFIG_KEYS.check, what);
  if (map === undefined) return undefined;
  const values: Partial<Record<CheckKey, unknown>> = {};
  const fields: Partial<Record<CheckKey, Field>> = {};
  const invalid = new Set<CheckKey>();
  const both = map.has("port") && map.has("connect_port");
  for (const key of CONFIG_KEYS.check) {
    const f = map.get(key);
    if (f === undefined) continue;
    // `port` is the older name of `connect_port`: one setting, so it merges and wins as one.
    const slot: CheckKey = key === "port" ? "connect_port" : key;
    if (key === "port" && both) {
      r.error(
        f.key ?? f.node,
        f.path,
        "'port' and 'connect_port' are the same setting; give only connect_port",
      );
      invalid.add(slot);
      continue;
    }
    fields[slot] = f;
    const value = KEY_READERS[key](r, f);
    if (value === undefined) invalid.add(slot);
    else values[slot] = value;
  }
  return { map, values, fields, invalid };
}

/** A service's checks on their own (as the virtual server states them). */
export function resolveSpec(r: Reader, spec: CheckSpec): ResolvedCheck[] | undefined {
  if (spec.kind === "one") return asList(resolveCheck(r, [spec.draft]));
  const out: ResolvedCheck[] = [];
  let ok = true;
  for (const draft of spec.drafts) {
    const check = resolveCheck(r, [draft]);
    if (check === NONE) {
      const at = draft.fields.type as Field;
      r.error(at.node, at.path, "'none' cannot be one of several checks: write check: { type: none } alone");
      ok = false;
    } else if (check === undefined) ok = false;
    else out.push(check);
  }
  return ok ? out : undefined;
}

/** A real server's effective checks: its own `check` (merged over the service's when both are single mappings), else the service's. */
export function realServerChecks(
  r: Reader,
  field: Field | undefined,
  service: ServiceChecks,
): ResolvedCheck[] | undefined {
  if (field === undefined) {
    if (service.field === undefined) return [];
    return service.checks?.map((c) => ({ ...c, check: structuredClone(c.check) }));
  }
  const own = readCheckSpec(r, field);
  if (own === undefined) return undefined;
  if (own.kind === "one" && service.spec?.kind === "one") {
    // A broken service check was reported at the service; merging over it would repeat that.
    if (service.checks === undefined) return undefined;
    return asList(resolveCheck(r, [service.spec.draft, own.draft]));
  }
  return resolveSpec(r, own);
}

/**
 * Rules that depend on the real server: a connect_address of its family, and a port to check
 * (a fwmark service's real servers have none unless given; exec needs none, dns falls back to 53).
 */
export function checkRealServer(
  r: Reader,
  checks: readonly ResolvedCheck[],
  rs: { address: string; family: AddressFamily; port: number; map: MapReader },
): void {
  checks.forEach(({ check, addressField }, i) => {
    const address = check.connectAddress;
    const family = address === undefined ? undefined : ipFamily(address);
    if (addressField !== undefined && family !== undefined && family !== rs.family) {
      r.fail(
        addressField,
        `connect_address ${address} is IPv${family} but real server ${rs.address} is IPv${rs.family}`,
      );
    }
    if (rs.port !== 0 || check.connectPort !== undefined || check.type === "exec" || check.type === "dns")
      return;
    r.error(
      rs.map.field.node,
      rs.map.field.path,
      checks.length === 1
        ? "this real server has no port to check: set its 'port' or the check's 'connect_port'"
        : `this real server has no port for check ${i + 1} (${check.type}): set its 'port' or that check's 'connect_port'`,
    );
  });
}

function asList(check: ResolvedCheck | typeof NONE | undefined): ResolvedCheck[] | undefined {
  return check === undefined ? undefined : check === NONE ? [] : [check];
}

/** The winning value of a key, its field, and the index of the draft it came from. */
interface Picked {
  value: unknown;
  field: Field;
  from: number;
}

interface Picker {
  pick(key: CheckKey): Picked | undefined;
  value<T>(key: CheckKey): T | undefined;
}

/**
 * The effective check from drafts ordered base first (the virtual server's), override last.
 * Reports a missing type, keys that do not apply to the type, and timing that does not add up.
 */
function resolveCheck(r: Reader, drafts: readonly CheckDraft[]): ResolvedCheck | typeof NONE | undefined {
  const last = drafts[drafts.length - 1] as CheckDraft;
  if (drafts.some((d) => d.invalid.has("type"))) return undefined;
  // The effective type, and from which drafts each key may come.
  let type: CheckType | undefined;
  let contributors: { draft: CheckDraft; timingOnly: boolean }[] = [];
  for (const draft of drafts) {
    const own = draft.values.type as CheckType | undefined;
    if (own !== undefined && own !== type) {
      // A new type keeps only the timing keys of what came before ('none' keeps nothing).
      contributors = own === "none" ? [] : contributors.map((c) => ({ ...c, timingOnly: true }));
      type = own;
    }
    contributors.push({ draft, timingOnly: false });
  }
  if (type === undefined) {
    const types = CHECK_TYPES.slice(0, -1).join(", ");
    r.error(last.map.field.node, `${last.map.field.path}.type`, `a check needs a 'type' (${types} or none)`);
    return undefined;
  }
  const pick = (key: CheckKey): Picked | undefined => {
    let found: Picked | undefined;
    contributors.forEach(({ draft, timingOnly }, from) => {
      if (timingOnly && !(TIMING_KEYS as readonly string[]).includes(key)) return;
      const field = draft.fields[key];
      if (field !== undefined) found = { value: draft.values[key], field, from };
    });
    return found;
  };
  const p: Picker = { pick, value: <T>(key: CheckKey) => pick(key)?.value as T | undefined };
  // Invalid keys were reported when the drafts were read; still look for inapplicable keys.
  let ok = contributors.every(({ draft }) => draft.invalid.size === 0);
  if (!reportInapplicable(r, type, p)) ok = false;
  if (!ok) return undefined;
  if (type === "none") return NONE;

  const base = checkBase(r, p);
  if (base === undefined) return undefined;
  const at = { r, p, map: last.map };
  const check = buildCheck(type, base, at);
  if (check === undefined) return undefined;
  const addressField = pick("connect_address")?.field;
  return { check, map: last.map, ...(addressField === undefined ? {} : { addressField }) };
}

function reportInapplicable(r: Reader, type: CheckType, p: Picker): boolean {
  let ok = true;
  for (const key of CONFIG_KEYS.check) {
    const picked = p.pick(key);
    if (picked === undefined || APPLICABLE[type].includes(key)) continue;
    // Name the key as written (`port` is kept as connect_port).
    const written = String((picked.field.key as { value?: unknown } | undefined)?.value ?? key);
    const why = (TLS_KEYS as readonly string[]).includes(key)
      ? "applies only to https checks"
      : `does not apply to ${article(type)} '${type}' check`;
    r.error(picked.field.key ?? picked.field.node, picked.field.path, `'${written}' ${why}`);
    ok = false;
  }
  return ok;
}

function article(type: CheckType): string {
  return type === "tcp" || type === "dns" || type === "none" ? "a" : "an";
}

function checkBase(r: Reader, p: Picker): CheckBase | undefined {
  const timing = checkTiming(r, p);
  if (timing === undefined) return undefined;
  const connectAddress = p.value<string>("connect_address");
  const connectPort = p.value<number>("connect_port");
  return {
    ...timing,
    ...(connectAddress === undefined ? {} : { connectAddress }),
    ...(connectPort === undefined ? {} : { connectPort }),
    initial: p.value<"up" | "down">("initial") ?? DEFAULTS.check.initial,
  };
}

/** Timing with its defaults; timeout within interval and fast_interval, down_interval at least interval. */
function checkTiming(r: Reader, p: Picker): CheckTiming | undefined {
  const intervalMs = p.value<number>("interval") ?? DEFAULTS.check.intervalMs;
  const fastIntervalMs = p.value<number>("fast_interval") ?? intervalMs;
  const downIntervalMs = p.value<number>("down_interval") ?? intervalMs;
  const timeoutMs = p.value<number>("timeout") ?? DEFAULTS.check.timeoutMs;
  const d = formatDuration;
  // Blame the key written last (an override's interval can clash with an inherited timeout).
  const conflict = (a: CheckKey, b: CheckKey, message: string): false => {
    const pa = p.pick(a);
    const pb = p.pick(b);
    const at = pa === undefined || (pb !== undefined && pb.from > pa.from) ? pb : pa;
    if (at !== undefined) r.error(at.field.node, at.field.path, message);
    return false;
  };
  let ok = true;
  if (timeoutMs > intervalMs)
    ok = conflict("timeout", "interval", `timeout ${d(timeoutMs)} is longer than interval ${d(intervalMs)}`);
  if (p.pick("fast_interval") !== undefined && timeoutMs > fastIntervalMs) {
    const message = `timeout ${d(timeoutMs)} is longer than fast_interval ${d(fastIntervalMs)}`;
    ok = conflict("timeout", "fast_interval", message);
  }
  if (downIntervalMs < intervalMs) {
    const message = `down_interval ${d(downIntervalMs)} is shorter than interval ${d(intervalMs)}`;
    ok = conflict("down_interval", "interval", message);
  }
  if (!ok) return undefined;
  return {
    intervalMs,
    fastIntervalMs,
    downIntervalMs,
    timeoutMs,
    rise: p.value<number>("rise") ?? DEFAULTS.check.rise,
    fall: p.value<number>("fall") ?? DEFAULTS.check.fall,
  };
}

interface BuildContext {
  r: Reader;
  p: Picker;
  /** Where a missing required key is reported. */
  map: MapReader;
}

function buildCheck(
  type: Exclude<CheckType, "none">,
  base: CheckBase,
  at: BuildContext,
): ProbeCheckConfig | undefined {
  switch (type) {
    case "http":
    case "https":
      return httpCheck(type, base, at);
    case "tcp":
      return tcpCheck(base, at);
    case "exec":
      return execCheck(base, at);
    case "agent":
      return agentCheck(base, at);
    case "dns":
      return dnsCheck(base, at);
  }
}

function missing(at: BuildContext, key: CheckKey, message: string): undefined {
  at.r.error(at.map.field.node, `${at.map.field.path}.${key}`, message);
  return undefined;
}

function optional<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}

function httpCheck(type: "http" | "https", base: CheckBase, at: BuildContext): HttpCheckConfig | undefined {
  const { p } = at;
  const tls = type === "https" ? tlsConfig(at) : undefined;
  if (type === "https" && tls === undefined) return undefined;
  const status = p.value<StatusRange[]>("status") ?? DEFAULTS.check.status;
  return {
    type,
    ...base,
    method: p.value<string>("method") ?? DEFAULTS.check.method,
    path: p.value<string>("path") ?? DEFAULTS.check.path,
    ...optional("host", p.value<string>("host")),
    headers: { ...(p.value<Record<string, string>>("headers") ?? {}) },
    status: status.map((s) => ({ ...s })),
    ...optional("expect", p.value<string>("expect")),
    ...optional("expectRegex", p.value<string>("expect_regex")),
    ...optional("digest", p.value<HttpCheckConfig["digest"]>("digest")),
    maxBodyBytes: p.value<number>("max_body") ?? DEFAULTS.check.maxBodyBytes,
    keepalive: p.value<boolean>("keepalive") ?? DEFAULTS.check.keepalive,
    ...optional("tls", tls),
  };
}

function tlsConfig({ r, p }: BuildContext): TlsCheckConfig | undefined {
  const cert = p.pick("cert_file");
  const key = p.pick("key_file");
  // A client certificate is useless without its key, and a key alone says nothing.
  const lone =
    cert !== undefined && key === undefined
      ? cert
      : key !== undefined && cert === undefined
        ? key
        : undefined;
  if (lone !== undefined) {
    const [has, needs] = lone === cert ? ["cert_file", "key_file"] : ["key_file", "cert_file"];
    r.error(
      lone.field.key ?? lone.field.node,
      lone.field.path,
      `${has} needs ${needs} too (a client certificate and its key)`,
    );
    return undefined;
  }
  return {
    verify: p.value<boolean>("tls_verify") ?? DEFAULTS.check.tlsVerify,
    ...optional("caFile", p.value<string>("ca_file")),
    ...optional("sni", p.value<string>("sni")),
    ...optional("certFile", cert?.value as string | undefined),
    ...optional("keyFile", key?.value as string | undefined),
  };
}

function tcpCheck(base: CheckBase, { r, p }: BuildContext): TcpCheckConfig | undefined {
  const send = p.pick("send");
  let decoded: string | undefined;
  if (send !== undefined) {
    const result = decodeEscapes(send.value as string);
    if (!result.ok) return r.fail(send.field, `send: ${result.reason}`);
    decoded = result.value;
  }
  return {
    type: "tcp",
    ...base,
    ...optional("send", decoded),
    ...optional("expect", p.value<string>("expect")),
  };
}

function execCheck(base: CheckBase, at: BuildContext): ExecCheckConfig | undefined {
  const command = at.p.value<string[]>("command");
  if (command === undefined)
    return missing(at, "command", "an exec check needs a 'command' (a list: program and arguments)");
  return {
    type: "exec",
    ...base,
    command: [...command],
    dynamicWeight: at.p.value<boolean>("dynamic_weight") ?? DEFAULTS.check.dynamicWeight,
  };
}

function agentCheck(base: CheckBase, at: BuildContext): AgentCheckConfig | undefined {
  if (base.connectPort === undefined)
    return missing(
      at,
      "connect_port",
      "an agent check needs a 'connect_port' (the agent listens on a port of its own)",
    );
  const send = at.p.pick("send");
  // The agent protocol is one line each way; vipd adds the newline.
  if (send !== undefined && /[\r\n]/.test(send.value as string))
    return at.r.fail(send.field, "an agent check's send is one line: it must not contain a line break");
  return { type: "agent", ...base, ...optional("send", send?.value as string | undefined) };
}

function dnsCheck(base: CheckBase, at: BuildContext): DnsCheckConfig | undefined {
  const name = at.p.value<string>("name");
  if (name === undefined) return missing(at, "name", "a dns check needs a 'name' to resolve");
  return {
    type: "dns",
    ...base,
    name,
    recordType: at.p.value<DnsCheckConfig["recordType"]>("record") ?? DEFAULTS.check.recordType,
    rcode: at.p.value<DnsCheckConfig["rcode"]>("rcode") ?? DEFAULTS.check.rcode,
  };
}

/**
 * Health check blocks. A virtual server's `check` is the default for its real servers; a real
 * server's `check` overrides it key by key. When the override names a different `type`, only
 * the timing keys (interval, timeout, rise, fall) are inherited.
 */
import { isScalar, isSeq } from "yaml";
import { DEFAULTS } from "./defaults.js";
import { formatDuration } from "./duration.js";
import { CONFIG_KEYS } from "./keys.js";
import { describe, type Field, type MapReader, type Reader } from "./reader.js";
import type { CheckConfig, CheckType, StatusRange } from "./types.js";

export const CHECK_TYPES: readonly CheckType[] = ["http", "https", "tcp", "none"];
const TIMING_KEYS = ["interval", "timeout", "rise", "fall"] as const;
const HTTP_KEYS = ["path", "status", "host", "expect", "tls_verify"] as const;
const MAX_INTERVAL_MS = 3_600_000;

type CheckKey = (typeof CONFIG_KEYS.check)[number];

/** A check block whose keys were each validated on their own; merging and defaults come later. */
export interface CheckDraft {
  readonly map: MapReader;
  readonly values: Partial<Record<CheckKey, unknown>>;
  readonly fields: Partial<Record<CheckKey, Field>>;
  /** Keys that were present but invalid (already reported). */
  readonly invalid: ReadonlySet<CheckKey>;
}

export function readCheckDraft(r: Reader, field: Field): CheckDraft | undefined {
  const map = r.map(field, CONFIG_KEYS.check);
  if (map === undefined) return undefined;
  const values: Partial<Record<CheckKey, unknown>> = {};
  const fields: Partial<Record<CheckKey, Field>> = {};
  const invalid = new Set<CheckKey>();
  const read = (key: CheckKey, parse: (f: Field) => unknown): void => {
    const f = map.get(key);
    if (f === undefined) return;
    fields[key] = f;
    const value = parse(f);
    if (value === undefined) invalid.add(key);
    else values[key] = value;
  };
  read("type", (f) => r.oneOf(f, CHECK_TYPES, "check type"));
  read("port", (f) => r.integer(f, 1, 65535, "a port"));
  read("path", (f) => {
    const path = r.string(f, "a URL path");
    if (path !== undefined && !path.startsWith("/")) return r.fail(f, `path '${path}' must start with '/'`);
    if (path !== undefined && /\s/.test(path)) return r.fail(f, `path '${path}' must not contain spaces`);
    return path;
  });
  read("status", (f) => readStatus(r, f));
  read("host", (f) => {
    const host = r.string(f, "a Host header value");
    if (host !== undefined && /\s/.test(host)) return r.fail(f, `host '${host}' must not contain spaces`);
    return host;
  });
  read("expect", (f) => r.string(f, "a string the response body must contain"));
  read("tls_verify", (f) => r.boolean(f));
  read("interval", (f) => r.duration(f, 10, MAX_INTERVAL_MS));
  read("timeout", (f) => r.duration(f, 10, MAX_INTERVAL_MS));
  read("rise", (f) => r.integer(f, 1, 1000));
  read("fall", (f) => r.integer(f, 1, 1000));
  return { map, values, fields, invalid };
}

/** `[200-299]`, `[200, 301]`, `200`, `[2xx, 301]` → inclusive ranges. */
function readStatus(r: Reader, field: Field): StatusRange[] | undefined {
  const items: Field[] = isSeq(field.node) ? (r.list(field) ?? []) : [field];
  if (isSeq(field.node) && items.length === 0)
    return r.fail(field, "status needs at least one code or range");
  const out: StatusRange[] = [];
  let ok = true;
  for (const item of items) {
    const range = readStatusItem(r, item);
    if (range === undefined) ok = false;
    else out.push(range);
  }
  return ok ? out : undefined;
}

function readStatusItem(r: Reader, item: Field): StatusRange | undefined {
  const value = isScalar(item.node) ? item.node.value : undefined;
  const inRange = (code: number): boolean => Number.isInteger(code) && code >= 100 && code <= 599;
  if (typeof value === "number") {
    if (!inRange(value)) return r.fail(item, `HTTP status ${value} is out of range (100..599)`);
    return { min: value, max: value };
  }
  if (typeof value === "string") {
    const family = /^([1-5])xx$/i.exec(value);
    if (family) return { min: Number(family[1]) * 100, max: Number(family[1]) * 100 + 99 };
    const span = /^(\d{3})\s*-\s*(\d{3})$/.exec(value);
    if (span) {
      const min = Number(span[1]);
      const max = Number(span[2]);
      if (!inRange(min) || !inRange(max))
        return r.fail(item, `status range '${value}' is out of range (100..599)`);
      if (min > max) return r.fail(item, `status range '${value}' is backwards`);
      return { min, max };
    }
  }
  return r.fail(
    item,
    `expected an HTTP status code or range such as 200, 200-299 or 2xx, got ${describe(item.node)}`,
  );
}

/**
 * The effective check from drafts ordered base first (the virtual server's), override last.
 * Reports a missing type, keys that do not apply to the type, and a timeout longer than the interval.
 */
export function resolveCheck(r: Reader, drafts: readonly CheckDraft[]): CheckConfig | undefined {
  const last = drafts[drafts.length - 1];
  if (last === undefined) return { type: "none" };
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
    r.error(
      last.map.field.node,
      `${last.map.field.path}.type`,
      "a check needs a 'type' (http, https, tcp or none)",
    );
    return undefined;
  }
  /** The winning value of a key, its field, and the index of the draft it came from. */
  const pick = (key: CheckKey): { value: unknown; field: Field; from: number } | undefined => {
    let found: { value: unknown; field: Field; from: number } | undefined;
    contributors.forEach(({ draft, timingOnly }, from) => {
      if (timingOnly && !(TIMING_KEYS as readonly string[]).includes(key)) return;
      const field = draft.fields[key];
      if (field !== undefined) found = { value: draft.values[key], field, from };
    });
    return found;
  };
  // Invalid keys were reported when the drafts were read; still look for inapplicable keys.
  let ok = contributors.every(({ draft }) => draft.invalid.size === 0);
  const applicable: readonly CheckKey[] =
    type === "none"
      ? ["type"]
      : type === "tcp"
        ? ["type", "port", ...TIMING_KEYS]
        : type === "http"
          ? ["type", "port", ...TIMING_KEYS, "path", "status", "host", "expect"]
          : ["type", "port", ...TIMING_KEYS, ...HTTP_KEYS];
  for (const key of CONFIG_KEYS.check) {
    const picked = pick(key);
    if (picked === undefined || applicable.includes(key)) continue;
    const why = key === "tls_verify" ? "applies only to https checks" : `does not apply to a '${type}' check`;
    r.error(picked.field.key ?? picked.field.node, picked.field.path, `'${key}' ${why}`);
    ok = false;
  }
  if (!ok) return undefined;
  if (type === "none") return { type };

  const value = <T>(key: CheckKey, fallback: T): T => (pick(key)?.value as T | undefined) ?? fallback;
  const intervalMs = value("interval", DEFAULTS.check.intervalMs);
  const timeoutMs = value("timeout", DEFAULTS.check.timeoutMs);
  if (timeoutMs > intervalMs) {
    // Blame the key written last (an override's interval can clash with an inherited timeout).
    const timeout = pick("timeout");
    const interval = pick("interval");
    const at =
      timeout === undefined || (interval !== undefined && interval.from > timeout.from) ? interval : timeout;
    const message = `timeout ${formatDuration(timeoutMs)} is longer than interval ${formatDuration(intervalMs)}`;
    if (at !== undefined) r.error(at.field.node, at.field.path, message);
    return undefined;
  }
  const timing = {
    intervalMs,
    timeoutMs,
    rise: value("rise", DEFAULTS.check.rise),
    fall: value("fall", DEFAULTS.check.fall),
  };
  const port = pick("port")?.value as number | undefined;
  if (type === "tcp") return port === undefined ? { type, ...timing } : { type, port, ...timing };
  const host = pick("host")?.value as string | undefined;
  const expect = pick("expect")?.value as string | undefined;
  return {
    type,
    ...timing,
    ...(port === undefined ? {} : { port }),
    path: value("path", DEFAULTS.check.path),
    status: value(
      "status",
      DEFAULTS.check.status.map((s) => ({ ...s })),
    ),
    ...(host === undefined ? {} : { host }),
    ...(expect === undefined ? {} : { expect }),
    tlsVerify: value("tls_verify", DEFAULTS.check.tlsVerify),
  };
}

/**
 * parseConfig: YAML text → a validated, defaulted VipdConfig, or every problem found, each at
 * FILE:LINE:COL. Pure: it reads no files (the caller passes the text and the name to report).
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { LineCounter, parseDocument } from "yaml";
import { DEFAULTS } from "./defaults.js";
import type { ConfigIssue } from "./issues.js";
import { CONFIG_KEYS } from "./keys.js";
import { parseListenAddress } from "./net.js";
import { type Field, MapReader, Reader } from "./reader.js";
import { readVirtualServers } from "./services.js";
import { didYouMean } from "./suggest.js";
import {
  ALERT_EVENTS,
  type AlertEvent,
  type AlertsConfig,
  type HealthConfig,
  type IpvsConfig,
  type LogLevel,
  type VipdConfig,
  type WebhookConfig,
} from "./types.js";
import { type ReadConfigFile, readInterfaceName, readVrrp } from "./vrrp.js";

export type ConfigResult =
  | { ok: true; config: VipdConfig; errors: []; warnings: ConfigIssue[] }
  | { ok: false; config?: undefined; errors: ConfigIssue[] };

export interface ParseOptions {
  /** The default for `node` (default: os.hostname()). */
  hostname?: string;
  /** Reads the files the config names (password_file); default: fs.readFileSync as UTF-8. */
  readFile?: ReadConfigFile;
}

const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export function parseConfig(text: string, fileName: string, options: ParseOptions = {}): ConfigResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const r = new Reader(fileName, doc, lineCounter);
  // Syntax errors make the tree unreliable: report them (and only them).
  for (const problem of [...doc.errors, ...doc.warnings]) {
    r.errorAtOffset(problem.pos[0], "", yamlMessage(problem.message));
  }
  if (r.errorCount > 0) return { ok: false, errors: r.issues };

  const root = r.root();
  if (root === undefined) {
    r.errorAtOffset(0, "", "the config is empty");
    return { ok: false, errors: r.issues };
  }
  const map = r.map(root, CONFIG_KEYS.root, "a mapping of settings (node, vrrp, virtual_servers, ...)");
  if (map === undefined) return { ok: false, errors: r.issues };

  const node = readNode(r, map, options);
  const level = readSection(r, map, "log", (m) => {
    const f = m.get("level");
    return f === undefined ? DEFAULTS.logLevel : r.oneOf(f, LOG_LEVELS, "log level");
  });
  const socket = readSection(r, map, "api", (m) => {
    const f = m.get("socket");
    return f === undefined ? DEFAULTS.apiSocket : readSocketPath(r, f);
  });
  const listen = readSection(r, map, "metrics", (m) => {
    const f = m.get("listen");
    if (f === undefined) return null;
    const text = r.string(f, "host:port");
    if (text === undefined) return undefined;
    const parsed = parseListenAddress(text);
    return parsed.ok ? parsed.value : r.fail(f, parsed.reason);
  });
  const { vrrp, instanceNames } = readVrrp(
    r,
    map.get("vrrp"),
    options.readFile ?? ((path) => readFileSync(path, "utf8")),
  );
  const virtualServers = readVirtualServers(r, map.get("virtual_servers"));
  const ipvs = readIpvs(r, map.get("ipvs"), instanceNames);
  const health = readSection(r, map, "health", (m) => readHealth(r, m));
  const alerts = readAlerts(r, map.get("alerts"));

  if (r.errorCount === 0 && vrrp.instances.length === 0 && virtualServers.length === 0) {
    r.error(root.node, "", "nothing to do: the config has no vrrp.instances and no virtual_servers");
  }
  if (r.errorCount > 0) return { ok: false, errors: r.issues };
  return {
    ok: true,
    errors: [],
    warnings: r.warnings,
    config: {
      node: node as string,
      log: { level: level as LogLevel },
      api: { socket: socket as string },
      metrics: listen === null || listen === undefined ? {} : { listen },
      vrrp,
      ipvs: ipvs as IpvsConfig,
      health: health as HealthConfig,
      virtualServers,
      alerts: alerts as AlertsConfig,
    },
  };
}

/** The yaml package's messages, minus its advice to call other functions of its API. */
function yamlMessage(message: string): string {
  if (message.startsWith("Source contains multiple documents"))
    return "expected one YAML document, found several";
  return `YAML: ${message}`;
}

function readNode(r: Reader, map: MapReader, options: ParseOptions): string | undefined {
  const f = map.get("node");
  if (f === undefined) return options.hostname ?? hostname();
  const name = r.string(f, "a node name");
  if (name !== undefined && /\s/.test(name))
    return r.fail(f, `node name '${name}' must not contain whitespace`);
  return name;
}

/** Opens an optional mapping section and reads it; the reader is called with an empty map when absent. */
function readSection<T>(
  r: Reader,
  map: MapReader,
  key: "log" | "api" | "metrics" | "health",
  read: (m: MapReader) => T | undefined,
): T | undefined {
  const f = map.get(key);
  if (f === undefined) return read(emptyMap(r, map, key));
  const section = r.map(f, CONFIG_KEYS[key]);
  return section === undefined ? undefined : read(section);
}

function emptyMap(r: Reader, parent: MapReader, key: string): MapReader {
  return new MapReader(r, { node: parent.field.node, path: key }, new Map());
}

function readSocketPath(r: Reader, f: Field): string | undefined {
  const path = r.absolutePath(f, "a socket path");
  if (path !== undefined && Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    return r.fail(
      f,
      `socket path is ${Buffer.byteLength(path)} bytes; unix sockets allow at most ${MAX_SOCKET_PATH}`,
    );
  }
  return path;
}

/** Health checking as a whole; every key has a default, so the section is always present. */
function readHealth(r: Reader, m: MapReader): HealthConfig | undefined {
  const dirField = m.get("state_dir");
  const stateDir =
    dirField === undefined ? DEFAULTS.health.stateDir : r.absolutePath(dirField, "a directory path");
  const allField = m.get("concurrency");
  const concurrency =
    allField === undefined
      ? DEFAULTS.health.concurrency
      : r.integer(allField, 1, 100_000, "a number of checks");
  const tlsField = m.get("tls_concurrency");
  // TLS checks count against both limits, so the default never exceeds concurrency.
  let tlsConcurrency =
    tlsField === undefined
      ? Math.min(DEFAULTS.health.tlsConcurrency, concurrency ?? DEFAULTS.health.concurrency)
      : r.integer(tlsField, 1, 10_000, "a number of handshakes");
  if (
    tlsField !== undefined &&
    tlsConcurrency !== undefined &&
    concurrency !== undefined &&
    tlsConcurrency > concurrency
  ) {
    tlsConcurrency = r.fail(
      tlsField,
      `tls_concurrency ${tlsConcurrency} is above concurrency ${concurrency} (a TLS check counts against both)`,
    );
  }
  if (stateDir === undefined || concurrency === undefined || tlsConcurrency === undefined) return undefined;
  return { stateDir, concurrency, tlsConcurrency };
}

function readIpvs(
  r: Reader,
  field: Field | undefined,
  instanceNames: readonly string[],
): IpvsConfig | undefined {
  const ipvs: IpvsConfig = {
    flushOnStart: DEFAULTS.ipvs.flushOnStart,
    resyncIntervalMs: DEFAULTS.ipvs.resyncIntervalMs,
  };
  if (field === undefined) return ipvs;
  const map = r.map(field, CONFIG_KEYS.ipvs);
  if (map === undefined) return undefined;
  let ok = true;
  const flush = map.get("flush_on_start");
  if (flush !== undefined) {
    const value = r.boolean(flush);
    if (value === undefined) ok = false;
    else ipvs.flushOnStart = value;
  }
  const resync = map.get("resync_interval");
  if (resync !== undefined) {
    const value = r.duration(resync, 0, 86_400_000);
    if (value === undefined) ok = false;
    else ipvs.resyncIntervalMs = value;
  }
  const daemonField = map.get("sync_daemon");
  if (daemonField !== undefined) {
    const daemon = r.map(daemonField, CONFIG_KEYS.sync_daemon);
    const ifaceField = daemon?.required("interface");
    const iface = ifaceField === undefined ? undefined : readInterfaceName(r, ifaceField);
    const idField = daemon?.get("sync_id");
    const syncId = idField === undefined ? DEFAULTS.ipvs.syncId : r.integer(idField, 0, 255, "a sync id");
    const instanceField = daemon?.get("instance");
    let instance: string | undefined;
    if (instanceField !== undefined) {
      instance = r.string(instanceField, "a VRRP instance name");
      if (instance !== undefined && !instanceNames.includes(instance)) {
        const hint =
          instanceNames.length === 0 ? " (there are no VRRP instances)" : didYouMean(instance, instanceNames);
        instance = r.fail(instanceField, `unknown instance '${instance}'${hint}`);
      }
    }
    if (
      iface === undefined ||
      syncId === undefined ||
      (instanceField !== undefined && instance === undefined)
    )
      ok = false;
    else ipvs.syncDaemon = { interface: iface, syncId, ...(instance === undefined ? {} : { instance }) };
  }
  return ok ? ipvs : undefined;
}

function readAlerts(r: Reader, field: Field | undefined): AlertsConfig | undefined {
  const alerts: AlertsConfig = { webhooks: [] };
  if (field === undefined) return alerts;
  const map = r.map(field, CONFIG_KEYS.alerts);
  if (map === undefined) return undefined;
  const hooksField = map.get("webhooks");
  if (hooksField === undefined) return alerts;
  const items = r.list(hooksField, "a list of webhooks");
  if (items === undefined) return undefined;
  let ok = true;
  for (const item of items) {
    const hook = readWebhook(r, item);
    if (hook === undefined) ok = false;
    else alerts.webhooks.push(hook);
  }
  return ok ? alerts : undefined;
}

function readWebhook(r: Reader, item: Field): WebhookConfig | undefined {
  const map = r.map(item, CONFIG_KEYS.webhook, "a webhook mapping");
  if (map === undefined) return undefined;
  const before = r.errorCount;
  const urlField = map.required("url");
  let url: string | undefined;
  if (urlField !== undefined) {
    const text = r.string(urlField, "a URL");
    if (text !== undefined) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(text);
      } catch {
        r.fail(urlField, `'${text}' is not a valid URL`);
      }
      if (parsed !== undefined && parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        r.fail(urlField, `webhook URL '${text}' must use http or https`);
      } else if (parsed !== undefined) {
        url = text;
      }
    }
  }
  let events: AlertEvent[] = [...ALERT_EVENTS];
  const eventsField = map.get("events");
  if (eventsField !== undefined) {
    events = [];
    const list = r.list(eventsField, "a list of events");
    if (list !== undefined && list.length === 0)
      r.fail(eventsField, "events needs at least one event (omit it for all)");
    for (const e of list ?? []) {
      const event = r.oneOf(e, ALERT_EVENTS, "event");
      if (event === undefined) continue;
      if (events.includes(event)) r.fail(e, `event '${event}' is listed twice`);
      else events.push(event);
    }
  }
  const secretField = map.get("secret_file");
  const secretFile = secretField === undefined ? undefined : r.absolutePath(secretField, "a file path");
  const timeoutField = map.get("timeout");
  const timeoutMs =
    timeoutField === undefined ? DEFAULTS.webhook.timeoutMs : r.duration(timeoutField, 100, 300_000);
  const retriesField = map.get("retries");
  const retries =
    retriesField === undefined ? DEFAULTS.webhook.retries : r.integer(retriesField, 0, 100, "a count");
  const queueField = map.get("queue_size");
  const queueSize =
    queueField === undefined ? DEFAULTS.webhook.queueSize : r.integer(queueField, 1, 1_000_000, "a size");
  if (r.errorCount !== before) return undefined;
  return {
    url: url as string,
    events,
    ...(secretFile === undefined ? {} : { secretFile }),
    timeoutMs: timeoutMs as number,
    retries: retries as number,
    queueSize: queueSize as number,
  };
}

/**
 * vipd as a lab director: YAML generation for a director, `node bin/vipd run -c FILE` inside a lab
 * namespace (the built CLI: `npm run build` first), its JSON log parsed line by line, and waits
 * for state transitions.
 *
 *   const v = await Vipd.start(lab, "d2", dir, {
 *     node: "d2",
 *     instances: [{ name: "web", interface: "eth0", vrid: 51, priority: 100, version: 3,
 *                   advertIntervalMs: 100, virtualIps: ["10.77.0.100/24"] }],
 *   });
 *   await v.waitForState("BACKUP");
 *
 * Transitions: the VRRP driver (src/vrrp/instance.ts) logs every state change from one place as
 * a JSON line { event: "vrrp.transition", instance, from, to, reason, priority } whose msg is
 * `FROM → TO (reason)`.
 *
 * Drops: each dropped packet is counted per reason; the driver logs { event: "vrrp.drop", reason,
 * count } at warn (at most once a second per reason, `count` being the running total), except
 * other VRIDs' adverts (normal on a shared segment), which it logs at debug for each packet.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { VipdError } from "../../../src/errors.js";
import { type Line, LineLog } from "./lines.js";
import type { ExitStatus, Lab, LabProcess } from "./netns.js";
import type { RunDir } from "./rundir.js";

export const VIPD_BIN = fileURLToPath(new URL("../../../bin/vipd", import.meta.url));
export const VIPD_DIST_MAIN = fileURLToPath(new URL("../../../dist/cli/main.js", import.meta.url));

export type VipdState = "INIT" | "BACKUP" | "MASTER" | "FAULT";

export interface VipdInstanceSpec {
  name: string;
  interface: string;
  vrid: number;
  priority: number;
  version: 2 | 3;
  advertIntervalMs: number;
  preempt?: boolean;
  preemptDelayMs?: number;
  virtualIps: string[];
  unicastPeers?: string[];
  /** unicast_ttl: N sends and requires N; `{ send, require }` sets either (default send 255, require none). */
  unicastTtl?: number | { send?: number; require?: number };
  /** VRRPv3 over IPv4 only. */
  checksumMode?: "pseudo" | "message";
  garpRepeat?: number;
  trackInterfaces?: { name: string; weight: number }[];
  /** VRRPv2 simple password (authentication: { type: pass, password }). */
  password?: string;
  /** The instance's `notify` mapping as written (master, backup, fault, stop, any, timeout). */
  notify?: Record<string, unknown>;
  /** More instance keys, as written (track_scripts, track_files, …). */
  extra?: Record<string, unknown>;
}

export interface VipdWebhookSpec {
  url: string;
  events?: string[];
  /** Written into the run directory as the secret file when given. */
  secret?: string;
  timeoutMs?: number;
  retries?: number;
}

export interface VipdSpec {
  node: string;
  /** Default "info". */
  logLevel?: string;
  instances: VipdInstanceSpec[];
  webhooks?: VipdWebhookSpec[];
  heartbeatTimeoutMs?: number;
  syncGroups?: { name: string; instances: string[]; notify?: Record<string, unknown> }[];
  /** More keys of the vrrp section, as written (track_scripts, track_files). */
  vrrpExtra?: Record<string, unknown>;
}

const ms = (n: number): string => `${n}ms`;

/**
 * The YAML config of one director. `files` gives where per-run files go: the API socket and the
 * webhook secret files (named after the node so that two directors can share a run directory).
 */
export function vipdYaml(
  spec: VipdSpec,
  files: { apiSocket: string; secretFile?: (i: number) => string },
): string {
  const doc: Record<string, unknown> = {
    node: spec.node,
    log: { level: spec.logLevel ?? "info" },
    api: { socket: files.apiSocket },
    vrrp: {
      ...(spec.heartbeatTimeoutMs !== undefined ? { heartbeat_timeout: ms(spec.heartbeatTimeoutMs) } : {}),
      instances: spec.instances.map((i) => ({
        name: i.name,
        interface: i.interface,
        vrid: i.vrid,
        priority: i.priority,
        version: i.version,
        advert_interval: ms(i.advertIntervalMs),
        preempt: i.preempt ?? true,
        ...(i.preemptDelayMs !== undefined ? { preempt_delay: ms(i.preemptDelayMs) } : {}),
        virtual_ips: i.virtualIps,
        ...(i.unicastPeers?.length ? { unicast_peers: i.unicastPeers } : {}),
        ...(i.unicastTtl !== undefined ? { unicast_ttl: i.unicastTtl } : {}),
        ...(i.trackInterfaces?.length ? { track_interfaces: i.trackInterfaces } : {}),
        ...(i.checksumMode !== undefined ? { checksum_mode: i.checksumMode } : {}),
        ...(i.garpRepeat !== undefined ? { garp: { repeat: i.garpRepeat } } : {}),
        ...(i.password !== undefined ? { authentication: { type: "pass", password: i.password } } : {}),
        ...(i.notify !== undefined ? { notify: i.notify } : {}),
        ...i.extra,
      })),
      ...(spec.syncGroups?.length ? { sync_groups: spec.syncGroups } : {}),
      ...spec.vrrpExtra,
    },
  };
  if (spec.webhooks?.length) {
    doc.alerts = {
      webhooks: spec.webhooks.map((w, idx) => ({
        url: w.url,
        events: w.events ?? ["vrrp.state"],
        ...(w.secret !== undefined && files.secretFile ? { secret_file: files.secretFile(idx) } : {}),
        ...(w.timeoutMs !== undefined ? { timeout: ms(w.timeoutMs) } : {}),
        ...(w.retries !== undefined ? { retries: w.retries } : {}),
      })),
    };
  }
  return `# generated by vipd's lab harness (test/lab/harness/vipd.ts)\n${stringify(doc)}`;
}

/** A JSON log line of vipd (pino), or undefined for anything else. */
export function parseLogLine(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface Transition {
  instance: string | undefined;
  from: string;
  to: string;
  reason: string;
  line: Line;
  record: Record<string, unknown>;
}

/** The transition a log line reports (msg with "→", and from/to/reason fields), if it is one. */
export function transitionOf(line: Line): Transition | undefined {
  const rec = parseLogLine(line.text);
  if (!rec) return undefined;
  const { msg, from, to, reason, instance, event } = rec;
  if (typeof msg !== "string" || !msg.includes("→") || typeof from !== "string" || typeof to !== "string") {
    return undefined;
  }
  // Other "a → b" lines (e.g. an advert source address change) carry their own event name.
  if (event !== undefined && event !== "vrrp.transition") return undefined;
  return {
    instance: typeof instance === "string" ? instance : undefined,
    from,
    to,
    reason: typeof reason === "string" ? reason : "",
    line,
    record: rec,
  };
}

export class Vipd {
  readonly kind = "vipd";
  readonly host: string;
  readonly spec: VipdSpec;
  readonly proc: LabProcess;
  readonly log: LineLog;
  readonly configPath: string;
  readonly apiSocket: string;

  private constructor(host: string, spec: VipdSpec, proc: LabProcess, configPath: string, apiSocket: string) {
    this.host = host;
    this.spec = spec;
    this.proc = proc;
    this.log = new LineLog(proc);
    this.configPath = configPath;
    this.apiSocket = apiSocket;
  }

  /** Writes the config and secret files into `dir` (names prefixed with `spec.node`). */
  static writeConfig(dir: RunDir, spec: VipdSpec): { configPath: string; apiSocket: string } {
    const apiSocket = dir.file(`${spec.node}.sock`);
    const secretFile = (i: number): string => dir.file(`${spec.node}.webhook${i}.secret`);
    spec.webhooks?.forEach((w, i) => {
      if (w.secret !== undefined) dir.write(`${spec.node}.webhook${i}.secret`, w.secret);
    });
    const configPath = dir.write(`${spec.node}.yaml`, vipdYaml(spec, { apiSocket, secretFile }));
    return { configPath, apiSocket };
  }

  /**
   * Starts vipd in `host`'s namespace and resolves once every instance has entered its first
   * state (BACKUP normally; FAULT or MASTER are possible too).
   */
  static async start(lab: Lab, host: string, dir: RunDir, spec: VipdSpec): Promise<Vipd> {
    if (!existsSync(VIPD_DIST_MAIN)) {
      throw new VipdError("LAB_VIPD_NOT_BUILT", "dist/cli/main.js is missing: run `npm run build` first", {
        path: VIPD_DIST_MAIN,
      });
    }
    const { configPath, apiSocket } = Vipd.writeConfig(dir, spec);
    const argv = [process.execPath, VIPD_BIN, "run", "-c", configPath];
    const v = new Vipd(host, spec, lab.spawn(host, argv), configPath, apiSocket);
    const joined =
      (name: string) =>
      (l: Line): boolean => {
        const t = transitionOf(l);
        return t !== undefined && (t.instance === undefined || t.instance === name);
      };
    await Promise.all(spec.instances.map((i) => v.log.waitFor(joined(i.name), { timeoutMs: 15_000 })));
    return v;
  }

  get mark(): number {
    return this.log.mark;
  }

  get running(): boolean {
    return this.proc.running;
  }

  /** Every transition logged from `from` on (of `instance` when given). */
  transitions(from = 0, instance?: string): Transition[] {
    return this.log
      .since(from)
      .map(transitionOf)
      .filter((t): t is Transition => t !== undefined && (instance === undefined || t.instance === instance));
  }

  /** The current state according to the last transition logged. */
  state(instance?: string): string | undefined {
    return this.transitions(0, instance).at(-1)?.to;
  }

  /** Waits for a transition into `state` logged at or after `from`. */
  async waitForState(
    state: VipdState,
    opts: { from?: number; timeoutMs?: number; instance?: string } = {},
  ): Promise<Transition> {
    const line = await this.log.waitFor(
      (l) => {
        const t = transitionOf(l);
        return (
          t !== undefined && t.to === state && (opts.instance === undefined || t.instance === opts.instance)
        );
      },
      { from: opts.from ?? 0, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) },
    );
    return transitionOf(line)!;
  }

  /**
   * Dropped packets per reason, from the "vrrp.drop" log lines from `from` on: the highest
   * running `count` logged for a reason, or the number of lines for reasons logged without one
   * (vrid, at debug level). Only reasons that were logged appear.
   */
  drops(from = 0, instance?: string): Record<string, number> {
    const out: Record<string, number> = {};
    const lines: Record<string, number> = {};
    for (const r of this.records(from)) {
      if (r.event !== "vrrp.drop" || typeof r.reason !== "string") continue;
      if (instance !== undefined && r.instance !== instance) continue;
      lines[r.reason] = (lines[r.reason] ?? 0) + 1;
      const count = typeof r.count === "number" ? r.count : lines[r.reason]!;
      out[r.reason] = Math.max(out[r.reason] ?? 0, count);
    }
    return out;
  }

  /** Log records (parsed) from `from` on. */
  records(from = 0): Record<string, unknown>[] {
    return this.log
      .since(from)
      .map((l) => parseLogLine(l.text))
      .filter((r): r is Record<string, unknown> => r !== undefined);
  }

  /** SIGTERM (vipd sends a priority-0 advert, removes its VIPs, exits 0); SIGKILL after `graceMs`. */
  stop(graceMs = 5000): Promise<ExitStatus> {
    return this.proc.stop(graceMs);
  }
}

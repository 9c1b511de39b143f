/**
 * Main-thread side of VRRP: starts the worker (src/vrrp/worker.ts), sends it heartbeats, turns
 * its transition events into `vrrp.state` alerts and `state` events (for the IPVS manager),
 * and answers status queries.
 *
 * The worker logs every transition itself (as `FROM → TO (reason)`), at the moment it
 * happens; this side only logs at debug, so a busy main thread never delays or reorders the
 * record of what VRRP did.
 */
import { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import type { EventFactory } from "../alert/events.js";
import type { Alerts } from "../alert/webhook.js";
import type { LogLevel, VrrpConfig } from "../config/types.js";
import { VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import type { InstanceStatus, TransitionEvent } from "../vrrp/instance.js";
import {
  type MainToWorker,
  type OperatorAction,
  type SerializedError,
  type TrackedStates,
  WORKER_DATA_TAG,
  type WorkerConfig,
  type WorkerStatus,
  type WorkerToMain,
} from "../vrrp/worker.js";

export interface VrrpHostOptions {
  node: string;
  logLevel: LogLevel;
  vrrp: VrrpConfig;
  /** Where state changes go as `vrrp.state` events; read at each event, so a reload can swap it. */
  alerts?: () => { alerts: Alerts; events: EventFactory } | undefined;
  /** The worker's module; default dist/vrrp/worker.js next to this file. */
  workerUrl?: URL;
  /** How long start() waits for the worker; default 30 s. */
  startTimeoutMs?: number;
  /** The tracked scripts' and files' states to start with. */
  tracked?: TrackedStates;
  /**
   * Every transition, from the first (the start-up ones happen before start() resolves, so a
   * `transition` listener added afterwards misses them).
   */
  onTransition?: (event: TransitionEvent) => void;
}

export interface VrrpHostEvents {
  /** An instance changed state. */
  transition: [event: TransitionEvent];
  /** The worker self-demoted (active) or recovered. */
  demote: [active: boolean, reason: string];
  /** The worker died without being asked to stop. */
  crashed: [error: Error];
}

/** Heartbeat period for a timeout: several beats per timeout, never slower than 250 ms. */
export function heartbeatIntervalMs(timeoutMs: number): number {
  return Math.max(10, Math.min(250, Math.floor(timeoutMs / 5)));
}

export class VrrpHost extends EventEmitter<VrrpHostEvents> {
  private readonly worker: Worker;
  private readonly log: Logger;
  private heartbeat: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (msg: WorkerToMain) => void>();
  private stopping = false;
  private exited = false;
  private readonly exitPromise: Promise<number>;
  private readonly states = new Map<string, TransitionEvent>();
  /** Each instance's status as of its last transition (no round trip to the worker). */
  private readonly statuses = new Map<string, InstanceStatus>();
  private opts: VrrpHostOptions;

  private constructor(opts: VrrpHostOptions) {
    super();
    this.opts = opts;
    this.log = childLogger("vrrp.host");
    const url = opts.workerUrl ?? new URL("../vrrp/worker.js", import.meta.url);
    this.worker = new Worker(url, { workerData: { vipd: WORKER_DATA_TAG } });
    this.exitPromise = new Promise((resolve) => {
      this.worker.on("exit", (code) => {
        this.exited = true;
        this.stopHeartbeat();
        if (!this.stopping) {
          const err = new VipdError(
            "VRRP_WORKER_EXITED",
            `the VRRP worker exited unexpectedly (code ${code})`,
            {
              code,
            },
          );
          this.log.fatal({ err }, err.message);
          this.emit("crashed", err);
        }
        resolve(code);
      });
    });
    this.worker.on("error", (err) => {
      this.log.fatal({ err }, "the VRRP worker failed");
    });
    this.worker.on("message", (msg: WorkerToMain) => this.onMessage(msg));
  }

  /** Starts the worker and resolves once every instance has started. Throws VRRP_WORKER_START_FAILED. */
  static async start(opts: VrrpHostOptions): Promise<VrrpHost> {
    const host = new VrrpHost(opts);
    const timeoutMs = opts.startTimeoutMs ?? 30_000;
    const ready = new Promise<WorkerToMain>((resolve) => {
      host.pending.set(0, resolve);
    });
    host.send({ type: "init", config: host.workerConfig(opts) });
    host.startHeartbeat(opts.vrrp.heartbeatTimeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      ready,
      host.exitPromise.then((code) => ({ type: "exit" as const, code })),
      new Promise<{ type: "timeout" }>((resolve) => {
        timer = setTimeout(() => resolve({ type: "timeout" }), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    host.pending.delete(0);
    if (outcome.type === "ready") return host;
    host.stopping = true;
    host.stopHeartbeat();
    await host.worker.terminate().catch(() => undefined);
    const detail =
      outcome.type === "init_failed"
        ? `${outcome.error.code}: ${outcome.error.message}`
        : outcome.type === "exit"
          ? `the worker exited with code ${outcome.code}`
          : outcome.type === "timeout"
            ? `no answer within ${timeoutMs} ms`
            : `unexpected message ${outcome.type}`;
    throw new VipdError("VRRP_WORKER_START_FAILED", `VRRP worker did not start: ${detail}`, {});
  }

  private workerConfig(opts: Pick<VrrpHostOptions, "node" | "logLevel" | "vrrp" | "tracked">): WorkerConfig {
    const tracked = opts.tracked ?? this.opts?.tracked;
    return { node: opts.node, logLevel: opts.logLevel, vrrp: opts.vrrp, ...(tracked ? { tracked } : {}) };
  }

  private send(msg: MainToWorker): void {
    if (!this.exited) this.worker.postMessage(msg);
  }

  private startHeartbeat(timeoutMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => this.send({ type: "heartbeat" }), heartbeatIntervalMs(timeoutMs));
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private onMessage(msg: WorkerToMain): void {
    switch (msg.type) {
      case "ready":
      case "init_failed":
        this.pending.get(0)?.(msg);
        return;
      case "status":
      case "reloaded":
      case "operator_done":
        this.pending.get(msg.id)?.(msg);
        this.pending.delete(msg.id);
        return;
      case "transition":
        this.statuses.set(msg.event.instance, msg.status);
        this.onTransition(msg.event);
        return;
      case "demote":
        this.emit("demote", msg.active, msg.reason);
        return;
      case "stopped":
        return;
    }
  }

  private onTransition(e: TransitionEvent): void {
    this.states.set(e.instance, e);
    this.log.debug(
      { instance: e.instance, from: e.from, to: e.to, reason: e.reason },
      "VRRP state change received",
    );
    const sink = this.opts.alerts?.();
    if (sink) {
      sink.alerts.emit(
        sink.events.vrrpState({
          instance: e.instance,
          from: e.from,
          to: e.to,
          reason: e.detail !== undefined ? `${e.reason}: ${e.detail}` : e.reason,
          priority: e.priority,
        }),
      );
    }
    this.opts.onTransition?.(e);
    this.emit("transition", e);
  }

  /** Each instance's status as of its last transition: cheap, possibly stale counters. */
  cachedStatus(): InstanceStatus[] {
    return [...this.statuses.values()];
  }

  /** The last transition of each instance seen by the main thread. */
  lastTransitions(): TransitionEvent[] {
    return [...this.states.values()];
  }

  private request<T extends WorkerToMain>(
    build: (id: number) => MainToWorker,
    timeoutMs: number,
  ): Promise<T> {
    if (this.exited) {
      return Promise.reject(new VipdError("VRRP_WORKER_GONE", "the VRRP worker is not running", {}));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new VipdError("VRRP_WORKER_TIMEOUT", `the VRRP worker did not answer within ${timeoutMs} ms`, {}),
        );
      }, timeoutMs);
      this.pending.set(id, (msg) => {
        clearTimeout(timer);
        resolve(msg as T);
      });
      this.send(build(id));
    });
  }

  /** Every instance's state, priority, counters and drop counts, from the worker. */
  async status(timeoutMs = 5000): Promise<WorkerStatus> {
    const msg = await this.request<Extract<WorkerToMain, { type: "status" }>>(
      (id) => ({ type: "status", id }),
      timeoutMs,
    );
    return { instances: msg.instances, demoted: msg.demoted, heartbeatAgeMs: msg.heartbeatAgeMs };
  }

  /** The tracked scripts' and files' current states, for the worker's priority and fault rules. */
  setTracked(states: TrackedStates): void {
    this.opts = { ...this.opts, tracked: states };
    this.send({ type: "tracked", ...states });
  }

  /** `vipd vrrp resign|resume`: the instance's status after it. Throws the worker's refusal as a VipdError. */
  async operator(action: OperatorAction, instance: string, timeoutMs = 5000): Promise<InstanceStatus> {
    const msg = await this.request<Extract<WorkerToMain, { type: "operator_done" }>>(
      (id) => ({ type: "operator", id, action, instance }),
      timeoutMs,
    );
    if (msg.status === undefined) {
      const error = msg.error ?? { code: "VRRP_WORKER_ERROR", message: "no answer" };
      throw new VipdError(error.code, error.message, { instance, action });
    }
    this.statuses.set(instance, msg.status);
    return msg.status;
  }

  /** Applies a reloaded config; resolves with the per-instance errors (empty when all applied). */
  async reload(
    opts: Pick<VrrpHostOptions, "node" | "logLevel" | "vrrp">,
    timeoutMs = 30_000,
  ): Promise<SerializedError[]> {
    this.opts = { ...this.opts, ...opts };
    this.startHeartbeat(opts.vrrp.heartbeatTimeoutMs);
    const names = new Set(opts.vrrp.instances.map((i) => i.name));
    for (const name of [...this.statuses.keys()]) if (!names.has(name)) this.statuses.delete(name);
    for (const name of [...this.states.keys()]) if (!names.has(name)) this.states.delete(name);
    const msg = await this.request<Extract<WorkerToMain, { type: "reloaded" }>>(
      (id) => ({ type: "reload", id, config: this.workerConfig(opts) }),
      timeoutMs,
    );
    return msg.errors;
  }

  /**
   * Graceful stop: the worker resigns every master (priority-0 advert), removes VIPs and
   * exits. Terminates it if it has not finished within `timeoutMs`.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.stopping) {
      await this.exitPromise;
      return;
    }
    this.stopping = true;
    this.send({ type: "shutdown" });
    // Keep the heartbeat going while the worker shuts down, so it does not self-demote.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exitPromise.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.stopHeartbeat();
    if (timedOut) {
      this.log.error({ timeoutMs }, "the VRRP worker did not stop in time: terminating it");
      await this.worker.terminate();
    }
  }

  get running(): boolean {
    return !this.exited;
  }
}

export type { InstanceStatus, TransitionEvent, WorkerStatus };

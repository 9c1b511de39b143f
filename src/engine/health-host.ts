/**
 * Main-thread side of the health worker (src/health/worker.ts): starts the thread, forwards
 * the probe list, relays the worker's changes and answers status queries. If the worker dies,
 * `crashed` fires; the health manager then keeps the last known health (no server is taken
 * out because the checker itself broke) and says so loudly.
 */
import { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import { VipdError } from "../errors.js";
import type { ProbeDef } from "../health/probes.js";
import type { ProbeRunner } from "../health/runner.js";
import type { ProbeChange, ProbeSeed, SchedulerLimits } from "../health/scheduler.js";
import {
  HEALTH_WORKER_TAG,
  type HealthWorkerStatus,
  type HealthWorkerToMain,
  type MainToHealthWorker,
} from "../health/worker.js";
import type { ThreadPriorityResult } from "../sys/thread-priority.js";

const STATUS_TIMEOUT_MS = 5000;

export class HealthWorkerHost extends EventEmitter<{ crashed: [error: Error] }> implements ProbeRunner {
  private readonly worker: Worker;
  private listener: (changes: ProbeChange[]) => void = () => undefined;
  private readonly pending = new Map<number, (s: HealthWorkerStatus) => void>();
  private nextId = 1;
  private stopping = false;
  private readonly exited: Promise<void>;
  /** Whether the worker could lower its scheduling priority (src/health/worker.ts). */
  priority: ThreadPriorityResult = { ok: false, reason: "not started" };

  private constructor(url: URL) {
    super();
    this.worker = new Worker(url, { workerData: { vipd: HEALTH_WORKER_TAG } });
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.on("message", (msg: HealthWorkerToMain) => this.onMessage(msg));
    this.worker.on("error", (err) => {
      if (!this.stopping) this.emit("crashed", err);
    });
    this.worker.on("exit", (code) => {
      if (!this.stopping)
        this.emit(
          "crashed",
          new VipdError("HEALTH_WORKER_EXITED", `the health worker exited with code ${code}`, { code }),
        );
    });
  }

  /** Resolves once the worker is running. */
  static async start(url = new URL("../health/worker.js", import.meta.url)): Promise<HealthWorkerHost> {
    const host = new HealthWorkerHost(url);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: HealthWorkerToMain) => {
        if (msg.type !== "ready") return;
        host.priority = msg.priority;
        host.worker.off("message", onMessage);
        host.off("crashed", reject);
        resolve();
      };
      host.worker.on("message", onMessage);
      host.once("crashed", reject);
    });
    return host;
  }

  private onMessage(msg: HealthWorkerToMain): void {
    if (msg.type === "changes") this.listener(msg.changes);
    else if (msg.type === "status") {
      const resolve = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      resolve?.(msg.status);
    }
  }

  private post(msg: MainToHealthWorker): void {
    this.worker.postMessage(msg);
  }

  configure(probes: ProbeDef[], seeds: ReadonlyMap<string, ProbeSeed>, limits: SchedulerLimits): void {
    this.post({ type: "configure", probes, seeds: [...seeds], limits });
  }

  onChanges(listener: (changes: ProbeChange[]) => void): void {
    this.listener = listener;
  }

  status(ids?: readonly string[]): Promise<HealthWorkerStatus> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new VipdError(
            "HEALTH_WORKER_TIMEOUT",
            `the health worker did not answer a status query within ${STATUS_TIMEOUT_MS} ms`,
          ),
        );
      }, STATUS_TIMEOUT_MS);
      this.pending.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      this.post({ type: "status", id, ...(ids ? { probes: [...ids] } : {}) });
    });
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.exited;
    this.stopping = true;
    this.post({ type: "stop" });
    const timer = setTimeout(() => void this.worker.terminate(), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

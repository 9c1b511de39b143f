/**
 * The health check worker thread (docs/health.md). Every check runs here, on an event loop of
 * its own, so a burst of TLS handshakes or a slow check never delays the main thread (IPVS,
 * alerts, the API, VRRP heartbeats) nor, through it, the VRRP worker.
 *
 * The main thread sends the probe list (configure) and asks for status; the worker sends back
 * only changes (a probe's health flipped, an agent or a dynamic weight moved), batched per
 * event-loop turn, so 20,000 probes at 1 s cost the main thread almost nothing.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { setThreadNice, type ThreadPriorityResult } from "../sys/thread-priority.js";
import { closeCheckers, runChecker } from "./checkers/index.js";
import type { ProbeDef } from "./probes.js";
import {
  CheckScheduler,
  type ProbeChange,
  type ProbeSeed,
  type ProbeStatus,
  type SchedulerLimits,
} from "./scheduler.js";
import { CheckStats, type CheckStatsSnapshot } from "./stats.js";

export const HEALTH_WORKER_TAG = "vipd-health-worker";

/**
 * The health worker's nice value. When the cores are busy the kernel then runs the VRRP worker
 * and the main thread first: a late check costs a few milliseconds of lag, a late advert can
 * cost a failover.
 */
export const HEALTH_THREAD_NICE = 10;

export type MainToHealthWorker =
  | { type: "configure"; probes: ProbeDef[]; seeds: [string, ProbeSeed][]; limits: SchedulerLimits }
  | { type: "status"; id: number; probes?: string[] }
  | { type: "stop" };

export interface HealthWorkerStatus {
  probes: ProbeStatus[];
  stats: CheckStatsSnapshot;
  inFlight: number;
  size: number;
}

export type HealthWorkerToMain =
  | { type: "ready"; priority: ThreadPriorityResult }
  | { type: "changes"; changes: ProbeChange[] }
  | { type: "status"; id: number; status: HealthWorkerStatus }
  | { type: "stopped" };

/** The real clock for the scheduler. */
export const realClock = {
  now: () => performance.now(),
  setTimer: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimer: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
  random: Math.random,
};

/** A scheduler running the real checkers, batching its changes per event-loop turn. */
export function createScheduler(
  limits: SchedulerLimits,
  onChanges: (changes: ProbeChange[]) => void,
): CheckScheduler {
  let batch: ProbeChange[] = [];
  const flush = (): void => {
    const out = batch;
    batch = [];
    onChanges(out);
  };
  return new CheckScheduler(
    realClock,
    limits,
    (probe, signal) => runChecker(probe.target, probe.spec, signal),
    (change) => {
      if (batch.length === 0) setImmediate(flush);
      batch.push(change);
    },
  );
}

export function statusOf(scheduler: CheckScheduler, ids?: readonly string[]): HealthWorkerStatus {
  const probes: ProbeStatus[] = [];
  for (const id of ids ?? scheduler.ids()) {
    const s = scheduler.status(id);
    if (s) probes.push(s);
  }
  return { probes, stats: scheduler.stats.snapshot(), inFlight: scheduler.inFlight, size: scheduler.size };
}

function runWorker(): void {
  const port = parentPort;
  if (!port) return;
  const post = (msg: HealthWorkerToMain): void => port.postMessage(msg);
  let scheduler: CheckScheduler | undefined;
  port.on("message", (msg: MainToHealthWorker) => {
    switch (msg.type) {
      case "configure":
        scheduler ??= createScheduler(msg.limits, (changes) => post({ type: "changes", changes }));
        scheduler.setLimits(msg.limits);
        scheduler.configure(msg.probes, new Map(msg.seeds));
        return;
      case "status":
        post({
          type: "status",
          id: msg.id,
          status: scheduler
            ? statusOf(scheduler, msg.probes)
            : { probes: [], stats: new CheckStats().snapshot(), inFlight: 0, size: 0 },
        });
        return;
      case "stop":
        scheduler?.stop();
        void closeCheckers().finally(() => {
          post({ type: "stopped" });
          port.close();
        });
        return;
    }
  });
  // Every error a check meets becomes its result's code and reason; none is ever shown with a
  // stack. Node's streams read `err.stack` of every error a socket is destroyed with, and undici
  // destroys each closed connection with one: formatting those stacks was a fifth of an HTTP
  // check's CPU. A crash of this thread still reports its error's name and message.
  Error.stackTraceLimit = 0;
  post({ type: "ready", priority: setThreadNice(HEALTH_THREAD_NICE) });
}

if (!isMainThread && (workerData as { vipd?: unknown } | undefined)?.vipd === HEALTH_WORKER_TAG) runWorker();

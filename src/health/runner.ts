/**
 * Where the probes run, as the health manager sees it: in the health worker thread
 * (engine/health-host.ts, the daemon's choice) or in this thread (InProcessRunner: unit tests
 * and benchmarks that want one event loop).
 */
import type { ProbeDef } from "./probes.js";
import type { CheckScheduler, ProbeChange, ProbeSeed, SchedulerLimits } from "./scheduler.js";
import { createScheduler, type HealthWorkerStatus, statusOf } from "./worker.js";

export interface ProbeRunner {
  configure(probes: ProbeDef[], seeds: ReadonlyMap<string, ProbeSeed>, limits: SchedulerLimits): void;
  status(ids?: readonly string[]): Promise<HealthWorkerStatus>;
  /** Called with each batch of changes. */
  onChanges(listener: (changes: ProbeChange[]) => void): void;
  stop(): Promise<void>;
}

export class InProcessRunner implements ProbeRunner {
  private scheduler: CheckScheduler | undefined;
  private listener: (changes: ProbeChange[]) => void = () => undefined;

  /** `make` builds the scheduler (a fake clock and checkers in tests); default the real ones. */
  constructor(
    private readonly make: (
      limits: SchedulerLimits,
      onChanges: (c: ProbeChange[]) => void,
    ) => CheckScheduler = createScheduler,
  ) {}

  configure(probes: ProbeDef[], seeds: ReadonlyMap<string, ProbeSeed>, limits: SchedulerLimits): void {
    this.scheduler ??= this.make(limits, (changes) => this.listener(changes));
    this.scheduler.setLimits(limits);
    this.scheduler.configure(probes, seeds);
  }

  async status(ids?: readonly string[]): Promise<HealthWorkerStatus> {
    if (!this.scheduler) throw new Error("not configured");
    return statusOf(this.scheduler, ids);
  }

  onChanges(listener: (changes: ProbeChange[]) => void): void {
    this.listener = listener;
  }

  async stop(): Promise<void> {
    this.scheduler?.stop();
  }
}

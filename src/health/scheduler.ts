/**
 * One scheduler for every probe (docs/health.md). Its decisions are functions of data and the
 * injected clock, timers and random source; the checks themselves come in as `run`.
 *
 * - Each probe has one due time in a min-heap; one timer is armed, for the earliest.
 * - A new probe's first run is spread uniformly over its interval, so a start or a reload
 *   never fires everything at once; later runs follow the monitor's delay (jittered).
 * - A probe never overlaps itself: its next due time is counted from its start and is never
 *   before its end.
 * - At most `concurrency` checks run at once, and at most `tlsConcurrency` https checks; a due
 *   probe that finds no slot waits in FIFO order. Lag (start − due) is measured for each run.
 * - Each run gets an AbortSignal that fires at its timeout, or when the probe is removed or the
 *   scheduler stops.
 * - configure() takes the full probe list: probes whose id survives keep their state, counters
 *   and due time; new ones are spread; removed ones are aborted and forgotten.
 */
import {
  AGENT_NEUTRAL,
  type AgentState,
  type Health,
  initialMonitor,
  jitter,
  type MonitorState,
  type MonitorTransition,
  nextDelayMs,
  observe,
  observeAgent,
} from "./monitor.js";
import type { ProbeDef } from "./probes.js";
import { CheckStats } from "./stats.js";
import type { CheckResult } from "./types.js";

export interface SchedulerClock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** [0, 1). */
  random(): number;
}

export type RunCheck = (probe: ProbeDef, signal: AbortSignal) => Promise<CheckResult>;

export interface SchedulerLimits {
  concurrency: number;
  tlsConcurrency: number;
}

/** What a probe's owner needs to know after a run: emitted only when something it uses changed. */
export interface ProbeChange {
  id: string;
  health: Health;
  /** Why the probe is in its state (the result that made it so). */
  code: MonitorState["code"];
  reason: string;
  /** Set when rise/fall flipped the probe. */
  transition?: MonitorTransition;
  /** Agent probes: what the agent says now. */
  agent?: AgentState;
  /** exec with dynamic_weight: the weight of the last successful run. */
  weight?: number;
  result: CheckResult;
}

/** How a probe starts when configure() first sees it. */
export interface ProbeSeed {
  health: Health;
  code: MonitorState["code"];
  reason: string;
  agent?: AgentState;
  weight?: number;
}

export interface ProbeStatus {
  id: string;
  health: Health;
  code: string;
  reason: string;
  streak: number;
  running: boolean;
  /** Due time, ms from now (negative: waiting for a slot). */
  dueInMs: number;
  last?: { ok: boolean; code: string; reason: string; durationMs: number; agoMs: number };
  agent?: AgentState;
  weight?: number;
}

interface Entry {
  probe: ProbeDef;
  monitor: MonitorState;
  agent?: AgentState;
  weight?: number;
  due: number;
  /** Bumped whenever `due` changes: heap items of an older generation are stale. */
  generation: number;
  running?: AbortController;
  waiting: boolean;
  /** Its place among the waiting probes (see CheckScheduler.ready). */
  readySeq: number;
  last?: { result: CheckResult; at: number };
  removed: boolean;
}

interface HeapItem {
  due: number;
  generation: number;
  entry: Entry;
}

export class CheckScheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly heap: HeapItem[] = [];
  /**
   * Due probes waiting for a slot, https apart from the rest so that a TLS backlog is never
   * walked to reach the plain checks behind it. `readySeq` orders the two as one FIFO.
   */
  private readonly ready = { plain: new Fifo<Entry>(), tls: new Fifo<Entry>() };
  private readySeq = 0;
  private timer: unknown;
  private timerDue = Number.POSITIVE_INFINITY;
  private running = 0;
  private runningTls = 0;
  private stopped = false;
  readonly stats = new CheckStats();

  constructor(
    private readonly clock: SchedulerClock,
    private limits: SchedulerLimits,
    private readonly runCheck: RunCheck,
    private readonly onChange: (change: ProbeChange) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get inFlight(): number {
    return this.running;
  }

  setLimits(limits: SchedulerLimits): void {
    this.limits = limits;
    this.drain();
  }

  /** The full probe list; `seeds` gives the starting state of probes not seen before. */
  configure(probes: readonly ProbeDef[], seeds: ReadonlyMap<string, ProbeSeed> = new Map()): void {
    const now = this.clock.now();
    const keep = new Set<string>();
    for (const probe of probes) {
      keep.add(probe.id);
      const existing = this.entries.get(probe.id);
      if (existing) {
        existing.probe = probe;
        continue;
      }
      const seed = seeds.get(probe.id);
      const health = seed?.health ?? probe.spec.initial;
      const entry: Entry = {
        probe,
        monitor: seed
          ? { ...initialMonitor(seed.health, seed.code), reason: seed.reason }
          : initialMonitor(health),
        ...(probe.spec.type === "agent" ? { agent: seed?.agent ?? AGENT_NEUTRAL } : {}),
        ...(seed?.weight !== undefined ? { weight: seed.weight } : {}),
        due: now + Math.floor(this.clock.random() * probe.spec.intervalMs),
        generation: 0,
        waiting: false,
        readySeq: 0,
        removed: false,
      };
      this.entries.set(probe.id, entry);
      this.push(entry);
    }
    for (const [id, entry] of this.entries) {
      if (keep.has(id)) continue;
      entry.removed = true;
      entry.generation++;
      entry.running?.abort();
      this.entries.delete(id);
    }
    this.ready.plain.removeWhere((e) => e.removed);
    this.ready.tls.removeWhere((e) => e.removed);
    this.arm();
  }

  /** Aborts every check in flight and arms nothing more. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    for (const e of this.entries.values()) e.running?.abort();
  }

  status(id: string): ProbeStatus | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    const now = this.clock.now();
    return {
      id,
      health: e.monitor.health,
      code: e.monitor.code,
      reason: e.monitor.reason,
      streak: e.monitor.streak,
      running: e.running !== undefined,
      dueInMs: Math.round(e.due - now),
      ...(e.last
        ? {
            last: {
              ok: e.last.result.ok,
              code: e.last.result.code,
              reason: e.last.result.reason,
              durationMs: e.last.result.durationMs,
              agoMs: Math.round(now - e.last.at),
            },
          }
        : {}),
      ...(e.agent ? { agent: e.agent } : {}),
      ...(e.weight !== undefined ? { weight: e.weight } : {}),
    };
  }

  ids(): IterableIterator<string> {
    return this.entries.keys();
  }

  // ------------------------------------------------------------------ heap

  private push(entry: Entry): void {
    const item = { due: entry.due, generation: entry.generation, entry };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as HeapItem).due <= item.due) break;
      h[i] = h[parent] as HeapItem;
      i = parent;
    }
    h[i] = item;
  }

  private pop(): HeapItem | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && (h[r] as HeapItem).due < (h[l] as HeapItem).due ? r : l;
      if ((h[child] as HeapItem).due >= last.due) break;
      h[i] = h[child] as HeapItem;
      i = child;
    }
    h[i] = last;
    return top;
  }

  /** The earliest live heap item (stale ones are dropped on the way). */
  private peek(): HeapItem | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return undefined;
      if (!top.entry.removed && top.generation === top.entry.generation) return top;
      this.pop();
    }
  }

  // ------------------------------------------------------------------ timing

  private arm(): void {
    if (this.stopped) return;
    const next = this.peek();
    if (next === undefined) {
      if (this.timer !== undefined) this.clock.clearTimer(this.timer);
      this.timer = undefined;
      this.timerDue = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timer !== undefined && this.timerDue <= next.due) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerDue = next.due;
    this.timer = this.clock.setTimer(() => this.tick(), Math.max(0, next.due - this.clock.now()));
  }

  private tick(): void {
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    if (this.stopped) return;
    const now = this.clock.now();
    for (let top = this.peek(); top !== undefined && top.due <= now; top = this.peek()) {
      this.pop();
      top.entry.waiting = true;
      top.entry.readySeq = this.readySeq++;
      (top.entry.probe.spec.type === "https" ? this.ready.tls : this.ready.plain).push(top.entry);
    }
    this.drain();
    this.arm();
  }

  /** Starts waiting probes while there are slots, in the order they became due. */
  private drain(): void {
    // A stopped scheduler starts nothing: not even the probes waiting for the slots stop() freed.
    if (this.stopped) return;
    while (this.running < this.limits.concurrency) {
      // Plain checks behind a TLS backlog still go: only handshakes are bounded apart.
      const plain = this.ready.plain.peek();
      const tls = this.runningTls < this.limits.tlsConcurrency ? this.ready.tls.peek() : undefined;
      if (plain === undefined && tls === undefined) return;
      const useTls = tls !== undefined && (plain === undefined || tls.readySeq < plain.readySeq);
      const entry = (useTls ? this.ready.tls : this.ready.plain).shift() as Entry;
      if (!entry.removed) this.start(entry, useTls);
    }
  }

  private start(entry: Entry, tls: boolean): void {
    const now = this.clock.now();
    entry.waiting = false;
    this.stats.recordLag(now - entry.due);
    const controller = new AbortController();
    entry.running = controller;
    this.running++;
    if (tls) this.runningTls++;
    const timeout = this.clock.setTimer(() => controller.abort(), entry.probe.spec.timeoutMs);
    const startedAt = now;
    let settled = false;
    const finish = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      this.clock.clearTimer(timeout);
      this.running--;
      if (tls) this.runningTls--;
      entry.running = undefined;
      if (!entry.removed && !this.stopped) this.complete(entry, result, startedAt);
      this.drain();
      this.arm();
    };
    let pending: Promise<CheckResult>;
    try {
      pending = this.runCheck(entry.probe, controller.signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(finish, (err: unknown) =>
      // A checker that throws breaks its contract; the probe still gets a result, named so.
      finish({
        ok: false,
        code: "error",
        reason: `checker failed: ${String(err)}`,
        durationMs: this.clock.now() - startedAt,
      }),
    );
  }

  private complete(entry: Entry, result: CheckResult, startedAt: number): void {
    const now = this.clock.now();
    this.stats.recordResult(result);
    entry.last = { result, at: now };
    const spec = entry.probe.spec;
    let changed = false;
    let transition: MonitorTransition | undefined;
    if (entry.agent !== undefined) {
      const next = observeAgent(entry.agent, result);
      const first = entry.monitor.code === "initial" && result.ok;
      entry.agent = next.state;
      changed = next.changed || first;
      entry.monitor = {
        ...entry.monitor,
        health: next.state.health,
        ...(result.ok ? { code: result.code, reason: result.reason } : {}),
      };
    } else {
      const first = entry.monitor.code === "initial";
      const next = observe(entry.monitor, result, spec);
      entry.monitor = next.state;
      transition = next.transition;
      // The first result of a probe nothing was known of says why it is where it is.
      changed = transition !== undefined || first;
      if (result.ok && result.weight !== entry.weight && entry.monitor.health === "up") {
        if (result.weight === undefined) delete entry.weight;
        else entry.weight = result.weight;
        changed = true;
      }
    }
    // Agents answer at their own interval; they have no rise/fall streak to hurry.
    const delay =
      entry.agent !== undefined
        ? jitter(spec.intervalMs, this.clock.random)
        : nextDelayMs(entry.monitor, spec, this.clock.random);
    entry.due = Math.max(startedAt + delay, now);
    entry.generation++;
    this.push(entry);
    if (changed) {
      this.onChange({
        id: entry.probe.id,
        health: entry.monitor.health,
        code: entry.monitor.code,
        reason: entry.monitor.reason,
        ...(transition ? { transition } : {}),
        ...(entry.agent ? { agent: entry.agent } : {}),
        ...(entry.weight !== undefined ? { weight: entry.weight } : {}),
        result,
      });
    }
  }
}

/** A FIFO queue with O(1) shift: a head index over an array, compacted as the head passes half. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    const item = this.items[this.head];
    if (item === undefined) return undefined;
    this.head++;
    if (this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  removeWhere(drop: (item: T) => boolean): void {
    const kept = this.items.slice(this.head).filter((i) => !drop(i));
    this.items = kept;
    this.head = 0;
  }
}

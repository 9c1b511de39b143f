/**
 * Notify hooks: the commands an operator's config runs on VRRP and real-server state changes
 * (docs/hooks.md). They run on the main thread, so the VRRP worker never waits for one; each
 * subject (an instance, a sync group, a real server) has a queue of its own, so its changes run
 * in order, one at a time, and a slow hook of one subject does not hold back another's.
 *
 * Which commands a change runs is decided by the pure functions below; the Notifier only queues
 * and runs them through an injected runner (src/sys/command.ts in the daemon).
 */
import type { RealServerNotifyConfig, VipdConfig, VrrpNotifyConfig } from "../config/types.js";
import { healthKey } from "../health/probes.js";
import { childLogger, type Logger } from "../log.js";
import { type CommandOutcome, describeOutcome } from "../sys/command.js";
import type { VrrpState } from "../vrrp/fsm.js";
import type { TransitionEvent } from "../vrrp/instance.js";

/** keepalived's state words in the notify arguments: INIT (a stop) is STOP. */
export type NotifyState = "MASTER" | "BACKUP" | "FAULT" | "STOP";

export interface HookCommand {
  argv: string[];
  env: Record<string, string>;
  timeoutMs: number;
}

export function notifyState(state: VrrpState): NotifyState {
  return state === "INIT" ? "STOP" : state;
}

/**
 * keepalived's order for one change: the state's own command (as written), then `notify` with
 * `INSTANCE|GROUP name STATE priority` appended.
 */
export function vrrpHookCommands(
  notify: VrrpNotifyConfig | undefined,
  kind: "INSTANCE" | "GROUP",
  name: string,
  state: NotifyState,
  priority: number,
  reason: string,
): HookCommand[] {
  if (notify === undefined) return [];
  const own = { MASTER: notify.master, BACKUP: notify.backup, FAULT: notify.fault, STOP: notify.stop }[state];
  const env = { VIPD_REASON: reason };
  const out: HookCommand[] = [];
  if (own !== undefined) out.push({ argv: [...own], env, timeoutMs: notify.timeoutMs });
  if (notify.any !== undefined)
    out.push({
      argv: [...notify.any, kind, name, state, String(priority)],
      env,
      timeoutMs: notify.timeoutMs,
    });
  return out;
}

export interface RealServerChange {
  virtualServer: string;
  /** address:port as the status shows it. */
  realServer: string;
  address: string;
  port: number;
  serving: boolean;
  reason: string;
}

export function realServerHookCommands(
  notify: RealServerNotifyConfig | undefined,
  change: RealServerChange,
): HookCommand[] {
  const argv = change.serving ? notify?.up : notify?.down;
  if (notify === undefined || argv === undefined) return [];
  return [
    {
      argv: [...argv],
      env: {
        VIPD_VIRTUAL_SERVER: change.virtualServer,
        VIPD_RS_ADDRESS: change.address,
        VIPD_RS_PORT: String(change.port),
        VIPD_RS_STATE: change.serving ? "UP" : "DOWN",
        VIPD_REASON: change.reason,
      },
      timeoutMs: notify.timeoutMs,
    },
  ];
}

/**
 * A sync group's state for its hooks: the state every member is in, once they all agree.
 * keepalived notifies a group when the group as a whole has moved; a group half-way through a
 * change (one member MASTER, one still BACKUP) has not.
 */
export function groupState(
  members: readonly string[],
  states: ReadonlyMap<string, VrrpState>,
): VrrpState | undefined {
  const first = states.get(members[0] ?? "");
  if (first === undefined) return undefined;
  return members.every((m) => states.get(m) === first) ? first : undefined;
}

type GroupView = { name: string; members: readonly string[]; notify?: VrrpNotifyConfig };

/**
 * What the notifier reads at each change. Every instance and real server of the config has an
 * entry (undefined when it has no notify), so a merged view can tell "not configured" from
 * "not in this config".
 */
export interface NotifyConfigView {
  instances: ReadonlyMap<string, VrrpNotifyConfig | undefined>;
  /** The sync group of each grouped instance. */
  groups: ReadonlyMap<string, GroupView>;
  /** By `virtualServer/address:port`. */
  realServers: ReadonlyMap<string, RealServerNotifyConfig | undefined>;
}

/** The view of one validated config. */
export function notifyConfigView(config: VipdConfig): NotifyConfigView {
  const groups = new Map<string, GroupView>();
  for (const g of config.vrrp.syncGroups) {
    const view = {
      name: g.name,
      members: g.instances,
      ...(g.notify === undefined ? {} : { notify: g.notify }),
    };
    for (const m of g.instances) groups.set(m, view);
  }
  const realServers = new Map<string, RealServerNotifyConfig | undefined>();
  for (const vs of config.virtualServers)
    for (const rs of vs.realServers) realServers.set(healthKey(vs.name, rs), rs.notify);
  return { instances: new Map(config.vrrp.instances.map((i) => [i.name, i.notify])), groups, realServers };
}

/**
 * During a reload: the new config's entries, and the old one's for what the reload removes.
 * A removed instance's stop and an added one's first state both arrive while it runs.
 */
export function mergeViews(next: NotifyConfigView, previous: NotifyConfigView): NotifyConfigView {
  const merge = <V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>) => new Map([...b, ...a]);
  return {
    instances: merge(next.instances, previous.instances),
    groups: new Map([...previous.groups].filter(([m]) => !next.instances.has(m)).concat([...next.groups])),
    realServers: merge(next.realServers, previous.realServers),
  };
}

export type RunCommand = (
  argv: readonly string[],
  opts: { env: Record<string, string>; signal: AbortSignal },
) => Promise<CommandOutcome>;

/** Commands waiting per subject beyond which the oldest waiting one is dropped (and logged). */
export const MAX_QUEUED_PER_SUBJECT = 32;

export interface NotifyStats {
  run: number;
  failed: number;
  dropped: number;
}

interface Queue {
  waiting: HookCommand[];
  running: Promise<void> | undefined;
}

export class Notifier {
  private readonly log: Logger;
  private readonly queues = new Map<string, Queue>();
  private readonly instanceStates = new Map<string, VrrpState>();
  private readonly groupStates = new Map<string, VrrpState>();
  private readonly counters: NotifyStats = { run: 0, failed: 0, dropped: 0 };
  private readonly inFlight = new Set<AbortController>();

  constructor(
    private readonly config: () => NotifyConfigView,
    private readonly run: RunCommand,
    log?: Logger,
  ) {
    this.log = log ?? childLogger("notify");
  }

  /** A VRRP transition: the instance's hooks, then its group's if the group moved with it. */
  vrrpTransition(e: TransitionEvent): void {
    const view = this.config();
    const reason = e.detail === undefined ? e.reason : `${e.reason}: ${e.detail}`;
    const state = notifyState(e.to);
    this.instanceStates.set(e.instance, e.to);
    this.enqueue(
      `instance ${e.instance}`,
      vrrpHookCommands(view.instances.get(e.instance), "INSTANCE", e.instance, state, e.priority, reason),
    );
    const group = view.groups.get(e.instance);
    if (group === undefined) return;
    const now = groupState(group.members, this.instanceStates);
    if (now === undefined || now === this.groupStates.get(group.name)) return;
    this.groupStates.set(group.name, now);
    // A group has no priority of its own; keepalived passes 0.
    this.enqueue(
      `sync group ${group.name}`,
      vrrpHookCommands(group.notify, "GROUP", group.name, notifyState(now), 0, reason),
    );
  }

  realServerChange(change: RealServerChange): void {
    const notify = this.config().realServers.get(healthKey(change.virtualServer, change));
    this.enqueue(
      `real server ${change.realServer} of ${change.virtualServer}`,
      realServerHookCommands(notify, change),
    );
  }

  stats(): NotifyStats {
    return { ...this.counters };
  }

  /** Resolves when every queued hook has run, or after `timeoutMs` (the rest are killed). */
  async drain(timeoutMs: number): Promise<void> {
    const all = () => Promise.all([...this.queues.values()].map((q) => q.running));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!timedOut) return;
    const left = [...this.queues.values()].reduce((n, q) => n + q.waiting.length, 0);
    this.log.warn(
      { event: "notify.abandoned", running: this.inFlight.size, waiting: left },
      `stopping: ${this.inFlight.size} notify hook(s) killed and ${left} not run after ${timeoutMs} ms`,
    );
    for (const q of this.queues.values()) q.waiting.length = 0;
    for (const c of this.inFlight) c.abort();
    await all();
  }

  private enqueue(subject: string, commands: HookCommand[]): void {
    if (commands.length === 0) return;
    let q = this.queues.get(subject);
    if (q === undefined) {
      q = { waiting: [], running: undefined };
      this.queues.set(subject, q);
    }
    q.waiting.push(...commands);
    while (q.waiting.length > MAX_QUEUED_PER_SUBJECT) {
      const dropped = q.waiting.shift() as HookCommand;
      this.counters.dropped++;
      this.log.warn(
        { event: "notify.dropped", subject, command: dropped.argv[0] },
        `notify hook for ${subject} not run: more than ${MAX_QUEUED_PER_SUBJECT} are waiting behind a slow one (${dropped.argv.join(" ")})`,
      );
    }
    if (q.running === undefined) q.running = this.pump(subject, q);
  }

  private async pump(subject: string, q: Queue): Promise<void> {
    for (let next = q.waiting.shift(); next !== undefined; next = q.waiting.shift()) {
      await this.runOne(subject, next);
    }
    q.running = undefined;
    if (q.waiting.length === 0) this.queues.delete(subject);
  }

  private async runOne(subject: string, command: HookCommand): Promise<void> {
    const abort = new AbortController();
    this.inFlight.add(abort);
    const timer = setTimeout(() => abort.abort(), command.timeoutMs);
    const started = performance.now();
    let outcome: CommandOutcome;
    try {
      outcome = await this.run(command.argv, { env: command.env, signal: abort.signal });
    } catch (err) {
      outcome = { kind: "spawn_error", message: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(abort);
    }
    this.counters.run++;
    const durationMs = Math.round(performance.now() - started);
    const text = describeOutcome(outcome, command.timeoutMs);
    const fields = { event: "notify.hook", subject, argv: command.argv, outcome: outcome.kind, durationMs };
    if (outcome.kind === "exit" && outcome.code === 0) {
      this.log.info(fields, `notify hook for ${subject}: ${command.argv[0]} ${text}`);
      return;
    }
    this.counters.failed++;
    this.log.warn(fields, `notify hook for ${subject} failed: ${command.argv.join(" ")}: ${text}`);
  }
}

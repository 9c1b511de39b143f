/**
 * Interface tracking for one VRRP instance [pure]: link states in, effective priority and
 * fault out. The worker feeds rtnetlink link events; the instance driver turns changes of
 * the result into fsm `priority` / `fault` / `fault_cleared` inputs.
 *
 * Rules:
 * - The instance's own interface missing or down (not IFF_UP, or no carrier/IFF_RUNNING)
 *   is a fault.
 * - A tracked interface with weight 0 that is down is a fault.
 * - Weights (keepalived semantics): a negative weight is added to the priority while the
 *   tracked interface is down; a positive weight is added while it is up. The result is kept
 *   in 1..254 (0 and 255 have protocol meanings; the fsm ignores it for an address owner).
 * - A tracked interface that does not exist counts as down.
 * - Tracked scripts (keepalived's vrrp_script) follow the same weight rules, up or down being
 *   what their rise/fall monitor on the main thread last reported. A script with no report yet
 *   (it has not run, and has no configured initial state) is a fault, as keepalived holds an
 *   instance until its scripts have run.
 * - Tracked files (keepalived's vrrp_track_file) hold an integer V (missing: 0). Weight 0: V ≠ 0
 *   is a fault. Otherwise V × weight, kept within −254..253, is added; −254 is a fault.
 * - In a sync group (unless its tracking_weight is set) every weight counts as 0: a tracked
 *   interface that is down, a script that failed or a file that is not 0 is a fault, and the
 *   group goes to FAULT together. A priority drop on one member alone would make it lose its
 *   segment while the others keep theirs, and the group would flap (keepalived forces the same).
 */
import type { TrackInterfaceConfig, TrackRefConfig } from "../config/types.js";

/** The part of an rtnetlink Link that tracking reads. */
export interface TrackedLink {
  name: string;
  ifindex: number;
  up: boolean;
  running: boolean;
}

export interface TrackingConfig {
  interface: string;
  priority: number;
  trackInterfaces: readonly TrackInterfaceConfig[];
  trackScripts?: readonly TrackRefConfig[];
  trackFiles?: readonly TrackRefConfig[];
  /** Every weight counts as 0 (a sync group member without tracking_weight). */
  weightsAreFaults?: boolean;
}

export interface TrackingResult {
  /** Why the instance is in fault, or null. */
  fault: string | null;
  /** Configured priority adjusted by the weights of tracked interfaces (1..254), or the configured priority. */
  priority: number;
}

/** A link counts as up when it is administratively up and has carrier. */
export function linkIsUp(link: TrackedLink | undefined): boolean {
  return link?.up === true && link.running;
}

export class Tracker {
  private config: TrackingConfig;
  /** Links by name (what the config refers to). */
  private readonly links = new Map<string, TrackedLink>();
  private scripts: ReadonlyMap<string, boolean> = new Map();
  private files: ReadonlyMap<string, number> = new Map();

  constructor(config: TrackingConfig) {
    this.config = config;
  }

  /** Replaces every known link (a fresh dump, e.g. at start or after a netlink overrun). */
  setLinks(links: Iterable<TrackedLink>): void {
    this.links.clear();
    for (const l of links) this.links.set(l.name, l);
  }

  /** Applies one rtnetlink link event. */
  onLink(action: "new" | "del", link: TrackedLink): void {
    // A rename arrives as "new" with a known ifindex under a new name: forget the old name.
    for (const [name, l] of this.links) {
      if (l.ifindex === link.ifindex && name !== link.name) this.links.delete(name);
    }
    if (action === "del") this.links.delete(link.name);
    else this.links.set(link.name, link);
  }

  /** The latest state of every tracked script (up) and file (its value), from the main thread. */
  setTracked(scripts: ReadonlyMap<string, boolean>, files: ReadonlyMap<string, number>): void {
    this.scripts = scripts;
    this.files = files;
  }

  /** A config that leaves weightsAreFaults out keeps the current setting (the group's). */
  reconfigure(config: TrackingConfig): void {
    this.config = { ...config, weightsAreFaults: config.weightsAreFaults ?? this.config.weightsAreFaults };
  }

  /** Names of the interfaces this instance depends on (its own first). */
  interfaces(): string[] {
    return [this.config.interface, ...this.config.trackInterfaces.map((t) => t.name)];
  }

  result(): TrackingResult {
    const own = this.links.get(this.config.interface);
    let fault: string | null = null;
    if (own === undefined) fault = `interface ${this.config.interface} does not exist`;
    else if (!linkIsUp(own)) fault = `interface ${this.config.interface} is down`;
    let priority = this.config.priority;
    const groupRule = this.config.weightsAreFaults === true;
    const inGroup = (weight: number) =>
      weight !== 0 && groupRule ? ` (weight ${weight} counts as 0 in a sync group)` : "";
    const failed = (why: string) => {
      fault ??= why;
    };
    for (const t of this.config.trackInterfaces) {
      const up = linkIsUp(this.links.get(t.name));
      if (t.weight === 0 || groupRule) {
        if (!up)
          failed(`tracked interface ${t.name} is down${t.weight === 0 ? " (weight 0)" : inGroup(t.weight)}`);
      } else if (t.weight < 0 ? !up : up) {
        priority += t.weight;
      }
    }
    for (const t of this.config.trackScripts ?? []) {
      const up = this.scripts.get(t.name);
      if (up === undefined) {
        // keepalived holds an instance until each of its scripts has reported once.
        failed(`track script ${t.name} has not run yet`);
      } else if (t.weight === 0 || groupRule) {
        if (!up) failed(`track script ${t.name} failed${t.weight === 0 ? " (weight 0)" : inGroup(t.weight)}`);
      } else if (t.weight < 0 ? !up : up) {
        priority += t.weight;
      }
    }
    for (const t of this.config.trackFiles ?? []) {
      const value = this.files.get(t.name) ?? 0;
      if (t.weight === 0 || groupRule) {
        if (value !== 0)
          failed(`track file ${t.name} holds ${value}${t.weight === 0 ? " (weight 0)" : inGroup(t.weight)}`);
        continue;
      }
      const status = Math.min(253, Math.max(-254, value * t.weight));
      if (status === -254) failed(`track file ${t.name} holds ${value} (× weight ${t.weight} ≤ −254)`);
      else priority += status;
    }
    if (this.config.priority !== 255) priority = Math.min(254, Math.max(1, priority));
    else priority = 255;
    return { fault, priority };
  }
}

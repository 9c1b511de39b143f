/**
 * The last known health, as kept under `health.state_dir` across restarts (docs/health.md), pure.
 *
 * - Probe states are keyed by probe id (a function of target and spec), so a restart with an
 *   edited config restores exactly the probes that did not change.
 * - A probe's state is used only when the file is recent: younger than RECENT_INTERVALS of its
 *   interval (and never less than MIN_RECENT_MS, 30 s). A director that was down for a while
 *   re-checks everything rather than trust a stale "up"; one that restarted at once keeps its
 *   table as it was.
 * - The operator's drain/disable is kept whatever the file's age: it is a decision, not a
 *   measurement.
 */
import type { AgentState, Health } from "./monitor.js";
import type { ProbeDef } from "./probes.js";
import type { ProbeSeed } from "./scheduler.js";
import type { AdminState } from "./server-health.js";

export const STATE_FILE = "health.json";
export const RECENT_INTERVALS = 3;
/** A restart (systemd's, with Node starting) takes seconds: "a few intervals" never means less than this. */
export const MIN_RECENT_MS = 30_000;

export interface PersistedProbe {
  health: Health;
  code: string;
  reason: string;
  agent?: AgentState;
  weight?: number;
}

export interface PersistedHealth {
  version: 1;
  /** Wall-clock ms when written. */
  savedAt: number;
  probes: Record<string, PersistedProbe>;
  admin: Record<string, Exclude<AdminState, "enabled">>;
}

export function encodeHealth(state: PersistedHealth): string {
  return `${JSON.stringify(state)}\n`;
}

/** The file's content, or why it cannot be used (it is then ignored and replaced). */
export function decodeHealth(text: string): PersistedHealth | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}` };
  }
  const v = value as Partial<PersistedHealth> | null;
  if (v === null || typeof v !== "object") return { error: "not an object" };
  if (v.version !== 1) return { error: `unknown version ${String(v.version)}` };
  if (typeof v.savedAt !== "number" || !Number.isFinite(v.savedAt)) return { error: "savedAt is not a time" };
  if (typeof v.probes !== "object" || v.probes === null) return { error: "probes is not an object" };
  if (typeof v.admin !== "object" || v.admin === null) return { error: "admin is not an object" };
  const probes: Record<string, PersistedProbe> = {};
  for (const [id, p] of Object.entries(v.probes)) {
    if (
      p &&
      (p.health === "up" || p.health === "down") &&
      typeof p.code === "string" &&
      typeof p.reason === "string" &&
      (p.weight === undefined || isWeight(p.weight)) &&
      (p.agent === undefined || isAgentState(p.agent))
    )
      probes[id] = p;
  }
  const admin: PersistedHealth["admin"] = {};
  for (const [key, a] of Object.entries(v.admin)) if (a === "drain" || a === "disabled") admin[key] = a;
  return { version: 1, savedAt: v.savedAt, probes, admin };
}

function isWeight(w: unknown): w is number {
  return typeof w === "number" && Number.isInteger(w) && w >= 0 && w <= 65535;
}

/** The agent's state as observeAgent builds it: a file that says otherwise is not trusted. */
function isAgentState(a: unknown): a is AgentState {
  if (a === null || typeof a !== "object") return false;
  const s = a as Record<string, unknown>;
  if (s.admin !== "ready" && s.admin !== "drain" && s.admin !== "maint") return false;
  if (s.health !== "up" && s.health !== "down") return false;
  if (s.reason !== undefined && typeof s.reason !== "string") return false;
  if (s.weight === undefined) return true;
  const w = s.weight as Record<string, unknown> | null;
  if (w === null || typeof w !== "object") return false;
  if ("percent" in w) return typeof w.percent === "number" && Number.isFinite(w.percent) && w.percent >= 0;
  return "absolute" in w && isWeight(w.absolute);
}

/** Seeds for the probes whose persisted state is recent enough (see the module comment). */
export function seedsFrom(
  state: PersistedHealth,
  probes: readonly ProbeDef[],
  wallNow: number,
): Map<string, ProbeSeed> {
  const seeds = new Map<string, ProbeSeed>();
  const age = wallNow - state.savedAt;
  for (const probe of probes) {
    const p = state.probes[probe.id];
    if (p === undefined) continue;
    if (age < 0 || age > Math.max(MIN_RECENT_MS, RECENT_INTERVALS * probe.spec.intervalMs)) continue;
    seeds.set(probe.id, {
      health: p.health,
      code: "restored",
      reason: p.reason,
      ...(p.agent ? { agent: p.agent } : {}),
      ...(p.weight !== undefined ? { weight: p.weight } : {}),
    });
  }
  return seeds;
}

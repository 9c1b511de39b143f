/**
 * From probe states to a real server's health (docs/health.md), pure.
 *
 * - The checks' verdict: up only when every health probe is up and no agent says down or maint;
 *   the reason is the first failing probe's. The weight is the configured one, replaced by
 *   exec's dynamic weight, then scaled or set by the agent (`N%`, `weight:N`), 0 when drained.
 * - The operator's word (`vipd server drain|disable|enable`) sits above the checks: drain =
 *   weight 0, disable = out of the table.
 * - The mass-failure guard (max_down) keeps servers beyond the allowed share in, up.
 * - Slow start ramps a returning server's weight from 1 to its weight.
 */
import type { MaxDown } from "../config/types.js";
import type { AgentState, Health } from "./monitor.js";
import type { ServerChecks } from "./probes.js";

export type AdminState = "enabled" | "drain" | "disabled";

export interface ProbeView {
  health: Health;
  code: string;
  reason: string;
  agent?: AgentState;
  weight?: number;
}

export interface CheckVerdict {
  up: boolean;
  code: string;
  reason: string;
  /** The weight the checks give it while up (before slow start and the operator). */
  weight: number;
  /** An agent said maint: out of the table, like disable. */
  maint: boolean;
}

const MAX_WEIGHT = 65535;

export function checkVerdict(
  server: ServerChecks,
  probe: (id: string) => ProbeView | undefined,
  configuredWeight: number,
): CheckVerdict {
  let weight = configuredWeight;
  let down: { code: string; reason: string } | undefined;
  for (const id of server.probes) {
    const p = probe(id);
    if (p === undefined) {
      down ??= { code: "initial", reason: "not checked yet" };
      continue;
    }
    if (p.health === "down") down ??= { code: p.code, reason: p.reason };
    if (p.weight !== undefined) weight = p.weight;
  }
  let maint = false;
  for (const id of server.agents) {
    const agent = probe(id)?.agent;
    if (agent === undefined) continue;
    const why = agent.reason !== undefined ? `#${agent.reason}` : "";
    if (agent.health === "down") down ??= { code: "agent", reason: `agent: down${why}` };
    if (agent.admin === "maint") {
      maint = true;
      down ??= { code: "agent", reason: `agent: maint${why}` };
    }
    if (agent.weight !== undefined) {
      weight =
        "percent" in agent.weight
          ? Math.round((configuredWeight * agent.weight.percent) / 100)
          : agent.weight.absolute;
    }
    if (agent.admin === "drain") weight = 0;
  }
  weight = Math.max(0, Math.min(MAX_WEIGHT, weight));
  if (down) return { up: false, ...down, weight, maint };
  const drained = server.agents.some((id) => probe(id)?.agent?.admin === "drain");
  return { up: true, code: "ok", reason: drained ? "agent: drain" : "ok", weight, maint };
}

/** How many of `total` servers the guard lets the checker take out. */
export function allowedDown(maxDown: MaxDown, total: number): number {
  if ("count" in maxDown) return Math.min(maxDown.count, total);
  return Math.floor((total * maxDown.percent) / 100);
}

export interface GuardCandidate {
  key: string;
  /** The checks say down. */
  down: boolean;
  /** When the checks said so (ms, any clock). */
  downSince: number;
  /** It is out now (so it stays out before anyone newer). */
  removed: boolean;
}

/**
 * The servers the guard holds in: beyond the allowed share, those that went down last. A
 * server already out stays out, so the held set does not churn as more fail.
 */
export function guardHeld(
  candidates: readonly GuardCandidate[],
  maxDown: MaxDown | undefined,
  total: number,
): Set<string> {
  const held = new Set<string>();
  if (maxDown === undefined) return held;
  const down = candidates
    .filter((c) => c.down)
    .sort(
      (a, b) =>
        Number(b.removed) - Number(a.removed) ||
        a.downSince - b.downSince ||
        (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    );
  const allowed = allowedDown(maxDown, total);
  for (const c of down.slice(allowed)) held.add(c.key);
  return held;
}

/** The weight `elapsedMs` into a slow start of `slowStartMs`: from 1 up to `weight`. */
export function slowStartWeight(weight: number, elapsedMs: number, slowStartMs: number): number {
  if (weight === 0 || slowStartMs <= 0 || elapsedMs >= slowStartMs) return weight;
  return Math.max(1, Math.ceil((weight * Math.max(0, elapsedMs)) / slowStartMs));
}

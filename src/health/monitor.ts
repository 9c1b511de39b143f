/**
 * The rise/fall monitor of one probe (docs/health.md), pure: results and an injected random
 * source in, state and transitions out. It reports only transitions.
 *
 * - Up: `fall` failures in a row make it down. Down: `rise` successes in a row make it up. A
 *   result of the other kind resets the streak (so a flapping server stays where it is).
 * - A probe with no known state (code `initial`: new, nothing recent persisted) is decided by
 *   its first result: it starts in `initial` (down by default) only until it has been checked.
 * - When the next run is due (nextDelayMs):
 *   - stable (up with no failure pending, or down with no success pending): `interval`;
 *   - between states (a streak under way): `fast_interval`;
 *   - down: an exponential backoff from `interval`, doubling per failed run, capped at
 *     `down_interval`; a success pending moves it to `fast_interval`.
 *   Every delay is jittered by ±JITTER so probes that started together drift apart.
 * - Agent checks do not go through rise/fall: an answer applies at once, an unreachable agent
 *   changes nothing (observeAgent).
 */
import type { CheckTiming } from "../config/types.js";
import type { AgentReply, CheckResult, ResultCode } from "./types.js";

export type Health = "up" | "down";

/** ±10 %: enough to spread probes that were due together, small enough to keep the interval. */
export const JITTER = 0.1;

export interface MonitorState {
  health: Health;
  /** Results in a row that contradict `health` (failures while up, successes while down). */
  streak: number;
  /** Failed runs since the probe went down (the backoff exponent). */
  downRuns: number;
  /** Why the probe is in its state: the result that made it so (or "initial", "restored"). */
  code: ResultCode | "initial" | "restored";
  reason: string;
}

export interface MonitorTransition {
  from: Health;
  to: Health;
  code: ResultCode;
  reason: string;
}

export function initialMonitor(health: Health, code: MonitorState["code"] = "initial"): MonitorState {
  return { health, streak: 0, downRuns: 0, code, reason: code };
}

/** The state after one result, and the transition it caused, if any. */
export function observe(
  state: MonitorState,
  result: Pick<CheckResult, "ok" | "code" | "reason">,
  timing: Pick<CheckTiming, "rise" | "fall">,
): { state: MonitorState; transition?: MonitorTransition } {
  const agrees = (state.health === "up") === result.ok;
  const first = state.code === "initial";
  if (agrees) {
    // A down probe that fails again backs off further.
    const downRuns = state.health === "down" ? state.downRuns + 1 : 0;
    const why = first ? { code: result.code, reason: result.reason } : {};
    return { state: { ...state, streak: 0, downRuns, ...why } };
  }
  const streak = state.streak + 1;
  // A probe nothing is known of is decided by its first result.
  const needed = first ? 1 : state.health === "up" ? timing.fall : timing.rise;
  if (streak < needed) return { state: { ...state, streak } };
  const to: Health = result.ok ? "up" : "down";
  return {
    state: { health: to, streak: 0, downRuns: 0, code: result.code, reason: result.reason },
    transition: { from: state.health, to, code: result.code, reason: result.reason },
  };
}

/** The un-jittered delay before the next run. */
export function baseDelayMs(state: MonitorState, timing: CheckTiming): number {
  if (state.streak > 0) return timing.fastIntervalMs;
  if (state.health === "up") return timing.intervalMs;
  const backoff = timing.intervalMs * 2 ** Math.min(state.downRuns, 30);
  return Math.min(Math.max(timing.downIntervalMs, timing.intervalMs), backoff);
}

/** The delay before the next run, jittered; `random` returns [0, 1). */
export function nextDelayMs(state: MonitorState, timing: CheckTiming, random: () => number): number {
  return jitter(baseDelayMs(state, timing), random);
}

export function jitter(ms: number, random: () => number): number {
  return Math.max(1, Math.round(ms * (1 + JITTER * (2 * random() - 1))));
}

/** What an agent has said so far: each answer overrides only the words it carries. */
export interface AgentState {
  weight?: AgentReply["weight"];
  admin: "ready" | "drain" | "maint";
  health: Health;
  reason?: string;
}

export const AGENT_NEUTRAL: AgentState = { admin: "ready", health: "up" };

/** The agent state after a result; `changed` is false when nothing the server's health uses moved. */
export function observeAgent(
  state: AgentState,
  result: CheckResult,
): { state: AgentState; changed: boolean } {
  const reply = result.agent;
  // An agent that does not answer is not a failure (HAProxy's rule): keep what it said last.
  if (!result.ok || reply === undefined) return { state, changed: false };
  const next: AgentState = {
    admin: reply.admin ?? state.admin,
    health: reply.health ?? state.health,
    ...((reply.weight ?? state.weight) !== undefined ? { weight: reply.weight ?? state.weight } : {}),
    ...(reply.reason !== undefined
      ? { reason: reply.reason }
      : state.reason !== undefined
        ? { reason: state.reason }
        : {}),
  };
  const changed =
    next.admin !== state.admin ||
    next.health !== state.health ||
    JSON.stringify(next.weight) !== JSON.stringify(state.weight);
  return { state: next, changed };
}

/**
 * Process helpers shared by the lab harnesses: liveness by /proc (a zombie counts as gone),
 * owner identity (pid + kernel start time, so a recycled pid is never mistaken for ours),
 * killing by PID only, and synchronous cleanup on process exit or on a terminating signal.
 */
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  /** Start time in clock ticks after boot (field 22 of /proc/PID/stat). */
  startTime: string;
}

/** Parses /proc/PID/stat; undefined when the process does not exist. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { state, ppid, pgrp, startTime };
}

/** True while `pid` exists and is not a zombie (zombies are dead; only their parent's reaping is pending). */
export function pidAlive(pid: number): boolean {
  const st = procStat(pid);
  return st !== undefined && st.state !== "Z" && st.state !== "X";
}

/** The identity of a process that survives pid reuse: "PID STARTTIME". */
export function processIdentity(pid: number): string | undefined {
  const st = procStat(pid);
  return st === undefined ? undefined : `${pid} ${st.startTime}`;
}

/** True when the process named by an identity from {@link processIdentity} is still the same live process. */
export function identityAlive(identity: string): boolean {
  const [pidText, start] = identity.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || start === undefined) return false;
  const st = procStat(pid);
  return st !== undefined && st.startTime === start && st.state !== "Z" && st.state !== "X";
}

/** Sends a signal to one PID; a process that is already gone is not an error. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/** PIDs whose process group is `pgid` (i.e. the group a detached child of ours leads). */
export function processGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const st = procStat(pid);
    if (st !== undefined && st.pgrp === pgid && st.state !== "Z") members.push(pid);
  }
  return members;
}

/** Polls until none of `pids` is alive or `timeoutMs` passed; returns the PIDs still alive. */
export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(pidAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(20);
    alive = alive.filter(pidAlive);
  }
  return alive;
}

type SyncCleanup = () => void;

const cleanups = new Set<SyncCleanup>();
let installed = false;
const TERMINATING_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function runCleanups(): void {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      // Best effort while the process is going away; the stale sweep catches what is left.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runCleanups();
  // When nobody else handles this signal, restore the default action and re-raise it, so the
  // process still dies of the signal (exit status 128+n) as it would have without us.
  if (process.listenerCount(signal) === 1) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
}

/**
 * Registers a synchronous cleanup that runs on process 'exit' (normal end, process.exit, uncaught
 * exception) and on SIGINT/SIGTERM/SIGHUP. Returns a function that unregisters it.
 * SIGKILL cannot be caught: the stale sweeps cover that case.
 */
export function onProcessExit(fn: SyncCleanup): () => void {
  if (!installed) {
    installed = true;
    process.on("exit", runCleanups);
    for (const sig of TERMINATING_SIGNALS) process.on(sig, onSignal);
  }
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}

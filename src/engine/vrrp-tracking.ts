/**
 * Tracked scripts and files (vrrp.track_scripts, vrrp.track_files) on the main thread. A script
 * that hangs or a slow file system never delays an advert: the VRRP worker only receives the
 * results (VrrpHost.setTracked), and its Tracker (src/vrrp/tracking.ts) turns them into priority
 * and fault. The rules are in docs/vrrp.md, "Tracking".
 *
 * - A script runs every `interval` (never two runs of one script at once), through the same
 *   command runner as the exec check and the notify hooks (argv, no shell, its process group
 *   killed at the timeout). Its exit status goes through the health checks' rise/fall monitor;
 *   the first result decides at once, as for a new health check.
 * - A file is read when it changes (a watch on its directory, which sees a file that is created,
 *   written, replaced or deleted) and every FILE_POLL_MS besides, in case a watch event is lost.
 * - Only what some instance tracks runs or is watched.
 */
import { deepEqual } from "../config/diff.js";
import type { TrackFileConfig, TrackScriptConfig, VrrpConfig } from "../config/types.js";
import { initialMonitor, type MonitorState, observe } from "../health/monitor.js";
import { childLogger, type Logger } from "../log.js";
import { type CommandOutcome, describeOutcome } from "../sys/command.js";
import type { TrackedStates } from "../vrrp/worker.js";
import type { RunCommand } from "./notify.js";

/** A safety net under the directory watch. */
export const FILE_POLL_MS = 10_000;

export interface TrackingIo {
  run: RunCommand;
  /** The file's text, or undefined when it does not exist. Throws other errors. */
  readFile(path: string): string | undefined;
  /** Calls `onChange` after anything happens to `path` (best effort); returns the unwatch. */
  watch(path: string, onChange: () => void): () => void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/**
 * A tracked file's value as keepalived reads it (strtol with base 0 on the content): leading
 * blanks, a sign, then hex (0x…), octal (0…) or decimal digits; anything else ends the number, and
 * a file with no number at all is 0. Undefined when the number is outside 32 bits (keepalived
 * then keeps the last value).
 */
export function parseTrackFileValue(text: string): number | undefined {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text);
  if (m === null) return 0;
  const [, sign, digits = "0"] = m;
  const magnitude =
    digits.length > 1 && (digits[1] === "x" || digits[1] === "X")
      ? Number.parseInt(digits.slice(2), 16)
      : digits.length > 1 && digits.startsWith("0")
        ? Number.parseInt(digits.slice(1), 8)
        : Number.parseInt(digits, 10);
  const value = sign === "-" ? -magnitude : magnitude;
  return value < -0x8000_0000 || value > 0x7fff_ffff ? undefined : value;
}

interface ScriptRunner {
  config: TrackScriptConfig;
  /** False until the first result, unless the config gives an initial state. */
  known: boolean;
  monitor: MonitorState;
  timer: unknown;
  running: Promise<void> | undefined;
  stopped: boolean;
  abort: AbortController | undefined;
}

interface FileWatcher {
  config: TrackFileConfig;
  value: number;
  unwatch: () => void;
  poll: unknown;
}

export class VrrpTracking {
  private readonly scripts = new Map<string, ScriptRunner>();
  private readonly files = new Map<string, FileWatcher>();
  private readonly log: Logger;

  constructor(
    config: VrrpConfig,
    private readonly io: TrackingIo,
    private readonly onChange: (states: TrackedStates) => void,
    log?: Logger,
  ) {
    this.log = log ?? childLogger("vrrp.tracking");
    this.apply(config, false);
  }

  /** Every tracked script's state and file's value now. */
  states(): TrackedStates {
    const scripts: Record<string, boolean> = {};
    for (const [name, s] of this.scripts) if (s.known) scripts[name] = s.monitor.health === "up";
    const files: Record<string, number> = {};
    for (const [name, f] of this.files) files[name] = f.value;
    return { scripts, files };
  }

  /** A reload: unchanged definitions keep their state; the rest start afresh. */
  reconfigure(config: VrrpConfig): void {
    this.apply(config, true);
  }

  async stop(): Promise<void> {
    for (const name of [...this.scripts.keys()]) this.stopScript(name);
    for (const name of [...this.files.keys()]) this.stopFile(name);
    await Promise.all([...this.scripts.values()].map((s) => s.running));
  }

  private apply(config: VrrpConfig, notify: boolean): void {
    const usedScripts = new Set(config.instances.flatMap((i) => i.trackScripts.map((t) => t.name)));
    const usedFiles = new Set(config.instances.flatMap((i) => i.trackFiles.map((t) => t.name)));
    const scripts = new Map(
      config.trackScripts.filter((s) => usedScripts.has(s.name)).map((s) => [s.name, s]),
    );
    const files = new Map(config.trackFiles.filter((f) => usedFiles.has(f.name)).map((f) => [f.name, f]));
    for (const [name, runner] of this.scripts)
      if (!deepEqual(scripts.get(name), runner.config)) this.stopScript(name);
    for (const [name, watcher] of this.files)
      if (!deepEqual(files.get(name), watcher.config)) this.stopFile(name);
    for (const [name, def] of scripts) if (!this.scripts.has(name)) this.startScript(def);
    for (const [name, def] of files) if (!this.files.has(name)) this.startFile(def);
    if (notify) this.onChange(this.states());
  }

  // ------------------------------------------------------------------ scripts

  private startScript(config: TrackScriptConfig): void {
    const runner: ScriptRunner = {
      config,
      known: config.initial !== undefined,
      monitor: initialMonitor(config.initial ?? "down"),
      timer: undefined,
      running: undefined,
      stopped: false,
      abort: undefined,
    };
    this.scripts.set(config.name, runner);
    runner.timer = this.io.setTimeout(() => this.runScript(runner), 0);
  }

  private stopScript(name: string): void {
    const runner = this.scripts.get(name);
    if (runner === undefined) return;
    runner.stopped = true;
    this.io.clearTimeout(runner.timer);
    runner.abort?.abort();
    this.scripts.delete(name);
  }

  private runScript(runner: ScriptRunner): void {
    if (runner.stopped) return;
    const startedAt = this.io.now();
    const abort = new AbortController();
    runner.abort = abort;
    const timeout = this.io.setTimeout(() => abort.abort(), runner.config.timeoutMs);
    runner.running = (async () => {
      let outcome: CommandOutcome;
      try {
        outcome = await this.io.run(runner.config.command, { env: {}, signal: abort.signal });
      } catch (err) {
        outcome = { kind: "spawn_error", message: err instanceof Error ? err.message : String(err) };
      }
      this.io.clearTimeout(timeout);
      runner.abort = undefined;
      if (runner.stopped) return;
      this.onScriptResult(runner, outcome);
      const next = Math.max(0, startedAt + runner.config.intervalMs - this.io.now());
      runner.timer = this.io.setTimeout(() => this.runScript(runner), next);
    })();
  }

  private onScriptResult(runner: ScriptRunner, outcome: CommandOutcome): void {
    const ok = outcome.kind === "exit" && outcome.code === 0;
    const reason = describeOutcome(outcome, runner.config.timeoutMs);
    const { state, transition } = observe(
      runner.monitor,
      { ok, code: ok ? "ok" : outcome.kind === "aborted" ? "timeout" : "exec_exit", reason },
      runner.config,
    );
    runner.monitor = state;
    const first = !runner.known;
    runner.known = true;
    if (transition === undefined && !first) return;
    const name = runner.config.name;
    const from = first ? "unknown" : (transition?.from ?? state.health);
    const to = state.health;
    const fields = { event: "vrrp.track_script", script: name, from, to, reason };
    const message = `track script ${name}: ${from} → ${to} (${reason})`;
    if (to === "up") this.log.info(fields, message);
    else this.log.warn(fields, message);
    this.onChange(this.states());
  }

  // ------------------------------------------------------------------ files

  private startFile(config: TrackFileConfig): void {
    const watcher: FileWatcher = { config, value: 0, unwatch: () => {}, poll: undefined };
    this.files.set(config.name, watcher);
    watcher.value = this.readValue(config) ?? 0;
    watcher.unwatch = this.io.watch(config.path, () => this.refreshFile(watcher));
    const poll = () => {
      this.refreshFile(watcher);
      watcher.poll = this.io.setTimeout(poll, FILE_POLL_MS);
    };
    watcher.poll = this.io.setTimeout(poll, FILE_POLL_MS);
  }

  private stopFile(name: string): void {
    const watcher = this.files.get(name);
    if (watcher === undefined) return;
    watcher.unwatch();
    this.io.clearTimeout(watcher.poll);
    this.files.delete(name);
  }

  private refreshFile(watcher: FileWatcher): void {
    if (this.files.get(watcher.config.name) !== watcher) return;
    const value = this.readValue(watcher.config);
    if (value === undefined || value === watcher.value) return;
    const { name, path } = watcher.config;
    this.log.info(
      { event: "vrrp.track_file", file: name, path, from: watcher.value, to: value },
      `track file ${name} (${path}): ${watcher.value} → ${value}`,
    );
    watcher.value = value;
    this.onChange(this.states());
  }

  /** The value, 0 for a missing file, or undefined (logged) when it cannot be used: keep the last. */
  private readValue(config: TrackFileConfig): number | undefined {
    let text: string | undefined;
    try {
      text = this.io.readFile(config.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      this.log.warn(
        { event: "vrrp.track_file_unreadable", file: config.name, path: config.path, code },
        `track file ${config.name}: cannot read ${config.path} (${code}); its last value stays`,
      );
      return undefined;
    }
    if (text === undefined) return 0;
    const value = parseTrackFileValue(text);
    if (value === undefined) {
      this.log.warn(
        { event: "vrrp.track_file_invalid", file: config.name, path: config.path },
        `track file ${config.name}: ${config.path} holds a number outside 32 bits; its last value stays`,
      );
    }
    return value;
  }
}

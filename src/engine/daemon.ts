/**
 * The vipd daemon (`vipd run -c FILE`): wiring and lifecycle.
 *
 *   config ──▶ ApiServer (api.socket: GET /status, POST /reload, /resync) + MetricsServer
 *          ──▶ Alerts (webhooks)
 *          ──▶ VrrpHost ──▶ VRRP worker thread (sockets, timers, VIPs, GARP/NA, tracking)
 *          ──▶ IpvsManager (only when the config has virtual_servers)
 *   VrrpHost "transition" ──▶ vrrp.state alert (in VrrpHost) + IpvsManager.onVrrpState
 *
 * Signals (installSignalHandlers):
 * - SIGHUP: reload. The file is loaded and validated; a config that does not validate changes
 *   nothing and is logged with its errors (`FILE:LINE:COL: message`). Otherwise diff(old, new)
 *   decides what is applied: log level, alerts, VRRP instances (added / removed / restarted /
 *   updated in place by the worker), IPVS services.
 * - SIGTERM / SIGINT: graceful stop: every VRRP master sends a priority-0 advert and removes its
 *   VIPs, the IPVS manager stops, alerts drain briefly; `done` resolves with exit code 0.
 * - SIGUSR2, only when the environment has VIPD_DEBUG_BLOCK_MAIN_MS=N (a test hook): the main
 *   thread busy-loops for N ms, logging `debug.block_main` before and `debug.unblock_main` after.
 *   Used by the lab to show that a blocked main thread does not delay adverts (and that the
 *   worker self-demotes when the block outlasts vrrp.heartbeat_timeout). Without the variable,
 *   SIGUSR2 keeps Node's default action.
 *
 * Start order: the API socket first (if another vipd answers on it, nothing else starts), then
 * metrics, VRRP, IPVS. Stop order: API and metrics, VRRP (resign), IPVS, alerts (drained).
 *
 * If the VRRP worker dies unexpectedly, the daemon removes the configured VIPs itself (best
 * effort, so the peer's takeover does not leave the address on two hosts), stops, and exits 1.
 */
import { EventFactory } from "../alert/events.js";
import { Alerts, type WebhookConfig as AlertWebhookConfig, vipdVersion } from "../alert/webhook.js";
import { ApiServer, MetricsServer } from "../api/server.js";
import { collectStatus, type DaemonStatus, ReconcileTracker } from "../api/status.js";
import { type ConfigDiff, diff } from "../config/diff.js";
import { type ConfigIssue, formatIssue } from "../config/issues.js";
import { loadConfig, loadConfigOrThrow } from "../config/load.js";
import type { VipdConfig, WebhookConfig } from "../config/types.js";
import { describeError } from "../errors.js";
import type { IpvsTable } from "../ipvs/types.js";
import { childLogger, type Logger, setLogLevel } from "../log.js";
import { runCommand } from "../sys/command.js";
import { readTextIfExists, watchPath } from "../sys/watch.js";
import type { ServerHealth } from "./desired.js";
import { HealthWorkerHost } from "./health-host.js";
import { HealthManager } from "./health-manager.js";
import { mergeViews, Notifier, type NotifyConfigView, notifyConfigView } from "./notify.js";
import type { InstanceStatus } from "./vrrp-host.js";
import { VrrpHost } from "./vrrp-host.js";
import { VrrpTracking } from "./vrrp-tracking.js";

export const DEBUG_BLOCK_ENV = "VIPD_DEBUG_BLOCK_MAIN_MS";
/** How long a stopping daemon waits for its notify hooks (systemd's stop timeout is 90 s). */
const NOTIFY_DRAIN_MS = 30_000;

/** What the daemon needs of the IPVS side (src/engine/ipvs-manager.ts). */
interface IpvsSide {
  onVrrpState(state: string, instance?: string): Promise<void>;
  updateConfig(
    cfg: Pick<VipdConfig, "virtualServers" | "ipvs"> & { health?: Map<string, ServerHealth> },
  ): Promise<unknown>;
  setHealth(changes: Map<string, ServerHealth>): Promise<unknown>;
  resync(): Promise<unknown>;
  status(): ReturnType<import("./ipvs-manager.js").IpvsManager["status"]>;
  stop(): Promise<void>;
}

export type { DaemonStatus };

export function toAlertWebhooks(webhooks: readonly WebhookConfig[]): AlertWebhookConfig[] {
  return webhooks.map((w) => ({
    url: w.url,
    events: w.events,
    ...(w.secretFile !== undefined ? { secret_file: w.secretFile } : {}),
    timeoutMs: w.timeoutMs,
    retries: w.retries,
    queueSize: w.queueSize,
  }));
}

function summarize(d: ConfigDiff): Record<string, unknown> {
  const named = (n: { added: string[]; removed: string[]; changed: unknown[] }) => ({
    added: n.added,
    removed: n.removed,
    changed: n.changed.map((c) => (typeof c === "string" ? c : (c as { name: string }).name)),
  });
  return {
    node: d.node,
    log: d.log,
    alerts: d.alerts,
    ipvs: d.ipvs,
    health: d.health,
    instances: named(d.vrrp.instances),
    syncGroups: named(d.vrrp.syncGroups),
    heartbeatTimeout: d.vrrp.heartbeatTimeout,
    tracking: d.vrrp.tracking,
    virtualServers: named(d.virtualServers),
  };
}

export class Daemon {
  private config: VipdConfig;
  private readonly log: Logger;
  private alerts: Alerts;
  private events: EventFactory;
  private vrrp: VrrpHost | undefined;
  private tracking: VrrpTracking | undefined;
  private ipvs: IpvsSide | undefined;
  private health: HealthManager | undefined;
  private ipvsClient: { snapshot(): Promise<{ table: IpvsTable }>; close(): void } | undefined;
  private readonly reconciles = new ReconcileTracker();
  private api: ApiServer | undefined;
  private metrics: MetricsServer | undefined;
  private configLoadedAt = new Date();
  private reloading: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private exitCode = 0;
  private resolveDone!: (code: number) => void;
  /** Resolves with the process exit code once the daemon has stopped. */
  readonly done: Promise<number>;
  private readonly startedAt = new Date();
  private notifyView: NotifyConfigView;
  private readonly notifier = new Notifier(() => this.notifyView, runCommand);

  private constructor(
    readonly configPath: string,
    config: VipdConfig,
  ) {
    this.config = config;
    this.notifyView = notifyConfigView(config);
    this.log = childLogger("daemon");
    this.events = new EventFactory({ node: config.node });
    this.alerts = Alerts.fromConfig(toAlertWebhooks(config.alerts.webhooks));
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Loads the config (throws CONFIG_INVALID with every issue), starts VRRP and IPVS. */
  static async start(configPath: string): Promise<Daemon> {
    const { config, warnings } = loadConfigOrThrow(configPath);
    setLogLevel(config.log.level);
    const d = new Daemon(configPath, config);
    d.logWarnings(warnings);
    try {
      await d.startParts();
    } catch (err) {
      await d.teardown().catch(() => undefined);
      throw err;
    }
    return d;
  }

  private async startParts(): Promise<void> {
    const c = this.config;
    this.log.info(
      {
        event: "daemon.starting",
        node: c.node,
        config: this.configPath,
        instances: c.vrrp.instances.map((i) => i.name),
        virtualServers: c.virtualServers.map((v) => v.name),
        webhooks: c.alerts.webhooks.length,
      },
      `vipd starting on ${c.node} with ${this.configPath}`,
    );
    // The API socket first: if another vipd already answers on it, stop before touching any VIP.
    this.api = await this.startApi(c);
    if (c.metrics.listen)
      this.metrics = await MetricsServer.start({ listen: c.metrics.listen, provider: () => this.status() });
    if (c.vrrp.instances.length > 0) this.vrrp = await this.startVrrp(c);
    if (c.virtualServers.length > 0) {
      await this.startHealth(c);
      await this.startIpvs(c);
    }
    this.log.info({ event: "daemon.running", node: c.node }, "vipd running");
  }

  private startApi(c: VipdConfig): Promise<ApiServer> {
    return ApiServer.start({
      socketPath: c.api.socket,
      provider: () => this.status(),
      actions: {
        reload: () => this.reload(),
        resync: async () => {
          if (!this.ipvs) return { ok: false, error: "no IPVS manager is running" };
          await this.ipvs.resync();
          return { ok: true };
        },
        vrrp: async (action, instance) => {
          if (!this.vrrp) return { ok: false, error: "this daemon has no VRRP instances" };
          const st = await this.vrrp.operator(action, instance);
          return { ok: true, state: st.state, resigned: st.resigned };
        },
        server: (action, virtualServer, realServer) => {
          if (!this.health) return { ok: false, error: "this daemon has no virtual servers" };
          const r = this.health.setAdmin(virtualServer, realServer, action);
          return { ok: true, state: r.state, reason: r.reason };
        },
      },
    });
  }

  /** Tracked scripts and files run here, on the main thread; the worker gets their results. */
  private startTracking(c: VipdConfig): VrrpTracking {
    const tracking = new VrrpTracking(
      c.vrrp,
      {
        run: runCommand,
        readFile: readTextIfExists,
        watch: watchPath,
        setTimeout: (fn, ms) => setTimeout(fn, ms),
        clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
        now: () => performance.now(),
      },
      (states) => this.vrrp?.setTracked(states),
    );
    this.tracking = tracking;
    return tracking;
  }

  private async stopTracking(): Promise<void> {
    const tracking = this.tracking;
    this.tracking = undefined;
    await tracking?.stop();
  }

  private async startVrrp(c: VipdConfig): Promise<VrrpHost> {
    const tracking = this.tracking ?? this.startTracking(c);
    const host = await VrrpHost.start({
      node: c.node,
      logLevel: c.log.level,
      vrrp: c.vrrp,
      tracked: tracking.states(),
      alerts: () => ({ alerts: this.alerts, events: this.events }),
      onTransition: (e) => {
        this.notifier.vrrpTransition(e);
        this.ipvs?.onVrrpState(e.to, e.instance).catch((err: unknown) => {
          this.log.error({ err }, `IPVS sync daemon role change failed: ${describeError(err)}`);
        });
      },
    });
    host.on("crashed", (err) => {
      void this.fail(err);
    });
    // Results that came in while the worker started had no host to go to (this.vrrp is set by
    // the caller): hand over the current ones, or a script that keeps its first result would
    // hold its instances in "has not run yet" until it changes.
    host.setTracked(tracking.states());
    return host;
  }

  /**
   * The health checks (src/engine/health-manager.ts) run in a worker thread of their own, on
   * every director whatever its VRRP state. They start before IPVS so the first reconcile
   * already has the restored (or initial) health: a restart neither empties the table nor
   * keeps a server that was down.
   */
  private async startHealth(c: VipdConfig): Promise<void> {
    const host = await HealthWorkerHost.start();
    if (host.priority.ok)
      this.log.debug({ tid: host.priority.tid, nice: host.priority.nice }, "health worker niced");
    else
      this.log.warn(
        { event: "health.priority_unchanged", reason: host.priority.reason },
        `the health worker runs at the VRRP worker's priority: ${host.priority.reason}`,
      );
    host.on("crashed", (err) => {
      // The last known health stays applied: a broken checker takes no server out.
      this.log.fatal(
        { err, event: "health.worker_crashed" },
        `the health check worker died: ${describeError(err)}; real server health is frozen as last known`,
      );
    });
    const health = new HealthManager({
      runner: host,
      virtualServers: c.virtualServers,
      health: c.health,
      onHealth: (changes) => {
        this.ipvs?.setHealth(changes).catch((err: unknown) => {
          this.log.error({ err }, `IPVS update after a health change failed: ${describeError(err)}`);
        });
      },
      events: () => this.events,
      onEvent: (event) => this.alerts.emit(event),
      onServingChange: (change) => this.notifier.realServerChange(change),
    });
    try {
      await health.start();
    } catch (err) {
      await host.stop().catch(() => undefined);
      throw err;
    }
    this.health = health;
  }

  private async stopHealth(): Promise<void> {
    const health = this.health;
    this.health = undefined;
    await health?.stop().catch((err: unknown) => this.log.error({ err }, "health checks stop failed"));
  }

  /**
   * Hook for the IPVS manager (src/engine/ipvs-manager.ts): started only when the config has
   * virtual servers, so a VRRP-only director (or a kernel without IPVS) never loads it.
   */
  private async startIpvs(c: VipdConfig): Promise<void> {
    try {
      const [{ IpvsClient }, { IpvsManager }] = await Promise.all([
        import("../ipvs/client.js"),
        import("./ipvs-manager.js"),
      ]);
      const client = await IpvsClient.open();
      const manager = new IpvsManager({
        client,
        virtualServers: c.virtualServers,
        ipvs: c.ipvs,
        followVrrp: c.vrrp.instances.length > 0,
        ...(this.health ? { health: this.health.healthMap() } : {}),
        events: this.events,
        node: c.node,
        onEvent: (event) => this.alerts.emit(event),
        onReconcile: (report) => this.reconciles.record(report),
      });
      this.ipvsClient = client;
      try {
        await manager.start();
      } catch (err) {
        this.ipvsClient = undefined;
        client.close();
        throw err;
      }
      this.ipvs = manager;
      for (const t of this.vrrp?.lastTransitions() ?? []) {
        void manager.onVrrpState(t.to, t.instance).catch(() => undefined);
      }
    } catch (err) {
      // VRRP keeps running: the VIP still fails over; the IPVS table is not managed.
      this.log.error(
        { err, event: "ipvs.start_failed" },
        `IPVS manager not started: ${describeError(err)}; VRRP runs without it`,
      );
    }
  }

  private async stopIpvs(): Promise<void> {
    const ipvs = this.ipvs;
    this.ipvs = undefined;
    if (ipvs) await ipvs.stop().catch((err: unknown) => this.log.error({ err }, "IPVS manager stop failed"));
    this.ipvsClient?.close();
    this.ipvsClient = undefined;
  }

  // ------------------------------------------------------------------ reload

  /** SIGHUP. Resolves true when the new config was applied (or had no changes). */
  reload(): Promise<boolean> {
    const run = this.reloading.then(() => this.reloadNow());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private logWarnings(warnings: readonly ConfigIssue[]): void {
    for (const w of warnings) {
      this.log.warn({ event: "config.warning", config: this.configPath, path: w.path }, formatIssue(w));
    }
  }

  private async reloadNow(): Promise<boolean> {
    if (this.stopping) return false;
    const result = loadConfig(this.configPath);
    if (!result.ok) {
      const errors = result.errors.map(formatIssue);
      this.log.error(
        { event: "config.reload_rejected", config: this.configPath, errors },
        `reload rejected: ${this.configPath} has ${errors.length} error(s); the running config is unchanged:\n${errors.join("\n")}`,
      );
      return false;
    }
    const next = result.config;
    this.logWarnings(result.warnings);
    const d = diff(this.config, next);
    if (!d.changed) {
      this.log.info({ event: "config.reload_unchanged", config: this.configPath }, "reload: no changes");
      return true;
    }
    let ok = true;
    const nextView = notifyConfigView(next);
    this.notifyView = mergeViews(nextView, this.notifyView);
    if (d.log) setLogLevel(next.log.level);
    if (d.alerts || d.node) {
      try {
        const alerts = Alerts.fromConfig(toAlertWebhooks(next.alerts.webhooks));
        const old = this.alerts;
        this.alerts = alerts;
        this.events = new EventFactory({ node: next.node });
        void old.close({ drainMs: 2000 });
      } catch (err) {
        ok = false;
        this.log.error({ err }, `reload: alerts not changed: ${describeError(err)}`);
      }
    }
    const vrrpChanged =
      d.node ||
      d.log ||
      d.vrrp.heartbeatTimeout ||
      d.vrrp.tracking ||
      [d.vrrp.instances, d.vrrp.syncGroups].some(
        (n) => n.added.length + n.removed.length + n.changed.length > 0,
      );
    if (vrrpChanged) {
      try {
        if (next.vrrp.instances.length === 0) {
          const host = this.vrrp;
          this.vrrp = undefined;
          await host?.stop();
          await this.stopTracking();
        } else if (!this.vrrp) {
          this.vrrp = await this.startVrrp(next);
        } else {
          // New definitions first: the reloaded worker starts from their states.
          this.tracking?.reconfigure(next.vrrp);
          const errors = await this.vrrp.reload({
            node: next.node,
            logLevel: next.log.level,
            vrrp: next.vrrp,
          });
          for (const e of errors) {
            ok = false;
            this.log.error({ error: e }, `reload: VRRP: ${e.code}: ${e.message}`);
          }
        }
      } catch (err) {
        ok = false;
        this.log.error({ err }, `reload: VRRP not updated: ${describeError(err)}`);
      }
    }
    const vsChanged =
      d.ipvs ||
      d.health ||
      d.virtualServers.added.length + d.virtualServers.removed.length + d.virtualServers.changed.length > 0;
    if (vsChanged && next.virtualServers.length === 0) {
      await this.stopHealth();
      await this.stopIpvs();
    } else if (vsChanged) {
      let health: Map<string, ServerHealth> | undefined;
      if (this.health) health = this.health.reload(next.virtualServers, next.health);
      else
        await this.startHealth(next).catch((err: unknown) => {
          ok = false;
          this.log.error({ err }, `reload: health checks not started: ${describeError(err)}`);
        });
      if (!this.ipvs) await this.startIpvs(next);
      else {
        await this.ipvs
          .updateConfig({
            virtualServers: next.virtualServers,
            ipvs: next.ipvs,
            ...(health ? { health } : {}),
          })
          .catch((err: unknown) => {
            ok = false;
            this.log.error({ err }, `reload: IPVS update failed: ${describeError(err)}`);
          });
      }
    }
    if (d.api) {
      try {
        const api = await this.startApi(next);
        const old = this.api;
        this.api = api;
        await old?.close();
      } catch (err) {
        ok = false;
        this.log.error({ err }, `reload: API socket not changed: ${describeError(err)}`);
      }
    }
    if (d.metrics) {
      await this.metrics?.close().catch(() => undefined);
      this.metrics = undefined;
      if (next.metrics.listen) {
        try {
          this.metrics = await MetricsServer.start({
            listen: next.metrics.listen,
            provider: () => this.status(),
          });
        } catch (err) {
          ok = false;
          this.log.error({ err }, `reload: metrics not started: ${describeError(err)}`);
        }
      }
    }
    this.config = next;
    this.notifyView = nextView;
    this.configLoadedAt = new Date();
    this.log.info(
      { event: "config.reloaded", config: this.configPath, changes: summarize(d), ok },
      ok ? "config reloaded" : "config reloaded with errors (see above)",
    );
    return ok;
  }

  // ------------------------------------------------------------------ status

  /** The whole daemon's status, as `GET /status` and `vipd status` serve it. */
  status(): Promise<DaemonStatus> {
    const vrrp = this.vrrp?.running ? this.vrrp : undefined;
    const ipvs = this.ipvs;
    const client = this.ipvsClient;
    return collectStatus({
      node: this.config.node,
      version: vipdVersion(),
      startedAt: this.startedAt,
      configFile: this.configPath,
      configLoadedAt: this.configLoadedAt,
      ...(vrrp ? { vrrp: { status: () => vrrp.status(), transitions: () => vrrp.lastTransitions() } } : {}),
      ...(ipvs
        ? {
            ipvs: {
              manager: () => ipvs.status(),
              ...(client ? { snapshot: () => client.snapshot() } : {}),
              ...(this.health
                ? { healthy: (vs: string, dest: string) => this.health?.serving(vs, dest) }
                : {}),
              reconciles: this.reconciles,
            },
          }
        : {}),
      ...(this.health ? { health: () => (this.health as HealthManager).status() } : {}),
      alerts: () => this.alerts.stats(),
    });
  }

  /** Current VRRP instances (empty without VRRP). */
  async instances(): Promise<InstanceStatus[]> {
    return this.vrrp?.running ? (await this.vrrp.status()).instances : [];
  }

  // ------------------------------------------------------------------ stop

  /** Graceful stop (SIGTERM/SIGINT). Idempotent; resolves when everything is closed. */
  stop(reason = "requested"): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ event: "daemon.stopping", reason }, `vipd stopping (${reason})`);
      await this.reloading;
      await this.teardown();
      this.log.info({ event: "daemon.stopped", exitCode: this.exitCode }, "vipd stopped");
      this.resolveDone(this.exitCode);
    })();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    const api = this.api;
    const metrics = this.metrics;
    this.api = undefined;
    this.metrics = undefined;
    await Promise.all([api?.close(), metrics?.close()].map((p) => p?.catch(() => undefined)));
    const host = this.vrrp;
    this.vrrp = undefined;
    if (host) await host.stop().catch((err: unknown) => this.log.error({ err }, "VRRP stop failed"));
    await this.stopTracking();
    await this.stopHealth();
    await this.stopIpvs();
    // The stop hooks were queued as VRRP stopped; they get their timeout, within a bound.
    await this.notifier.drain(NOTIFY_DRAIN_MS);
    await this.alerts.close({ drainMs: 2000 }).catch(() => undefined);
  }

  /** The VRRP worker died: take our VIPs down ourselves, stop, exit 1. */
  private async fail(err: Error): Promise<void> {
    this.exitCode = 1;
    this.log.fatal({ err, event: "daemon.vrrp_crashed" }, "VRRP worker died: removing VIPs and exiting");
    try {
      const { Rtnetlink } = await import("../sys/rtnetlink.js");
      const rt = await Rtnetlink.open();
      try {
        for (const i of this.config.vrrp.instances) {
          for (const v of [...i.virtualIps].reverse()) {
            await rt.deleteAddress(i.interface, `${v.address}/${v.prefixLength}`).catch(() => undefined);
          }
        }
      } finally {
        rt.close();
      }
    } catch (e) {
      this.log.error({ err: e }, "could not remove VIPs after the VRRP worker died");
    }
    await this.stop("VRRP worker died");
  }

  // ------------------------------------------------------------------ signals

  /** SIGHUP → reload, SIGTERM/SIGINT → stop, SIGUSR2 → debug hook (env-gated). Returns an uninstaller. */
  installSignalHandlers(): () => void {
    const onHup = () => {
      this.log.info({ event: "signal", signal: "SIGHUP" }, "SIGHUP: reloading the config");
      void this.reload();
    };
    const onTerm = (signal: NodeJS.Signals) => {
      if (this.stopping) {
        this.log.warn({ event: "signal", signal }, `${signal} while stopping: already shutting down`);
        return;
      }
      void this.stop(signal);
    };
    process.on("SIGHUP", onHup);
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onTerm);
    const blockMs = Number(process.env[DEBUG_BLOCK_ENV]);
    const debug = Number.isFinite(blockMs) && blockMs > 0;
    const onUsr2 = () => this.blockMainThread(blockMs);
    if (debug) {
      process.on("SIGUSR2", onUsr2);
      this.log.warn(
        { event: "debug.hook", env: DEBUG_BLOCK_ENV, blockMs },
        `debug hook armed: SIGUSR2 blocks the main thread for ${blockMs} ms`,
      );
    }
    return () => {
      process.off("SIGHUP", onHup);
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onTerm);
      if (debug) process.off("SIGUSR2", onUsr2);
    };
  }

  /** The debug hook: a busy loop on the main thread (no I/O, no timers run meanwhile). */
  blockMainThread(ms: number): void {
    this.log.warn({ event: "debug.block_main", ms }, `debug: blocking the main thread for ${ms} ms`);
    const start = performance.now();
    const end = start + ms;
    let spins = 0;
    while (performance.now() < end) spins += 1;
    this.log.warn(
      { event: "debug.unblock_main", ms: Math.round(performance.now() - start), spins },
      `debug: main thread unblocked after ${Math.round(performance.now() - start)} ms`,
    );
  }
}

/**
 * The VRRP lab topology shared by the interop, malformed-advert and webhook tests, the failover
 * benchmark and the demo: one bridge, a client, two directors each running an HTTP server that
 * answers with its name, and optionally a third host to inject packets from.
 *
 *        cl 10.77.0.10        x 10.77.0.9 (injector)
 *              \                 /
 *               +----- lan -----+          VIP 10.77.0.100/24, VRID 51
 *              /                 \
 *        d1 10.77.0.1         d2 10.77.0.2      (HTTP :80 → "d1" / "d2")
 *
 * Addresses are the same in every run: each run has its own namespaces, so runs never meet.
 */
import { fileURLToPath } from "node:url";
import { VipdError } from "../../../src/errors.js";
import { Keepalived } from "./keepalived.js";
import { LineLog } from "./lines.js";
import { type ExitStatus, Lab, type LabProcess } from "./netns.js";
import { RunDir } from "./rundir.js";
import { Vipd, type VipdSpec } from "./vipd.js";

export const NET = {
  client: "10.77.0.10",
  injector: "10.77.0.9",
  d1: "10.77.0.1",
  d2: "10.77.0.2",
  vip: "10.77.0.100",
  prefixLength: 24,
  vrid: 51,
  httpPort: 80,
} as const;

export const VIP_CIDR = `${NET.vip}/${NET.prefixLength}`;
export const VIP_URL = `http://${NET.vip}:${NET.httpPort}/`;

export type Director = "d1" | "d2";
export const DIRECTORS: readonly Director[] = ["d1", "d2"];

const NAME_SERVER = fileURLToPath(new URL("../fixtures/http-name-server.mjs", import.meta.url));

export interface DirectorLabOptions {
  /** Lab prefix (lowercase, ≤ 12 chars): distinct per suite so that runs are easy to tell apart. */
  prefix: string;
  /** Add host `x` (10.77.0.9) for packet injection; default false. */
  injector?: boolean;
  /** Start the HTTP name servers in d1 and d2; default true. */
  httpServers?: boolean;
  /**
   * Only the two directors, with these addresses on the bridge (e.g. IPv6 ULAs), instead of the
   * IPv4 topology with its client (and injector).
   */
  directorsOnly?: { addresses: Record<Director, string>; prefixLength: number };
}

export interface DirectorLab {
  lab: Lab;
  /** Scratch directory for configs, pid files, sockets and secrets of this run. */
  dir: RunDir;
  /** Stops every process, deletes the namespaces and the scratch directory. Idempotent. */
  close(): Promise<void>;
}

export async function createDirectorLab(opts: DirectorLabOptions): Promise<DirectorLab> {
  const lab = await Lab.create({ prefix: opts.prefix });
  const dir = new RunDir(`${opts.prefix}-`);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      await lab.destroy();
    } finally {
      dir.remove();
    }
  };
  try {
    await lab.bridge("lan");
    const only = opts.directorsOnly;
    if (only !== undefined) {
      for (const d of DIRECTORS) await lab.host(d, { lan: `${only.addresses[d]}/${only.prefixLength}` });
      return { lab, dir, close };
    }
    const mask = `/${NET.prefixLength}`;
    await lab.host("cl", { lan: `${NET.client}${mask}` });
    await lab.host("d1", { lan: `${NET.d1}${mask}` });
    await lab.host("d2", { lan: `${NET.d2}${mask}` });
    if (opts.injector) await lab.host("x", { lan: `${NET.injector}${mask}` });
    if (opts.httpServers ?? true) {
      const servers: LabProcess[] = DIRECTORS.map((d) =>
        lab.spawn(d, [process.execPath, NAME_SERVER, d, String(NET.httpPort)]),
      );
      await Promise.all(servers.map((p) => new LineLog(p).waitFor(/^listening/, { timeoutMs: 15_000 })));
    }
    return { lab, dir, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** IPv4 addresses (with prefix) on `ifname` in `host`, e.g. ["10.77.0.1/24", "10.77.0.100/24"]. */
export async function addressesOf(lab: Lab, host: string, ifname = "eth0"): Promise<string[]> {
  const out = await lab.run(host, ["ip", "-4", "-o", "addr", "show", "dev", ifname]);
  return [...out.matchAll(/\binet (\S+)/g)].map((m) => m[1]!);
}

/** True when `host` holds the VIP. */
export async function holdsVip(lab: Lab, host: string): Promise<boolean> {
  return (await addressesOf(lab, host)).includes(VIP_CIDR);
}

/** Which directors hold the VIP right now. */
export async function vipHolders(lab: Lab): Promise<Director[]> {
  const held = await Promise.all(DIRECTORS.map((d) => holdsVip(lab, d)));
  return DIRECTORS.filter((_, i) => held[i]);
}

/** What the tests, the benchmark and the demo need of a VRRP daemon, vipd or keepalived. */
export interface VrrpDaemon {
  readonly kind: "vipd" | "keepalived";
  readonly host: string;
  /** The index of the next log line (for waits that must only see what happens next). */
  readonly mark: number;
  readonly running: boolean;
  /** The state according to the daemon's last logged transition. */
  state(): string | undefined;
  waitForState(
    state: "MASTER" | "BACKUP" | "FAULT",
    opts?: { from?: number; timeoutMs?: number },
  ): Promise<unknown>;
  stop(graceMs?: number): Promise<ExitStatus>;
}

export type Implementation = "vipd" | "keepalived";

export interface DirectorSpec {
  version: 2 | 3;
  advertIntervalMs: number;
  priority: number;
  /** Default true. */
  preempt?: boolean;
  /** VRRPv2 simple password (keepalived's auth_type PASS); default none. */
  password?: string;
  /** vipd only: extra settings for the director's config (webhooks, log level). */
  vipd?: Pick<VipdSpec, "webhooks" | "logLevel" | "heartbeatTimeoutMs">;
}

/**
 * Starts one director of the topology (the VIP instance on eth0, VRID 51) with `impl`; resolves
 * once it has joined. vipd's instance is named "web"; keepalived's "VI_51".
 */
export async function startDirector(
  impl: Implementation,
  dl: DirectorLab,
  host: Director,
  spec: DirectorSpec,
): Promise<VrrpDaemon> {
  if (impl === "keepalived") {
    return Keepalived.start(dl.lab, host, dl.dir, {
      routerId: host,
      version: spec.version,
      instances: [
        {
          interface: "eth0",
          vrid: NET.vrid,
          priority: spec.priority,
          advertIntervalMs: spec.advertIntervalMs,
          preempt: spec.preempt ?? true,
          virtualIps: [VIP_CIDR],
          ...(spec.password !== undefined ? { authPass: spec.password } : {}),
        },
      ],
    });
  }
  return Vipd.start(dl.lab, host, dl.dir, {
    node: host,
    ...spec.vipd,
    instances: [
      {
        name: "web",
        interface: "eth0",
        vrid: NET.vrid,
        priority: spec.priority,
        version: spec.version,
        advertIntervalMs: spec.advertIntervalMs,
        preempt: spec.preempt ?? true,
        virtualIps: [VIP_CIDR],
        ...(spec.password !== undefined ? { password: spec.password } : {}),
      },
    ],
  });
}

/**
 * The protocol's Master_Down_Interval in ms for a backup of priority `backupPriority`
 * (RFC 3768/5798: 3 × advert interval + skew; v2 skew is (256 − prio)/256 s, v3 skew scales
 * with the advert interval).
 */
export function masterDownMs(version: 2 | 3, advertIntervalMs: number, backupPriority: number): number {
  return 3 * advertIntervalMs + skewMs(version, advertIntervalMs, backupPriority);
}

/** The protocol's Skew_Time in ms (the handover time after a priority-0 advert). */
export function skewMs(version: 2 | 3, advertIntervalMs: number, priority: number): number {
  return version === 2 ? ((256 - priority) * 1000) / 256 : ((256 - priority) * advertIntervalMs) / 256;
}

/**
 * Polls until `master` is MASTER, `backup` is BACKUP (by their logs) and only the master holds
 * the VIP: an election is over (both may have been master for a moment when they started
 * together).
 */
export async function waitForSettled(
  lab: Lab,
  master: VrrpDaemon,
  backup: VrrpDaemon,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const holders = await vipHolders(lab);
    const ok =
      master.state() === "MASTER" &&
      backup.state() === "BACKUP" &&
      holders.length === 1 &&
      holders[0] === master.host;
    if (ok) return;
    if (Date.now() > deadline) {
      throw new VipdError("LAB_WAIT_TIMEOUT", `the election did not settle within ${timeoutMs} ms`, {
        master: { host: master.host, state: master.state() },
        backup: { host: backup.host, state: backup.state() },
        holders,
      });
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

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
import { LineLog } from "./lines.js";
import { Lab, type LabProcess } from "./netns.js";
import { RunDir } from "./rundir.js";

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
    const mask = `/${NET.prefixLength}`;
    await lab.bridge("lan");
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

/**
 * From virtual servers to probes (docs/health.md), pure. A probe is one (target, check) pair;
 * identical probes, the same real server checked the same way behind several virtual servers,
 * are one probe whose results fan out to every real server that uses it. A probe's id is a
 * function of its target and spec alone, so it is stable across reloads and restarts: a reload
 * keeps the state of every probe whose id survives, and persisted state is matched by id.
 */
import { createHash } from "node:crypto";
import { formatEndpoint, ipFamily } from "../config/net.js";
import type { ProbeCheckConfig, RealServerConfig, VirtualServerConfig } from "../config/types.js";
import type { CheckTarget } from "./types.js";

export interface ProbeDef {
  id: string;
  target: CheckTarget;
  spec: ProbeCheckConfig;
}

/** A real server and the probes that decide its health. */
export interface ServerChecks {
  /** engine/desired.ts's healthKey: "web/10.0.0.21:80". */
  key: string;
  virtualServer: string;
  /** "10.0.0.21:80", "[2001:db8::21]:80". */
  realServer: string;
  /** Ids of its health probes (all must be up), in config order. */
  probes: string[];
  /** Ids of its agent probes (weight and admin state; never a failure by themselves). */
  agents: string[];
}

export interface ProbePlan {
  probes: ProbeDef[];
  servers: ServerChecks[];
  /** Real-server checks before deduplication (the dedup ratio is this over probes.length). */
  subscriptions: number;
}

/** JSON with object keys sorted: equal specs give equal text whatever order the parser built them in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Where a check of this real server connects. DNS on a port-less (fwmark) real server uses 53. */
export function checkTarget(
  rs: Pick<RealServerConfig, "address" | "port">,
  spec: ProbeCheckConfig,
): CheckTarget {
  const address = spec.connectAddress ?? rs.address;
  const port = spec.connectPort ?? (rs.port === 0 && spec.type === "dns" ? 53 : rs.port);
  return { address, port, family: ipFamily(address) === 6 ? 6 : 4 };
}

/** "http 10.0.0.21:80 #1a2b3c4d5e6f": readable in logs, unique by the digest of everything. */
export function probeId(target: CheckTarget, spec: ProbeCheckConfig): string {
  const digest = createHash("sha256").update(canonicalJson({ target, spec })).digest("hex").slice(0, 12);
  return `${spec.type} ${formatEndpoint(target.address, target.port)} #${digest}`;
}

/** A real server's key in health maps: "web/10.0.0.21:80", "web6/[2001:db8::21]:80". */
export function healthKey(virtualServer: string, rs: Pick<RealServerConfig, "address" | "port">): string {
  return `${virtualServer}/${formatEndpoint(rs.address, rs.port)}`;
}

export function planProbes(virtualServers: readonly VirtualServerConfig[]): ProbePlan {
  const probes = new Map<string, ProbeDef>();
  const servers: ServerChecks[] = [];
  let subscriptions = 0;
  for (const vs of virtualServers) {
    for (const rs of vs.realServers) {
      if (rs.checks.length === 0) continue;
      const server: ServerChecks = {
        key: healthKey(vs.name, rs),
        virtualServer: vs.name,
        realServer: formatEndpoint(rs.address, rs.port),
        probes: [],
        agents: [],
      };
      for (const spec of rs.checks) {
        const target = checkTarget(rs, spec);
        const id = probeId(target, spec);
        if (!probes.has(id)) probes.set(id, { id, target, spec });
        (spec.type === "agent" ? server.agents : server.probes).push(id);
        subscriptions++;
      }
      servers.push(server);
    }
  }
  return { probes: [...probes.values()], servers, subscriptions };
}

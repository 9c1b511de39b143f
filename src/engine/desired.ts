import type { EventFactory, QuorumGainedEvent, QuorumLostEvent } from "../alert/events.js";
import type { Endpoint, RealServerConfig, TunnelConfig, VirtualServerConfig } from "../config/types.js";
import { healthKey } from "../health/probes.js";
import {
  type AddressFamily,
  AF_INET,
  AF_INET6,
  type Destination,
  type DestOptions,
  destKeyString,
  type IpvsTable,
  type ServiceFlags,
  type ServiceKey,
  type ServiceOptions,
  type TunnelOptions,
} from "../ipvs/types.js";

/**
 * Desired IPVS state: configured virtual servers × real server health → the table vipd keeps in
 * the kernel. Pure: no I/O, no clock; the quorum state of the previous evaluation goes in and the
 * new one comes out, so hysteresis is a function of data.
 *
 * Rules:
 * - A real server's health comes from the health map (see ServerHealth); a server the map does
 *   not name is up with its configured weight. The health manager (engine/health-manager.ts)
 *   names every checked server, so "not named" means "not checked".
 * - A disabled real server (`vipd server disable`, an agent's `maint`) is left out whatever
 *   `on_failure` says.
 * - An unhealthy real server is left out (`on_failure: remove`) or kept with weight 0
 *   (`on_failure: inhibit`: quiesced, established connections continue).
 * - A healthy one gets the health's weight when it has one (slow start, an agent's share,
 *   exec's dynamic weight, drain = 0), else its configured weight.
 * - Quorum: the sum of the configured weights of the healthy real servers, against
 *   `quorum.weight`, with hysteresis: quorum is lost when the sum falls below
 *   weight − hysteresis and gained again when it reaches weight + hysteresis. The first
 *   evaluation has no history: quorum is up when the sum reaches weight.
 * - The sorry server is a destination (weight 1, the service's forwarding) while no real
 *   server is healthy or quorum is lost; it goes away as soon as neither holds.
 */

export { healthKey };

/** What the IPVS side needs of a real server's health. */
export interface ServerHealth {
  up: boolean;
  /** The weight while up, when it is not the configured one. */
  weight?: number;
  /** Out of the table whatever on_failure says. */
  disabled?: boolean;
}

/** Real server health by {@link healthKey}; `true`/`false` is short for `{ up }`. */
export type HealthMap = ReadonlyMap<string, boolean | ServerHealth>;

const UP: ServerHealth = { up: true };

export function serverHealth(
  vs: VirtualServerConfig,
  rs: RealServerConfig,
  health?: HealthMap,
): ServerHealth {
  const h = health?.get(healthKey(vs.name, rs));
  if (h === undefined) return UP;
  // The short form comes from callers that know only up/down; a server without checks is up.
  if (typeof h === "boolean") return h || rs.checks.length === 0 ? UP : { up: false };
  return h;
}

export function sameHealth(
  a: boolean | ServerHealth | undefined,
  b: boolean | ServerHealth | undefined,
): boolean {
  const norm = (h: boolean | ServerHealth | undefined): ServerHealth =>
    h === undefined ? UP : typeof h === "boolean" ? { up: h } : h;
  const x = norm(a);
  const y = norm(b);
  return x.up === y.up && x.weight === y.weight && (x.disabled ?? false) === (y.disabled ?? false);
}

function af(family: 4 | 6): AddressFamily {
  return family === 6 ? AF_INET6 : AF_INET;
}

/** The IPVS identity of a virtual server. */
export function serviceKeyOf(vs: VirtualServerConfig): ServiceKey {
  if (vs.fwmark !== undefined) return { kind: "fwmark", af: af(vs.family), fwmark: vs.fwmark };
  return {
    kind: "inet",
    af: af(vs.family),
    protocol: vs.protocol,
    address: vs.address as string,
    port: vs.port as number,
  };
}

/** The IPVS service options of a virtual server. */
export function serviceOptionsOf(vs: VirtualServerConfig): ServiceOptions {
  const flags: ServiceFlags = {};
  if (vs.persistence) flags.persistent = true;
  if (vs.onePacket) flags.onePacket = true;
  if (vs.scheduler === "sh") {
    if (vs.schedulerFlags.fallback) flags.shFallback = true;
    if (vs.schedulerFlags.port) flags.shPort = true;
  } else if (vs.scheduler === "mh") {
    if (vs.schedulerFlags.fallback) flags.mhFallback = true;
    if (vs.schedulerFlags.port) flags.mhPort = true;
  }
  const options: ServiceOptions = { scheduler: vs.scheduler, flags };
  if (vs.persistence) {
    options.timeout = Math.round(vs.persistence.timeoutMs / 1000);
    options.netmask = vs.persistence.netmaskPrefix;
  }
  return options;
}

/** Tunnel options in canonical form (every field present). */
function tunnelOf(t: TunnelConfig | undefined): TunnelOptions {
  return {
    type: t?.type ?? "ipip",
    port: t?.port ?? 0,
    flags: { csum: t?.checksum === "csum", remcsum: t?.checksum === "remcsum" },
  };
}

/**
 * Destination options for a real server (or the sorry server) of this virtual server, in
 * canonical form. Options are values, never changed in place: equal ones may be shared.
 */
export function destOptionsOf(
  vs: VirtualServerConfig,
  weight: number,
  thresholds: { upperThreshold?: number; lowerThreshold?: number } = {},
): DestOptions {
  const o: DestOptions = {
    forwarding: vs.forwarding,
    weight,
    upperThreshold: thresholds.upperThreshold ?? 0,
    lowerThreshold: thresholds.lowerThreshold ?? 0,
  };
  if (vs.forwarding === "tun") o.tunnel = tunnelOf(vs.tunnel);
  return o;
}

export interface QuorumTransition {
  virtualServer: string;
  event: "quorum.lost" | "quorum.gained";
  /** Sum of the weights of the healthy real servers. */
  weight: number;
  /** The configured quorum weight. */
  quorum: number;
}

export interface VirtualServerState {
  name: string;
  service: ServiceKey;
  realServers: number;
  healthy: number;
  healthyWeight: number;
  quorum: boolean;
  sorryServer: boolean;
}

export interface DesiredState {
  table: IpvsTable;
  /** Quorum per virtual server name (true = has quorum): pass it back in next time. */
  quorum: Map<string, boolean>;
  /** Quorum changes against `previousQuorum` (none on a virtual server's first evaluation). */
  transitions: QuorumTransition[];
  virtualServers: VirtualServerState[];
}

/** Quorum after hysteresis; `previous` undefined = first evaluation. */
export function quorumUp(
  previous: boolean | undefined,
  weight: number,
  q: { weight: number; hysteresis: number },
): boolean {
  if (previous === undefined) return weight >= q.weight;
  if (previous) return weight >= q.weight - q.hysteresis;
  return weight >= q.weight + q.hysteresis;
}

function sorryDest(vs: VirtualServerConfig, sorry: Endpoint): Destination {
  return {
    key: { address: sorry.address, port: sorry.port, af: af(sorry.family) },
    options: destOptionsOf(vs, 1),
  };
}

/** The desired table (see the module comment). */
export function desiredState(
  virtualServers: readonly VirtualServerConfig[],
  health?: HealthMap,
  previousQuorum?: ReadonlyMap<string, boolean>,
): DesiredState {
  const table: IpvsTable = [];
  const quorum = new Map<string, boolean>();
  const transitions: QuorumTransition[] = [];
  const states: VirtualServerState[] = [];
  for (const vs of virtualServers) {
    const service = { key: serviceKeyOf(vs), options: serviceOptionsOf(vs) };
    const destinations: Destination[] = [];
    // Real servers with equal options share one options object: a big table then keeps a
    // handful of them alive through the diff instead of one per destination.
    const shared = new Map<string, DestOptions>();
    const optionsFor = (weight: number, u: number, l: number): DestOptions => {
      const k = `${weight}|${u}|${l}`;
      let o = shared.get(k);
      if (!o) {
        o = destOptionsOf(vs, weight, { upperThreshold: u, lowerThreshold: l });
        shared.set(k, o);
      }
      return o;
    };
    let healthy = 0;
    let healthyWeight = 0;
    for (const rs of vs.realServers) {
      const h = serverHealth(vs, rs, health);
      if (h.disabled) continue;
      if (h.up) {
        healthy++;
        // A drained server serves no new connections: it does not count toward quorum.
        if (h.weight !== 0) healthyWeight += rs.weight;
      } else if (vs.onFailure === "remove") {
        continue;
      }
      destinations.push({
        key: { address: rs.address, port: rs.port, af: af(rs.family) },
        options: optionsFor(h.up ? (h.weight ?? rs.weight) : 0, rs.upperThreshold, rs.lowerThreshold),
      });
    }
    const prev = previousQuorum?.get(vs.name);
    const has = quorumUp(prev, healthyWeight, vs.quorum);
    quorum.set(vs.name, has);
    if (prev !== undefined && prev !== has) {
      transitions.push({
        virtualServer: vs.name,
        event: has ? "quorum.gained" : "quorum.lost",
        weight: healthyWeight,
        quorum: vs.quorum.weight,
      });
    }
    const sorryOn = vs.sorryServer !== undefined && (healthy === 0 || !has);
    if (sorryOn && vs.sorryServer) {
      const sorry = sorryDest(vs, vs.sorryServer);
      const ks = destKeyString(sorry.key);
      const same = destinations.find((d) => destKeyString(d.key) === ks);
      // A sorry server that is also a (failed, inhibited) real server serves as the sorry server.
      if (!same) destinations.push(sorry);
      else if (same.options.weight === 0) same.options = { ...same.options, weight: 1 };
    }
    table.push({ service, destinations });
    states.push({
      name: vs.name,
      service: service.key,
      realServers: vs.realServers.length,
      healthy,
      healthyWeight,
      quorum: has,
      sorryServer: sorryOn,
    });
  }
  return { table, quorum, transitions, virtualServers: states };
}

/** The alert event for a quorum transition. */
export function quorumEvent(factory: EventFactory, t: QuorumTransition): QuorumLostEvent | QuorumGainedEvent {
  const fields = { virtual_server: t.virtualServer, weight: t.weight, quorum: t.quorum };
  return t.event === "quorum.lost" ? factory.quorumLost(fields) : factory.quorumGained(fields);
}

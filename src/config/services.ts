import { isMap, isScalar } from "yaml";
import {
  checkRealServer,
  type ResolvedCheck,
  readCheckSpec,
  realServerChecks,
  resolveSpec,
  type ServiceChecks,
} from "./checks.js";
import { DEFAULTS } from "./defaults.js";
import { virtualServerKey } from "./diff.js";
import { CONFIG_KEYS } from "./keys.js";
import {
  canonicalIp,
  formatEndpoint,
  ipFamily,
  netmaskToPrefix,
  nonUnicastReason,
  parseEndpoint,
} from "./net.js";
import { readRealServerNotify } from "./notify.js";
import { describe, type Field, type MapReader, type Reader } from "./reader.js";
import {
  type AddressFamily,
  type Endpoint,
  type Forwarding,
  type MaxDown,
  type OnFailure,
  type PersistenceConfig,
  type Protocol,
  type QuorumConfig,
  type RealServerConfig,
  type RealServerNotifyConfig,
  SCHEDULERS,
  type Scheduler,
  type SchedulerFlags,
  type TunnelChecksum,
  type TunnelConfig,
  type TunnelType,
  type VirtualServerConfig,
} from "./types.js";

const PROTOCOLS: readonly Protocol[] = ["tcp", "udp", "sctp"];
const FORWARDING: readonly Forwarding[] = ["nat", "dr", "tun"];
const ON_FAILURE: readonly OnFailure[] = ["remove", "inhibit"];
const FAMILIES = ["ipv4", "ipv6"] as const;
const TUNNEL_TYPES: readonly TunnelType[] = ["ipip", "gue", "gre"];
const TUNNEL_CHECKSUMS: readonly TunnelChecksum[] = ["none", "csum", "remcsum"];
const MAX_U32 = 0xffff_ffff;
const MAX_I32 = 0x7fff_ffff;
const MAX_SLOW_START_MS = 3_600_000;

const fam = (family: AddressFamily): string => `IPv${family}`;

export function readVirtualServers(r: Reader, field: Field | undefined): VirtualServerConfig[] {
  if (field === undefined) return [];
  const items = r.list(field, "a list of virtual servers") ?? [];
  const names = new Map<string, Field>();
  const identities = new Map<string, string>();
  const out: VirtualServerConfig[] = [];
  for (const item of items) {
    const vs = readVirtualServer(r, item, names, identities);
    if (vs !== undefined) out.push(vs);
  }
  return out;
}

function readVirtualServer(
  r: Reader,
  item: Field,
  names: Map<string, Field>,
  identities: Map<string, string>,
): VirtualServerConfig | undefined {
  const map = r.map(item, CONFIG_KEYS.virtual_server, "a virtual server mapping");
  if (map === undefined) return undefined;
  const errorsBefore = r.errorCount;

  const nameField = map.required("name");
  const name = nameField === undefined ? undefined : r.string(nameField, "a virtual server name");
  if (name !== undefined && nameField !== undefined) {
    const first = names.get(name);
    if (first !== undefined) {
      r.fail(
        nameField,
        `duplicate virtual server name '${name}' (first defined at line ${r.lineOf(first.node)})`,
      );
    } else {
      names.set(name, nameField);
    }
  }

  const protocol = opt(map, "protocol", DEFAULTS.virtualServer.protocol, (f) =>
    r.oneOf(f, PROTOCOLS, "protocol"),
  );
  const scheduler = opt(map, "scheduler", DEFAULTS.virtualServer.scheduler, (f) =>
    r.oneOf<Scheduler>(f, SCHEDULERS, "scheduler"),
  );
  const forwarding = opt(map, "forwarding", DEFAULTS.virtualServer.forwarding as Forwarding, (f) =>
    r.oneOf(f, FORWARDING, "forwarding method"),
  );
  const onFailure = opt(map, "on_failure", DEFAULTS.virtualServer.onFailure as OnFailure, (f) =>
    r.oneOf(f, ON_FAILURE, "on_failure action"),
  );

  // Identity: address + port, or fwmark.
  const addressField = map.get("address");
  const portField = map.get("port");
  const fwmarkField = map.get("fwmark");
  let address: string | undefined;
  let port: number | undefined;
  let fwmark: number | undefined;
  let family: AddressFamily | undefined;
  let identityOk = true;
  if (fwmarkField !== undefined) {
    fwmark = r.integer(fwmarkField, 1, MAX_U32, "a firewall mark");
    if (addressField !== undefined) {
      r.error(addressField.key, addressField.path, "use either 'address' and 'port' or 'fwmark', not both");
      identityOk = false;
    }
    if (portField !== undefined) {
      r.error(
        portField.key,
        portField.path,
        "a fwmark service has no port ('port' belongs to its real servers)",
      );
      identityOk = false;
    }
  } else if (addressField !== undefined) {
    const text = r.string(addressField, "an IP address");
    const f = text === undefined ? 0 : ipFamily(text);
    if (text !== undefined && f === 0) r.fail(addressField, `'${text}' is not an IP address`);
    else if (text !== undefined && f !== 0) {
      address = canonicalIp(text);
      const bad = nonUnicastReason(address, f, true);
      if (bad !== undefined) address = r.fail(addressField, `address ${address} ${bad}`);
      else family = f;
    }
    const pf = map.required("port");
    if (pf !== undefined) port = r.integer(pf, 1, 65535, "a port");
  } else {
    r.error(
      map.field.node,
      `${map.field.path}.address`,
      "a virtual server needs 'address' and 'port', or 'fwmark'",
    );
    identityOk = false;
  }

  const familyField = map.get("family");
  if (familyField !== undefined) {
    const named = r.oneOf(familyField, FAMILIES, "family");
    const value: AddressFamily | undefined = named === undefined ? undefined : named === "ipv4" ? 4 : 6;
    if (value !== undefined && family !== undefined && value !== family) {
      r.fail(familyField, `family ${named} contradicts address ${address} (${fam(family)})`);
    } else if (value !== undefined) {
      family = value;
    }
  }

  // Scheduler flags (sh and mh only).
  const schedulerFlags: SchedulerFlags = { fallback: false, port: false };
  const flagsField = map.get("scheduler_flags");
  if (flagsField !== undefined && scheduler !== undefined) {
    readSchedulerFlags(r, flagsField, scheduler, schedulerFlags);
  }

  // Tunnel options (tun only).
  let tunnel: TunnelConfig | undefined;
  const tunnelField = map.get("tunnel");
  if (tunnelField !== undefined) {
    if (forwarding !== undefined && forwarding !== "tun") {
      r.error(
        tunnelField.key,
        tunnelField.path,
        `'tunnel' applies only to forwarding: tun (this service uses ${forwarding})`,
      );
    } else {
      tunnel = readTunnel(r, tunnelField);
    }
  } else if (forwarding === "tun") {
    tunnel = { type: DEFAULTS.virtualServer.tunnelType, checksum: DEFAULTS.virtualServer.tunnelChecksum };
  }

  const onePacket = opt(map, "one_packet", DEFAULTS.virtualServer.onePacket as boolean, (f) => r.boolean(f));
  const onePacketField = map.get("one_packet");
  if (onePacket === true && protocol !== undefined && protocol !== "udp" && onePacketField !== undefined) {
    r.fail(onePacketField, `one_packet needs protocol udp (this service is ${protocol})`);
  }

  const quorum = readQuorum(r, map.get("quorum"));

  // The service-level checks; real servers inherit them or merge theirs over them.
  const checkField = map.get("check");
  const checkSpec = checkField === undefined ? undefined : readCheckSpec(r, checkField);
  const serviceChecks: ServiceChecks = {
    ...(checkField === undefined ? {} : { field: checkField }),
    ...(checkSpec === undefined ? {} : { spec: checkSpec }),
    ...(checkSpec === undefined ? {} : { checks: resolveSpec(r, checkSpec) }),
  };
  const slowStartMs = opt(map, "slow_start", DEFAULTS.virtualServer.slowStartMs, (f) =>
    r.duration(f, 0, MAX_SLOW_START_MS),
  );
  const maxDownField = map.get("max_down");
  const maxDown = maxDownField === undefined ? undefined : readMaxDown(r, maxDownField);
  const notifyField = map.get("notify");
  const notify = notifyField === undefined ? undefined : readRealServerNotify(r, notifyField);

  // Real servers. For a fwmark service without `family`, the first real server decides it.
  const realServers: RealServerConfig[] = [];
  const rsField = map.get("real_servers");
  const rsItems = rsField === undefined ? [] : (r.list(rsField, "a list of real servers") ?? []);
  if (family === undefined && fwmark !== undefined) {
    for (const rs of rsItems) {
      const a = isMap(rs.node) ? rs.node.get("address") : undefined;
      const f = typeof a === "string" ? ipFamily(a) : 0;
      if (f !== 0) {
        family = f;
        break;
      }
    }
    family ??= 4;
  }
  const seenRs = new Map<string, Field>();
  for (const rs of rsItems) {
    const real = readRealServer(r, rs, {
      family,
      port,
      fwmark,
      forwarding,
      checks: serviceChecks,
      notify,
    });
    if (real === undefined) continue;
    if (real.key !== undefined && real.addressField !== undefined) {
      const first = seenRs.get(real.key);
      if (first !== undefined) {
        r.fail(
          real.addressField,
          `duplicate real server ${real.key} (first at line ${r.lineOf(first.node)})`,
        );
        continue;
      }
      seenRs.set(real.key, real.addressField);
    }
    if (real.value !== undefined) realServers.push(real.value);
  }

  // Sorry server: used while quorum is lost.
  let sorryServer: Endpoint | undefined;
  const sorryField = map.get("sorry_server");
  if (sorryField !== undefined) {
    const text = r.string(sorryField, "address:port");
    const parsed = text === undefined ? undefined : parseEndpoint(text);
    if (parsed !== undefined && !parsed.ok) r.fail(sorryField, `sorry_server ${parsed.reason}`);
    else if (parsed?.ok) {
      const s = parsed.value;
      const bad = nonUnicastReason(s.address, s.family, true);
      if (bad !== undefined) r.fail(sorryField, `sorry_server ${s.address} ${bad}`);
      else if (family !== undefined && s.family !== family && forwarding !== "tun") {
        r.fail(
          sorryField,
          `sorry_server is ${fam(s.family)} but the service is ${fam(family)} (mixed families need forwarding: tun)`,
        );
      } else if ((forwarding === "dr" || forwarding === "tun") && port !== undefined && s.port !== port) {
        r.fail(
          sorryField,
          `sorry_server port ${s.port} differs from the service port ${port}; ${forwarding} forwarding cannot map ports`,
        );
      } else {
        sorryServer = s;
      }
    }
  }

  const persistence = readPersistence(r, map.get("persistence"), family);

  if (identityOk && protocol !== undefined && family !== undefined) {
    if (fwmark !== undefined || (address !== undefined && port !== undefined)) {
      const identity = virtualServerKey({ fwmark, family, protocol, address, port });
      const first = identities.get(identity);
      const at = fwmarkField ?? addressField;
      if (first !== undefined && at !== undefined) {
        r.fail(at, `virtual server ${identity} is already defined by '${first}'`);
      } else {
        identities.set(identity, name ?? "?");
      }
    }
  }

  if (r.errorCount !== errorsBefore) return undefined;
  return {
    name: name as string,
    family: family as AddressFamily,
    ...(fwmark !== undefined ? { fwmark } : { address: address as string, port: port as number }),
    protocol: protocol as Protocol,
    scheduler: scheduler as Scheduler,
    schedulerFlags,
    forwarding: forwarding as Forwarding,
    ...(tunnel === undefined ? {} : { tunnel }),
    ...(persistence === undefined ? {} : { persistence }),
    onePacket: onePacket as boolean,
    onFailure: onFailure as OnFailure,
    quorum: quorum as QuorumConfig,
    ...(sorryServer === undefined ? {} : { sorryServer }),
    ...(serviceChecks.checks === undefined ? {} : { checks: serviceChecks.checks.map((c) => c.check) }),
    slowStartMs: slowStartMs as number,
    ...(maxDown === undefined ? {} : { maxDown }),
    realServers,
  };
}

/** The mass-failure guard: a count of real servers (`2`) or a share of them (`50%`). */
function readMaxDown(r: Reader, field: Field): MaxDown | undefined {
  const value = isScalar(field.node) ? field.node.value : undefined;
  if (typeof value === "string") {
    const match = /^(\d+(?:\.\d+)?)\s*%$/.exec(value);
    if (match === null)
      return r.fail(field, `max_down '${value}' is not a count or a percentage such as 50%`);
    const percent = Number(match[1]);
    if (percent > 100) return r.fail(field, `max_down ${value} is more than 100%`);
    return { percent };
  }
  if (typeof value !== "number")
    return r.fail(
      field,
      `expected a count of real servers or a percentage such as 50%, got ${describe(field.node)}`,
    );
  const count = r.integer(field, 0, MAX_I32, "a count of real servers");
  return count === undefined ? undefined : { count };
}

/** An optional key: its parsed value, the default when absent, undefined when invalid. */
function opt<T>(map: MapReader, key: string, fallback: T, parse: (f: Field) => T | undefined): T | undefined {
  const field = map.get(key);
  return field === undefined ? fallback : parse(field);
}

function readSchedulerFlags(r: Reader, field: Field, scheduler: Scheduler, out: SchedulerFlags): void {
  if (scheduler !== "sh" && scheduler !== "mh") {
    r.error(
      field.key,
      field.path,
      `scheduler_flags apply only to the sh and mh schedulers (this service uses ${scheduler})`,
    );
    return;
  }
  const allowed = ["fallback", "port", `${scheduler}-fallback`, `${scheduler}-port`];
  for (const item of r.list(field, "a list of flags") ?? []) {
    const flag = r.oneOf(item, allowed, "scheduler flag");
    if (flag === undefined) continue;
    if (flag.endsWith("fallback")) out.fallback = true;
    else out.port = true;
  }
}

function readTunnel(r: Reader, field: Field): TunnelConfig | undefined {
  const map = r.map(field, CONFIG_KEYS.tunnel);
  if (map === undefined) return undefined;
  const type = opt(map, "type", DEFAULTS.virtualServer.tunnelType as TunnelType, (f) =>
    r.oneOf(f, TUNNEL_TYPES, "tunnel type"),
  );
  const checksum = opt(map, "checksum", DEFAULTS.virtualServer.tunnelChecksum as TunnelChecksum, (f) =>
    r.oneOf(f, TUNNEL_CHECKSUMS, "tunnel checksum"),
  );
  const portField = map.get("port");
  let port: number | undefined;
  let ok = type !== undefined && checksum !== undefined;
  if (portField !== undefined) {
    port = r.integer(portField, 1, 65535, "a port");
    if (port === undefined) ok = false;
    else if (type !== undefined && type !== "gue") {
      r.error(portField.key, portField.path, `only gue tunnels take a port (this tunnel is ${type})`);
      ok = false;
    }
  } else if (type === "gue") {
    r.error(map.field.node, `${map.field.path}.port`, "a gue tunnel needs a 'port'");
    ok = false;
  }
  if (!ok) return undefined;
  return {
    type: type as TunnelType,
    ...(port === undefined ? {} : { port }),
    checksum: checksum as TunnelChecksum,
  };
}

function readPersistence(
  r: Reader,
  field: Field | undefined,
  family: AddressFamily | undefined,
): PersistenceConfig | undefined {
  if (field === undefined) return undefined;
  const map = r.map(field, CONFIG_KEYS.persistence);
  if (map === undefined) return undefined;
  let timeoutMs: number | undefined = DEFAULTS.virtualServer.persistenceTimeoutMs;
  const timeoutField = map.get("timeout");
  if (timeoutField !== undefined) {
    timeoutMs = r.duration(timeoutField, 1000, MAX_U32 * 1000);
    if (timeoutMs !== undefined && timeoutMs % 1000 !== 0) {
      timeoutMs = r.fail(
        timeoutField,
        "persistence timeout must be a whole number of seconds (IPVS stores seconds)",
      );
    }
  }
  const max = family === 6 ? 128 : 32;
  let netmaskPrefix: number | undefined = max;
  const maskField = map.get("netmask");
  if (maskField !== undefined) {
    const value = isScalar(maskField.node) ? maskField.node.value : undefined;
    if (typeof value === "string" && family !== 6) {
      netmaskPrefix = netmaskToPrefix(value);
      if (netmaskPrefix === undefined) r.fail(maskField, `netmask '${value}' is not a contiguous IPv4 mask`);
    } else {
      netmaskPrefix = r.integer(maskField, 0, max, "a prefix length");
    }
  }
  if (timeoutMs === undefined || netmaskPrefix === undefined) return undefined;
  return { timeoutMs, netmaskPrefix };
}

function readQuorum(r: Reader, field: Field | undefined): QuorumConfig | undefined {
  const quorum: QuorumConfig = {
    weight: DEFAULTS.virtualServer.quorumWeight,
    hysteresis: DEFAULTS.virtualServer.quorumHysteresis,
  };
  if (field === undefined) return quorum;
  const map = r.map(field, CONFIG_KEYS.quorum);
  if (map === undefined) return undefined;
  const weight = opt(map, "weight", quorum.weight, (f) => r.integer(f, 1, MAX_I32, "a weight"));
  const hysteresis = opt(map, "hysteresis", quorum.hysteresis, (f) => r.integer(f, 0, MAX_I32, "a count"));
  if (weight === undefined || hysteresis === undefined) return undefined;
  return { weight, hysteresis };
}

interface ServiceContext {
  family: AddressFamily | undefined;
  port: number | undefined;
  fwmark: number | undefined;
  forwarding: Forwarding | undefined;
  checks: ServiceChecks;
  /** The virtual server's notify, for real servers without their own. */
  notify: RealServerNotifyConfig | undefined;
}

function readRealServer(
  r: Reader,
  item: Field,
  svc: ServiceContext,
): { value?: RealServerConfig; addressField?: Field; key?: string } | undefined {
  const map = r.map(item, CONFIG_KEYS.real_server, "a real server mapping");
  if (map === undefined) return undefined;
  const errorsBefore = r.errorCount;

  const addressField = map.required("address");
  let address: string | undefined;
  let family: AddressFamily | undefined;
  if (addressField !== undefined) {
    const text = r.string(addressField, "an IP address");
    const f = text === undefined ? 0 : ipFamily(text);
    if (text !== undefined && f === 0) r.fail(addressField, `real server '${text}' is not an IP address`);
    else if (text !== undefined && f !== 0) {
      const canonical = canonicalIp(text);
      const bad = nonUnicastReason(canonical, f, true);
      if (bad !== undefined) r.fail(addressField, `real server ${canonical} ${bad}`);
      else if (svc.family !== undefined && f !== svc.family && svc.forwarding !== "tun") {
        r.fail(
          addressField,
          `real server ${canonical} is ${fam(f)} but the virtual server is ${fam(svc.family)} (mixed families need forwarding: tun)`,
        );
      } else {
        address = canonical;
        family = f;
      }
    }
  }

  const portField = map.get("port");
  let port: number | undefined = svc.fwmark !== undefined ? 0 : svc.port;
  if (portField !== undefined) {
    port = r.integer(portField, 1, 65535, "a port");
    const dr = svc.forwarding === "dr" || svc.forwarding === "tun";
    if (port !== undefined && dr && svc.port !== undefined && port !== svc.port) {
      port = r.fail(
        portField,
        `real server port ${port} differs from the virtual server's port ${svc.port}; ${svc.forwarding} forwarding cannot map ports`,
      );
    }
  }

  const weight = opt(map, "weight", DEFAULTS.realServer.weight, (f) => r.integer(f, 0, 65535, "a weight"));
  const upper = opt(map, "upper_threshold", DEFAULTS.realServer.upperThreshold, (f) =>
    r.integer(f, 0, MAX_I32, "a connection count"),
  );
  const lowerField = map.get("lower_threshold");
  let lower = opt(map, "lower_threshold", DEFAULTS.realServer.lowerThreshold, (f) =>
    r.integer(f, 0, MAX_I32, "a connection count"),
  );
  if (lower !== undefined && upper !== undefined && lower > upper && lowerField !== undefined) {
    lower = r.fail(
      lowerField,
      upper === 0
        ? `lower_threshold ${lower} needs an upper_threshold above it (IPVS rejects lower > upper)`
        : `lower_threshold ${lower} is above upper_threshold ${upper}`,
    );
  }

  const checks: ResolvedCheck[] | undefined = realServerChecks(r, map.get("check"), svc.checks);
  const notifyField = map.get("notify");
  const notify = notifyField === undefined ? svc.notify : readRealServerNotify(r, notifyField);
  if (checks !== undefined && address !== undefined && family !== undefined && port !== undefined)
    checkRealServer(r, checks, { address, family, port, map });

  // The identity (for duplicate detection) survives errors elsewhere in this entry.
  const key = address !== undefined && port !== undefined ? formatEndpoint(address, port) : undefined;
  const identity = {
    ...(addressField === undefined ? {} : { addressField }),
    ...(key === undefined ? {} : { key }),
  };
  if (r.errorCount !== errorsBefore || checks === undefined) return identity;
  return {
    ...identity,
    value: {
      address: address as string,
      port: port as number,
      family: family as AddressFamily,
      weight: weight as number,
      upperThreshold: upper as number,
      lowerThreshold: lower as number,
      checks: checks.map((c) => c.check),
      ...(notify === undefined ? {} : { notify }),
    },
  };
}

import { isMap, isScalar } from "yaml";
import { DEFAULTS } from "./defaults.js";
import { formatDuration } from "./duration.js";
import { describeFileError } from "./file-error.js";
import { CONFIG_KEYS } from "./keys.js";
import { canonicalIp, ipFamily, nonUnicastReason, parseIpPrefix } from "./net.js";
import { readVrrpNotify } from "./notify.js";
import { passwordProblem } from "./password.js";
import type { Field, Reader } from "./reader.js";
import { didYouMean } from "./suggest.js";
import type {
  AddressFamily,
  ChecksumMode,
  GarpConfig,
  IpPrefix,
  SyncGroupConfig,
  TrackFileConfig,
  TrackInterfaceConfig,
  TrackScriptConfig,
  VrrpAuthentication,
  VrrpConfig,
  VrrpInstanceConfig,
} from "./types.js";
import { readTrackFiles, readTrackRefs, readTrackScripts } from "./vrrp-tracking.js";

const HOUR_MS = 3_600_000;
const CHECKSUM_MODES: readonly ChecksumMode[] = ["pseudo", "message"];

/** Why `name` cannot be a Linux interface name (the kernel's dev_valid_name), or undefined. */
export function interfaceNameProblem(name: string): string | undefined {
  if (Buffer.byteLength(name) > 15) return `interface name '${name}' is longer than 15 bytes`;
  if (name === "." || name === "..") return `'${name}' is not a valid interface name`;
  if (/[\s/:]/.test(name)) return `interface name '${name}' must not contain '/', ':' or whitespace`;
  return undefined;
}

export function readInterfaceName(r: Reader, field: Field): string | undefined {
  const name = r.string(field, "an interface name");
  if (name === undefined) return undefined;
  const problem = interfaceNameProblem(name);
  return problem === undefined ? name : r.fail(field, problem);
}

function familyName(family: AddressFamily): string {
  return `IPv${family}`;
}

/** Instance names that parsed, for references from sync groups and ipvs.sync_daemon. */
export interface VrrpParseResult {
  vrrp: VrrpConfig;
  instanceNames: string[];
}

/** Reads a file the config names (password_file), as text; throws the fs error. */
export type ReadConfigFile = (path: string) => string;

export function readVrrp(r: Reader, field: Field | undefined, readFile: ReadConfigFile): VrrpParseResult {
  const vrrp: VrrpConfig = {
    instances: [],
    trackScripts: [],
    trackFiles: [],
    syncGroups: [],
    heartbeatTimeoutMs: DEFAULTS.vrrp.heartbeatTimeoutMs,
  };
  const instanceNames: string[] = [];
  if (field === undefined) return { vrrp, instanceNames };
  const map = r.map(field, CONFIG_KEYS.vrrp);
  if (map === undefined) return { vrrp, instanceNames };

  const heartbeat = map.get("heartbeat_timeout");
  if (heartbeat !== undefined) {
    vrrp.heartbeatTimeoutMs = r.duration(heartbeat, 100, 60_000) ?? vrrp.heartbeatTimeoutMs;
  }

  vrrp.trackScripts = readTrackScripts(r, map.get("track_scripts"));
  vrrp.trackFiles = readTrackFiles(r, map.get("track_files"));
  const tracked = { scripts: vrrp.trackScripts, files: vrrp.trackFiles };

  const instancesField = map.get("instances");
  const items =
    instancesField === undefined ? [] : (r.list(instancesField, "a list of VRRP instances") ?? []);
  const names = new Map<string, Field>();
  const vrids = new Map<string, { name: string; field: Field }>();
  const vipOwners = new Map<string, string>();
  for (const item of items) {
    const instance = readInstance(r, item, { names, vrids, vipOwners, tracked }, readFile);
    if (instance !== undefined) vrrp.instances.push(instance);
  }
  instanceNames.push(...names.keys());

  const groupsField = map.get("sync_groups");
  if (groupsField !== undefined) {
    vrrp.syncGroups = readSyncGroups(r, groupsField, vrrp.instances, instanceNames);
  }
  return { vrrp, instanceNames };
}

interface Seen {
  names: Map<string, Field>;
  /** `interface|family|vrid` → first instance using it. */
  vrids: Map<string, { name: string; field: Field }>;
  /** VIP address → instance name. */
  vipOwners: Map<string, string>;
  /** The definitions instances may reference. */
  tracked: { scripts: readonly TrackScriptConfig[]; files: readonly TrackFileConfig[] };
}

function readInstance(
  r: Reader,
  item: Field,
  seen: Seen,
  readFile: ReadConfigFile,
): VrrpInstanceConfig | undefined {
  const map = r.map(item, CONFIG_KEYS.instance, "a VRRP instance mapping");
  if (map === undefined) return undefined;
  const errorsBefore = r.errorCount;

  const nameField = map.required("name");
  let name = nameField === undefined ? undefined : r.string(nameField, "an instance name");
  if (name !== undefined && nameField !== undefined) {
    const first = seen.names.get(name);
    if (first !== undefined) {
      r.fail(nameField, `duplicate instance name '${name}' (first defined at line ${r.lineOf(first.node)})`);
      name = undefined;
    } else {
      seen.names.set(name, nameField);
    }
  }
  const ifaceField = map.required("interface");
  const iface = ifaceField === undefined ? undefined : readInterfaceName(r, ifaceField);
  const vridField = map.required("vrid");
  const vrid = vridField === undefined ? undefined : r.integer(vridField, 1, 255, "a VRID");
  const priorityField = map.get("priority");
  const priority = priorityField === undefined ? 100 : r.integer(priorityField, 1, 255, "a priority");
  const versionField = map.get("version");
  let version: 2 | 3 | undefined = DEFAULTS.vrrp.version;
  if (versionField !== undefined) {
    const value = isScalar(versionField.node) ? versionField.node.value : undefined;
    version =
      value === 2 || value === 3
        ? value
        : r.fail(versionField, `expected VRRP version 2 or 3, got ${String(value)}`);
  }

  // Advertisement interval, whose grain depends on the version.
  const intervalField = map.get("advert_interval");
  let advertIntervalMs: number | undefined = DEFAULTS.vrrp.advertIntervalMs;
  if (intervalField !== undefined) {
    advertIntervalMs = r.duration(intervalField, 0, HOUR_MS);
    const shown = advertIntervalMs === undefined ? "" : formatDuration(advertIntervalMs);
    if (advertIntervalMs !== undefined && version === 3) {
      if (advertIntervalMs < 10 || advertIntervalMs > 40_950) {
        advertIntervalMs = r.fail(
          intervalField,
          `advert_interval ${shown} is out of range for VRRPv3 (10ms..40.95s)`,
        );
      } else if (advertIntervalMs % 10 !== 0) {
        advertIntervalMs = r.fail(
          intervalField,
          `advert_interval ${shown} is not a multiple of 10ms (VRRPv3 counts centiseconds)`,
        );
      }
    } else if (advertIntervalMs !== undefined && version === 2) {
      if (advertIntervalMs % 1000 !== 0) {
        advertIntervalMs = r.fail(
          intervalField,
          `advert_interval ${shown} is not a whole number of seconds (VRRPv2)`,
        );
      } else if (advertIntervalMs < 1000 || advertIntervalMs > 255_000) {
        advertIntervalMs = r.fail(
          intervalField,
          `advert_interval ${shown} is out of range for VRRPv2 (1s..255s)`,
        );
      }
    }
  }

  const preemptField = map.get("preempt");
  const preempt = preemptField === undefined ? DEFAULTS.vrrp.preempt : r.boolean(preemptField);
  const delayField = map.get("preempt_delay");
  const preemptDelayMs =
    delayField === undefined ? DEFAULTS.vrrp.preemptDelayMs : r.duration(delayField, 0, HOUR_MS);

  // Virtual IPs decide the instance's family.
  let family: AddressFamily | undefined;
  const virtualIps: IpPrefix[] = [];
  const vipsField = map.required("virtual_ips");
  const vipItems = vipsField === undefined ? [] : (r.list(vipsField, "a list of addresses") ?? []);
  if (vipsField !== undefined && vipItems.length === 0 && isEmptySeq(vipsField)) {
    r.fail(vipsField, "virtual_ips needs at least one address");
  }
  const ownVips = new Set<string>();
  for (const vipField of vipItems) {
    const text = r.string(vipField, "an address such as 10.0.0.100/24");
    if (text === undefined) continue;
    const parsed = parseIpPrefix(text);
    if (!parsed.ok) {
      r.fail(vipField, parsed.reason);
      continue;
    }
    const vip = parsed.value;
    const bad = nonUnicastReason(vip.address, vip.family, false);
    if (bad !== undefined) {
      r.fail(vipField, `virtual IP ${vip.address} ${bad}`);
      continue;
    }
    if (family === undefined) family = vip.family;
    else if (vip.family !== family) {
      r.fail(
        vipField,
        `virtual IP ${vip.address} is ${familyName(vip.family)} but this instance's first virtual IP is ${familyName(family)}; use one family per instance`,
      );
      continue;
    }
    if (ownVips.has(vip.address)) {
      r.fail(vipField, `duplicate virtual IP ${vip.address}`);
      continue;
    }
    ownVips.add(vip.address);
    const owner = seen.vipOwners.get(vip.address);
    if (owner !== undefined) {
      r.fail(vipField, `virtual IP ${vip.address} is also in instance '${owner}'`);
      continue;
    }
    if (name !== undefined) seen.vipOwners.set(vip.address, name);
    virtualIps.push(vip);
  }

  if (version === 2 && family === 6 && versionField !== undefined) {
    r.fail(versionField, "VRRP version 2 supports IPv4 only; use version 3 for IPv6");
    version = undefined;
  }

  if (vrid !== undefined && iface !== undefined && family !== undefined && vridField !== undefined) {
    const key = `${iface}|${family}|${vrid}`;
    const first = seen.vrids.get(key);
    if (first !== undefined) {
      r.fail(
        vridField,
        `VRID ${vrid} is already used on ${iface} (${familyName(family)}) by instance '${first.name}' (line ${r.lineOf(first.field.node)})`,
      );
    } else {
      seen.vrids.set(key, { name: name ?? "?", field: vridField });
    }
  }

  const unicastPeers = readAddressList(r, map.get("unicast_peers"), family, "unicast peer");
  let sourceAddress: string | undefined;
  const sourceField = map.get("source_address");
  if (sourceField !== undefined) sourceAddress = readAddress(r, sourceField, family, "source_address");

  const trackInterfaces = readTrackInterfaces(r, map.get("track_interfaces"));
  const trackScripts = readTrackRefs(r, map.get("track_scripts"), seen.tracked.scripts, "track script");
  const trackFiles = readTrackRefs(r, map.get("track_files"), seen.tracked.files, "track file");
  const garp = readGarp(r, map.get("garp"));

  let checksumMode: ChecksumMode | undefined = DEFAULTS.vrrp.checksumMode;
  const checksumField = map.get("checksum_mode");
  if (checksumField !== undefined) {
    checksumMode = r.oneOf(checksumField, CHECKSUM_MODES, "checksum_mode");
    if (checksumMode !== undefined && (version === 2 || family === 6)) {
      checksumMode = r.fail(checksumField, "checksum_mode applies only to VRRPv3 over IPv4");
    }
  }

  const unicastTtl = readUnicastTtl(r, map.get("unicast_ttl"));
  const authField = map.get("authentication");
  const authentication =
    authField === undefined ? undefined : readAuthentication(r, authField, version, readFile);
  const notifyField = map.get("notify");
  const notify = notifyField === undefined ? undefined : readVrrpNotify(r, notifyField);

  if (r.errorCount !== errorsBefore) return undefined;
  return {
    name: name as string,
    interface: iface as string,
    vrid: vrid as number,
    priority: priority as number,
    version: version as 2 | 3,
    family: family as AddressFamily,
    advertIntervalMs: advertIntervalMs as number,
    preempt: preempt as boolean,
    preemptDelayMs: preemptDelayMs as number,
    virtualIps,
    unicastPeers: unicastPeers ?? [],
    ...(sourceAddress === undefined ? {} : { sourceAddress }),
    trackInterfaces: trackInterfaces ?? [],
    trackScripts: trackScripts ?? [],
    trackFiles: trackFiles ?? [],
    garp: garp as GarpConfig,
    checksumMode: checksumMode as ChecksumMode,
    unicastTtl: unicastTtl as VrrpInstanceConfig["unicastTtl"],
    ...(authentication === undefined ? {} : { authentication }),
    ...(notify === undefined ? {} : { notify }),
  };
}

/**
 * `authentication: { type: pass, password: … }` or `{ type: pass, password_file: /path }`.
 * No message quotes the password.
 */
function readAuthentication(
  r: Reader,
  field: Field,
  version: 2 | 3 | undefined,
  readFile: ReadConfigFile,
): VrrpAuthentication | undefined {
  const map = r.map(field, CONFIG_KEYS.authentication, "an authentication mapping");
  if (map === undefined) return undefined;
  if (version === 3) {
    return r.fail(
      field,
      "VRRPv3 has no authentication (RFC 5798 removed it): remove authentication, or use version: 2 as the peers do",
    );
  }
  const typeField = map.required("type");
  if (typeField === undefined) return undefined;
  const typeValue = scalarText(typeField);
  if (typeValue?.toLowerCase() === "ah") {
    return r.fail(
      typeField,
      "IPsec AH authentication (keepalived's auth_type AH) is not supported: use type: pass on both peers, or no authentication",
    );
  }
  if (r.oneOf(typeField, ["pass"] as const, "authentication type") === undefined) return undefined;
  const passwordField = map.get("password");
  const fileField = map.get("password_file");
  if ((passwordField === undefined) === (fileField === undefined)) {
    return r.fail(field, "give exactly one of password and password_file");
  }
  let password: string | undefined;
  let where: Field;
  if (passwordField !== undefined) {
    where = passwordField;
    // Numbers are fine as long as they are written as strings: YAML reads `password: 0123` as 83.
    password = r.string(passwordField, "a password (quote it if it looks like a number)");
  } else {
    where = fileField as Field;
    const path = r.absolutePath(where, "a file path");
    if (path === undefined) return undefined;
    try {
      password = readFile(path).replace(/\r?\n$/, "");
    } catch (err) {
      return r.fail(where, `cannot read password_file ${path}: ${describeFileError(err)}`);
    }
  }
  if (password === undefined) return undefined;
  const problem = passwordProblem(password);
  if (problem !== undefined) {
    const source = passwordField === undefined ? "password_file: " : "";
    return r.fail(where, `${source}${problem}`);
  }
  return { type: "pass", password };
}

function scalarText(field: Field): string | undefined {
  return isScalar(field.node) && typeof field.node.value === "string" ? field.node.value : undefined;
}

/** `unicast_ttl: N` (send and require N) or `{ send: N, require: M }`; default send 255, require none. */
function readUnicastTtl(r: Reader, field: Field | undefined): VrrpInstanceConfig["unicastTtl"] | undefined {
  if (field === undefined) return { send: 255 };
  if (isScalar(field.node)) {
    const ttl = r.integer(field, 1, 255, "a TTL (1..255)");
    return ttl === undefined ? undefined : { send: ttl, require: ttl };
  }
  const map = r.map(field, CONFIG_KEYS.unicast_ttl, "a TTL (1..255) or a mapping with send and require");
  if (map === undefined) return undefined;
  const sendField = map.get("send");
  const requireField = map.get("require");
  const send = sendField === undefined ? 255 : r.integer(sendField, 1, 255, "a TTL (1..255)");
  const require = requireField === undefined ? undefined : r.integer(requireField, 1, 255, "a TTL (1..255)");
  if (send === undefined || (requireField !== undefined && require === undefined)) return undefined;
  return require === undefined ? { send } : { send, require };
}

function isEmptySeq(field: Field): boolean {
  return "items" in field.node && Array.isArray(field.node.items) && field.node.items.length === 0;
}

/** One unicast address of the instance's family (when known). */
function readAddress(
  r: Reader,
  field: Field,
  family: AddressFamily | undefined,
  what: string,
): string | undefined {
  const text = r.string(field, "an IP address");
  if (text === undefined) return undefined;
  const fam = ipFamily(text);
  if (fam === 0) return r.fail(field, `${what} '${text}' is not an IP address`);
  const address = canonicalIp(text);
  const bad = nonUnicastReason(address, fam, false);
  if (bad !== undefined) return r.fail(field, `${what} ${address} ${bad}`);
  if (family !== undefined && fam !== family) {
    return r.fail(
      field,
      `${what} ${address} is ${familyName(fam)} but the instance's virtual IPs are ${familyName(family)}`,
    );
  }
  return address;
}

function readAddressList(
  r: Reader,
  field: Field | undefined,
  family: AddressFamily | undefined,
  what: string,
): string[] | undefined {
  if (field === undefined) return [];
  const items = r.list(field, "a list of addresses");
  if (items === undefined) return undefined;
  const out: string[] = [];
  for (const item of items) {
    const address = readAddress(r, item, family, what);
    if (address === undefined) continue;
    if (out.includes(address)) r.fail(item, `duplicate ${what} ${address}`);
    else out.push(address);
  }
  return out;
}

/** `[{ name: eth1, weight: -50 }]` or the shorthand `[eth1]` (weight 0: FAULT while down). */
function readTrackInterfaces(r: Reader, field: Field | undefined): TrackInterfaceConfig[] | undefined {
  if (field === undefined) return [];
  const items = r.list(field, "a list of interfaces to track");
  if (items === undefined) return undefined;
  const out: TrackInterfaceConfig[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    let nameField: Field | undefined = item;
    let weight: number | undefined = DEFAULTS.vrrp.trackWeight;
    if (isMap(item.node)) {
      const map = r.map(item, CONFIG_KEYS.track_interface);
      nameField = map?.required("name");
      const weightField = map?.get("weight");
      if (weightField !== undefined) weight = r.integer(weightField, -254, 254, "a weight");
    }
    const name = nameField === undefined ? undefined : readInterfaceName(r, nameField);
    if (name === undefined || nameField === undefined || weight === undefined) continue;
    if (seen.has(name)) {
      r.fail(nameField, `interface '${name}' is tracked twice`);
      continue;
    }
    seen.add(name);
    out.push({ name, weight });
  }
  return out;
}

function readGarp(r: Reader, field: Field | undefined): GarpConfig | undefined {
  const garp: GarpConfig = {
    repeat: DEFAULTS.vrrp.garpRepeat,
    delayMs: DEFAULTS.vrrp.garpDelayMs,
    refreshMs: DEFAULTS.vrrp.garpRefreshMs,
  };
  if (field === undefined) return garp;
  const map = r.map(field, CONFIG_KEYS.garp);
  if (map === undefined) return undefined;
  let ok = true;
  const repeat = map.get("repeat");
  if (repeat !== undefined) {
    const value = r.integer(repeat, 0, 100, "a count");
    if (value === undefined) ok = false;
    else garp.repeat = value;
  }
  for (const [key, prop] of [
    ["delay", "delayMs"],
    ["refresh", "refreshMs"],
  ] as const) {
    const f = map.get(key);
    if (f === undefined) continue;
    const value = r.duration(f, 0, 24 * HOUR_MS);
    if (value === undefined) ok = false;
    else garp[prop] = value;
  }
  return ok ? garp : undefined;
}

function readSyncGroups(
  r: Reader,
  field: Field,
  instances: readonly VrrpInstanceConfig[],
  instanceNames: readonly string[],
): SyncGroupConfig[] {
  const items = r.list(field, "a list of sync groups") ?? [];
  const groups: SyncGroupConfig[] = [];
  const groupNames = new Set<string>();
  const member = new Map<string, string>();
  for (const item of items) {
    const map = r.map(item, CONFIG_KEYS.sync_group, "a sync group mapping");
    if (map === undefined) continue;
    const nameField = map.required("name");
    let name = nameField === undefined ? undefined : r.string(nameField, "a sync group name");
    if (name !== undefined && nameField !== undefined && groupNames.has(name)) {
      name = r.fail(nameField, `duplicate sync group name '${name}'`);
    }
    if (name !== undefined) groupNames.add(name);
    const listField = map.required("instances");
    const refs = listField === undefined ? undefined : r.list(listField, "a list of instance names");
    if (listField !== undefined && refs !== undefined && refs.length === 0) {
      r.fail(listField, "a sync group needs at least one instance");
    }
    const weightField = map.get("tracking_weight");
    const trackingWeight = weightField === undefined ? false : r.boolean(weightField);
    const notifyField = map.get("notify");
    const notify = notifyField === undefined ? undefined : readVrrpNotify(r, notifyField);
    const members: string[] = [];
    const accepted: { instance: string; ref: Field }[] = [];
    let ok = name !== undefined && refs !== undefined && refs.length > 0 && trackingWeight !== undefined;
    for (const ref of refs ?? []) {
      const instance = r.string(ref, "an instance name");
      if (instance === undefined) {
        ok = false;
        continue;
      }
      if (!instanceNames.includes(instance)) {
        r.fail(ref, `unknown instance '${instance}'${didYouMean(instance, instanceNames)}`);
        ok = false;
        continue;
      }
      if (members.includes(instance)) {
        r.fail(ref, `instance '${instance}' is listed twice`);
        ok = false;
        continue;
      }
      const other = member.get(instance);
      if (other !== undefined) {
        r.fail(ref, `instance '${instance}' is already in sync group '${other}'`);
        ok = false;
        continue;
      }
      if (name !== undefined) member.set(instance, name);
      members.push(instance);
      accepted.push({ instance, ref });
    }
    if (!ok || name === undefined || trackingWeight === undefined) continue;
    if (notifyField !== undefined && notify === undefined) continue;
    if (members.length > 1 && !trackingWeight) {
      for (const { instance, ref } of accepted) {
        const tracks = instances.find((i) => i.name === instance)?.trackInterfaces ?? [];
        const weights = tracks.filter((t) => t.weight !== 0);
        if (weights.length === 0) continue;
        r.warn(
          ref,
          `instance '${instance}' tracks ${weights.map((t) => `${t.name} (weight ${t.weight})`).join(", ")}: in sync group '${name}' a weighted interface that goes down is a FAULT of the group, not a priority change (set tracking_weight: true to apply the weights)`,
        );
      }
    }
    groups.push({ name, instances: members, trackingWeight, ...(notify === undefined ? {} : { notify }) });
  }
  return groups;
}

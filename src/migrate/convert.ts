/**
 * keepalived block tree → a vipd config object (the YAML contract's shape, snake_case keys, in
 * the contract's order) and a warning for everything not translated, or not translated exactly,
 * each at FILE:LINE:COL with its keyword.
 *
 * The output is meant to pass vipd's own parser (src/config/parse.ts): values vipd would reject
 * (a VIP in two instances, a DR real server on another port, a check timeout longer than its
 * interval, ...) are adjusted or dropped here, with a warning saying so.
 */

import { formatDuration } from "../config/duration.js";
import { formatEndpoint, ipFamily, netmaskToPrefix, nonUnicastReason, parseIpPrefix } from "../config/net.js";
import { type AddressFamily, SCHEDULERS } from "../config/types.js";
import { interfaceNameProblem } from "../config/vrrp.js";
import { type MigratedAuthentication, migrateAuthentication } from "./auth.js";
import {
  CHECKERS,
  type CheckDefaults,
  CheckerConverter,
  type ConvertTools,
  type MigratedCheck,
  UNSUPPORTED_CHECKERS,
} from "./checkers.js";
import { KEEPALIVED_KEYWORDS } from "./keepalived-keywords.js";
import type { MigrateWarning } from "./lexer.js";
import { scriptArgv, VRRP_NOTIFY_KEYS, VRRP_NOTIFY_UNTRANSLATED } from "./notify.js";
import type { ParsedKeepalived, Statement, Word } from "./parse.js";
import {
  type MigratedTrackFile,
  type MigratedTrackRef,
  type MigratedTrackScript,
  TrackingConverter,
} from "./tracking.js";
import { type GroupEntry, readVirtualServerGroups } from "./vs-group.js";

// ---------------------------------------------------------------------------------------------
// The output: vipd's YAML contract (config/lb1.yaml), keys in its order.

export interface MigratedTrackInterface {
  name: string;
  weight: number;
}

export interface MigratedGarp {
  repeat?: number;
  delay?: string;
  refresh?: string;
}

export interface MigratedInstance {
  name: string;
  interface: string;
  vrid: number;
  priority: number;
  version: 2 | 3;
  advert_interval: string;
  preempt: boolean;
  preempt_delay?: string;
  virtual_ips: string[];
  unicast_peers?: string[];
  unicast_ttl?: { send: number };
  source_address?: string;
  track_interfaces?: MigratedTrackInterface[];
  track_scripts?: MigratedTrackRef[];
  track_files?: MigratedTrackRef[];
  garp?: MigratedGarp;
  authentication?: MigratedAuthentication;
  notify?: MigratedNotify;
}

/** vipd's `notify` of an instance or sync group (argv per state, `any` for keepalived's notify). */
export type MigratedNotify = Partial<Record<"master" | "backup" | "fault" | "stop" | "any", string[]>>;

export interface MigratedSyncGroup {
  name: string;
  instances: string[];
  tracking_weight?: boolean;
  notify?: MigratedNotify;
}

export type { MigratedCheck };

/** One check, or several (the server is up only when all are). */
export type MigratedChecks = MigratedCheck | MigratedCheck[];

export interface MigratedRealServer {
  address: string;
  port?: number;
  weight: number;
  upper_threshold?: number;
  lower_threshold?: number;
  check?: MigratedChecks;
  notify?: { up?: string[]; down?: string[] };
}

export interface MigratedTunnel {
  type: "ipip" | "gue" | "gre";
  port?: number;
  checksum?: "none" | "csum" | "remcsum";
}

export interface MigratedVirtualServer {
  name: string;
  address?: string;
  port?: number;
  fwmark?: number;
  family?: "ipv4" | "ipv6";
  protocol: "tcp" | "udp" | "sctp";
  scheduler: string;
  scheduler_flags?: ("fallback" | "port")[];
  forwarding: "nat" | "dr" | "tun";
  tunnel?: MigratedTunnel;
  persistence?: { timeout: string; netmask?: string | number };
  one_packet?: boolean;
  on_failure?: "remove" | "inhibit";
  quorum?: { weight?: number; hysteresis?: number };
  sorry_server?: string;
  check?: MigratedChecks;
  real_servers: MigratedRealServer[];
}

export interface MigratedConfig {
  node?: string;
  vrrp?: {
    track_scripts?: MigratedTrackScript[];
    track_files?: MigratedTrackFile[];
    instances: MigratedInstance[];
    sync_groups?: MigratedSyncGroup[];
  };
  virtual_servers?: MigratedVirtualServer[];
  ipvs?: {
    flush_on_start?: boolean;
    sync_daemon?: { interface: string; sync_id?: number; instance?: string };
  };
}

export interface ConvertResult {
  config: MigratedConfig;
  /** The parser's and the conversion's, in source order (files in the order they were read). */
  warnings: MigrateWarning[];
}

/** Converts a parsed keepalived config. Never throws for content: whatever cannot be used is warned about. */
export function convertKeepalived(parsed: ParsedKeepalived): ConvertResult {
  return new Converter(parsed).run();
}

// ---------------------------------------------------------------------------------------------
// keepalived facts (keepalived.conf(5))

/** keepalived's defaults where they differ from vipd's, so the output keeps keepalived's behaviour. */
const KEEPALIVED = {
  advertIntUs: 1_000_000,
  vrrpVersion: 2 as const,
  persistenceTimeoutS: 360,
};

const EMAIL = new Set([
  "notification_email",
  "notification_email_from",
  "smtp_server",
  "smtp_helo_name",
  "smtp_connect_timeout",
  "smtp_alert",
  "smtp_alert_vrrp",
  "smtp_alert_checker",
  "no_email_faults",
]);
const VIP_OPTIONS: Record<string, number> = {
  brd: 1,
  broadcast: 1,
  dev: 1,
  scope: 1,
  label: 1,
  peer: 1,
  preferred_lft: 1,
  track_group: 1,
  home: 0,
  "-nodad": 0,
  nodad: 0,
  mngtmpaddr: 0,
  noprefixroute: 0,
  autojoin: 0,
  no_track: 0,
  use_vmac: 0,
};
const PEER_OPTIONS: Record<string, number> = { min_ttl: 1, max_ttl: 1 };
const TRACK_OPTIONS: Record<string, number> = { weight: 1, reverse: 0, noreverse: 0, no_reverse: 0 };
const MAX_U32 = 0xffff_ffff;

const WEBHOOKS = "use alerts.webhooks instead";

/** What to say about a keyword keepalived does not know either, or undefined when it does. */
function unknownKeywordMessage(keyword: string): string | undefined {
  if (KEEPALIVED_KEYWORDS.has(keyword)) return undefined;
  if (/^(<{7}|={7}|>{7})/.test(keyword))
    return "a merge conflict marker: keepalived skips it as an unknown keyword, and the lines around it are both sides of the conflict; resolve it first";
  return 'keepalived does not know this keyword either (misspelt? another version\'s?): it skips it ("Unknown keyword"), and so does this config';
}
/** keepalived 2.x names the block track_file; vrrp_track_file is its older name. */
const TRACK_FILE_BLOCKS = new Set(["track_file", "vrrp_track_file"]);

/** One item of a list block (`virtual_ipaddress { ... }` etc.): its first word and its options. */
interface ListEntry {
  head: Word;
  options: { name: Word; value?: Word }[];
}

interface InstanceDraft {
  name: string;
  family: AddressFamily;
  out: MigratedInstance;
}

class Converter {
  private readonly warnings: MigrateWarning[] = [];
  private readonly config: MigratedConfig = {};
  private defaultVersion: 2 | 3 | undefined;
  private readonly globalGarp: MigratedGarp = {};
  private readonly instances: InstanceDraft[] = [];
  private readonly vipOwners = new Map<string, string>();
  private readonly vrids = new Map<string, string>();
  private readonly syncGroups: MigratedSyncGroup[] = [];
  private readonly virtualServers: MigratedVirtualServer[] = [];
  private readonly serviceIds = new Map<string, string>();
  /** A vrrp_instance's (deprecated) lvs_sync_daemon_interface, used when global_defs has no lvs_sync_daemon. */
  private legacySyncDaemon:
    | { interface: string; instance: string; syncId: number; at: Statement }
    | undefined;

  private readonly tools: ConvertTools = {
    warn: (at, message, keyword) => this.warn(at, message, keyword),
    notTranslated: (s) => this.notTranslated(s),
    arg: (s, what) => this.arg(s, what),
    int: (s, min, max, what) => this.int(s, min, max, what),
    timer: (s, min, max) => this.timer(s, min, max),
    checkDefault: (c, defaults) => this.checkDefault(c, defaults),
  };
  private readonly checkers = new CheckerConverter(this.tools);
  private readonly tracking = new TrackingConverter(this.tools, formatDuration);
  private serviceGroups = new Map<string, GroupEntry[]>();

  constructor(private readonly parsed: ParsedKeepalived) {
    this.warnings.push(...parsed.warnings);
  }

  run(): ConvertResult {
    const top = this.parsed.statements;
    // Global settings first: instances inherit vrrp_version and the GARP defaults wherever they are written.
    for (const s of top) if (s.keyword.text === "global_defs") this.globalDefs(s);
    // Tracked scripts and files before the instances that refer to them.
    for (const s of top) if (s.keyword.text === "vrrp_script") this.tracking.script(s);
    for (const s of top) if (TRACK_FILE_BLOCKS.has(s.keyword.text)) this.tracking.file(s);
    this.serviceGroups = readVirtualServerGroups(top, this.tools);
    for (const s of top) {
      switch (s.keyword.text) {
        case "global_defs":
        case "vrrp_script":
        case "track_file":
        case "vrrp_track_file":
          break;
        case "vrrp_instance":
          this.instance(s);
          break;
        case "vrrp_sync_group":
          break;
        case "virtual_server":
          this.virtualServer(s);
          break;
        case "virtual_server_group":
          break; // expanded where a virtual_server uses it
        case "vrrp_track_process":
          this.warn(s, "not supported (vipd tracks interfaces, scripts and files)");
          break;
        case "static_ipaddress":
        case "static_routes":
        case "static_rules":
          this.warn(
            s,
            "not translated: vipd manages only virtual addresses; configure static ones with the system's network configuration",
          );
          break;
        default:
          this.notTranslated(s);
      }
    }
    for (const s of top) if (s.keyword.text === "vrrp_sync_group") this.syncGroup(s);
    for (const s of top) if (s.keyword.text === "global_defs") this.lateGlobalDefs(s);
    if (this.legacySyncDaemon !== undefined) {
      const { at, syncId, ...daemon } = this.legacySyncDaemon;
      if (this.config.ipvs?.sync_daemon === undefined) {
        this.config.ipvs = { ...this.config.ipvs, sync_daemon: { ...daemon, sync_id: syncId } };
      } else {
        this.warn(at, "ignored: global_defs lvs_sync_daemon sets the sync daemon");
      }
    }

    if (this.instances.length > 0) {
      const { scripts, files } = this.tracking;
      this.config.vrrp = {
        ...(scripts.length > 0 ? { track_scripts: scripts } : {}),
        ...(files.length > 0 ? { track_files: files } : {}),
        instances: this.instances.map((i) => i.out),
        ...(this.syncGroups.length > 0 ? { sync_groups: this.syncGroups } : {}),
      };
    }
    if (this.virtualServers.length > 0) this.config.virtual_servers = this.virtualServers;
    const ordered: MigratedConfig = {
      ...(this.config.node === undefined ? {} : { node: this.config.node }),
      ...(this.config.vrrp === undefined ? {} : { vrrp: this.config.vrrp }),
      ...(this.config.virtual_servers === undefined ? {} : { virtual_servers: this.config.virtual_servers }),
      ...(this.config.ipvs === undefined ? {} : { ipvs: this.config.ipvs }),
    };
    // Source order: by file (in the order they were read), then line and column.
    const fileRank = (file: string): number => {
      const i = this.parsed.files.indexOf(file);
      return i === -1 ? this.parsed.files.length : i;
    };
    // A virtual_server group block is read once per address: say each thing once.
    const seen = new Set<string>();
    const unique = this.warnings.filter((w) => {
      const key = JSON.stringify(w);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const warnings = unique
      .map((w, i) => ({ w, i }))
      .sort(
        (a, b) =>
          fileRank(a.w.file) - fileRank(b.w.file) || a.w.line - b.w.line || a.w.col - b.w.col || a.i - b.i,
      )
      .map(({ w }) => w);
    return { config: ordered, warnings };
  }

  // ------------------------------------------------------------------------------------------
  // Warnings and argument readers

  private warn(at: Statement | Word, message: string, keyword?: string): void {
    const word = "keyword" in at ? at.keyword : at;
    this.warnings.push({ ...word.pos, keyword: keyword ?? word.text, message });
  }

  private notTranslated(s: Statement): void {
    this.warn(s, unknownKeywordMessage(s.keyword.text) ?? "not translated (vipd has no equivalent)");
  }

  /** The first argument, or a warning that it is missing. */
  private arg(s: Statement, what: string): Word | undefined {
    const word = s.args[0];
    if (word === undefined) this.warn(s, `needs ${what}; ignored`);
    return word;
  }

  private int(s: Statement, min: number, max: number, what = "a number"): number | undefined {
    const word = this.arg(s, what);
    if (word === undefined) return undefined;
    return this.intWord(s, word, min, max, what);
  }

  private intWord(
    s: Statement | Word,
    word: Word,
    min: number,
    max: number,
    what = "a number",
  ): number | undefined {
    if (!/^-?\d+$/.test(word.text)) {
      this.warn(s, `'${word.text}' is not ${what}; ignored`);
      return undefined;
    }
    const n = Number(word.text);
    if (n < min || n > max) {
      this.warn(s, `${word.text} is out of range (${min}..${max}); ignored`);
      return undefined;
    }
    return n;
  }

  /** A keepalived <TIMER>: seconds with an optional fraction, as whole milliseconds (rounded, with a warning). */
  private timer(s: Statement, min: number, max: number, word = s.args[0]): number | undefined {
    if (word === undefined) {
      this.warn(s, "needs a time in seconds; ignored");
      return undefined;
    }
    const us = parseSecondsUs(word.text);
    if (us === undefined) {
      this.warn(s, `'${word.text}' is not a time in seconds; ignored`);
      return undefined;
    }
    let ms = Math.round(us / 1000);
    if (us % 1000 !== 0)
      this.warn(s, `${word.text}s rounded to ${formatDuration(ms)} (vipd counts milliseconds)`);
    if (ms < min || ms > max) {
      const clamped = Math.min(max, Math.max(min, ms));
      this.warn(
        s,
        `${word.text}s is outside vipd's range (${formatDuration(min)}..${formatDuration(max)}); using ${formatDuration(clamped)}`,
      );
      ms = clamped;
    }
    return ms;
  }

  /** A keepalived <BOOL> argument; a bare keyword means true. */
  private bool(s: Statement): boolean {
    const word = s.args[0];
    if (word === undefined) return true;
    const text = word.text.toLowerCase();
    if (["on", "true", "yes"].includes(text)) return true;
    if (["off", "false", "no"].includes(text)) return false;
    this.warn(s, `'${word.text}' is not on|off|true|false|yes|no; taken as true`);
    return true;
  }

  /** Splits the statements of a list block into entries; a known option takes its values, anything else starts an entry. */
  private entries(
    block: Statement[] | undefined,
    options: Record<string, number>,
    isHead?: (w: Word) => boolean,
  ): ListEntry[] {
    const out: ListEntry[] = [];
    for (const s of block ?? []) {
      const words = [s.keyword, ...s.args];
      let current: ListEntry | undefined;
      for (let i = 0; i < words.length; i++) {
        const w = words[i] as Word;
        const arity = Object.hasOwn(options, w.text) ? options[w.text] : undefined;
        if (current !== undefined && arity !== undefined && !(isHead?.(w) ?? false)) {
          const value = arity > 0 ? words[i + 1] : undefined;
          if (arity > 0 && value === undefined) this.warn(w, "needs a value; ignored");
          current.options.push({ name: w, ...(value === undefined ? {} : { value }) });
          i += arity;
          continue;
        }
        if (current !== undefined && isHead !== undefined && !isHead(w)) {
          current.options.push({ name: w });
          continue;
        }
        current = { head: w, options: [] };
        out.push(current);
      }
      if (s.block !== undefined) this.warn(s, "unexpected block in a list; ignored");
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // global_defs

  private globalDefs(g: Statement): void {
    for (const s of g.block ?? []) {
      const key = s.keyword.text;
      switch (key) {
        case "router_id": {
          const word = this.arg(s, "a name");
          if (word === undefined) break;
          if (/\s/.test(word.text) || word.text === "")
            this.warn(s, `'${word.text}' cannot be a vipd node name (whitespace); ignored`);
          else this.config.node = word.text;
          break;
        }
        case "vrrp_version": {
          const v = this.int(s, 2, 3, "a VRRP version (2 or 3)");
          if (v !== undefined) this.defaultVersion = v as 2 | 3;
          break;
        }
        case "vrrp_garp_master_delay": {
          const ms = this.timer(s, 0, 86_400_000);
          if (ms !== undefined) this.globalGarp.delay = formatDuration(ms);
          break;
        }
        case "vrrp_garp_master_repeat": {
          const n = this.int(s, 0, 100, "a count");
          if (n !== undefined) this.globalGarp.repeat = n;
          break;
        }
        case "vrrp_garp_master_refresh": {
          const ms = this.timer(s, 0, 86_400_000);
          if (ms !== undefined) this.globalGarp.refresh = formatDuration(ms);
          break;
        }
        case "vrrp_min_garp":
          if (this.bool(s)) {
            this.globalGarp.repeat = 1;
            this.globalGarp.delay = "0s";
          }
          break;
        case "lvs_flush":
          this.config.ipvs = { ...this.config.ipvs, flush_on_start: true };
          break;
        case "lvs_sync_daemon":
          break; // needs the instances: lateGlobalDefs
        default:
          if (EMAIL.has(key)) this.warn(s, `e-mail alerts are not supported; ${WEBHOOKS}`);
          else if (key.startsWith("vrrp_garp_") || key.startsWith("vrrp_gna_"))
            this.warn(s, "not translated (vipd supports garp repeat, delay and refresh only)");
          else this.notTranslated(s);
      }
    }
  }

  /** global_defs settings that refer to instances. */
  private lateGlobalDefs(g: Statement): void {
    for (const s of g.block ?? []) {
      if (s.keyword.text !== "lvs_sync_daemon") continue;
      const [iface, ...rest] = s.args;
      if (iface === undefined) {
        this.warn(s, "needs an interface; ignored");
        continue;
      }
      const problem = interfaceNameProblem(iface.text);
      if (problem !== undefined) {
        this.warn(s, `${problem}; ignored`);
        continue;
      }
      const daemon: { interface: string; sync_id?: number; instance?: string } = { interface: iface.text };
      let syncId: number | undefined;
      for (let i = 0; i < rest.length; i++) {
        const w = rest[i] as Word;
        const value = rest[i + 1];
        if (w.text === "id" && value !== undefined) {
          syncId = this.intWord(s, value, 0, 255, "a sync id");
          i++;
        } else if (w.text === "inst" && value !== undefined) {
          daemon.instance = value.text;
          i++;
        } else if (["maxlen", "port", "ttl", "group"].includes(w.text)) {
          this.warn(w, "not supported by vipd's sync_daemon; dropped", `lvs_sync_daemon ${w.text}`);
          i++;
        } else if (daemon.instance === undefined && i === 0) {
          daemon.instance = w.text;
        } else {
          this.warn(w, `unknown option '${w.text}'; ignored`, "lvs_sync_daemon");
        }
      }
      if (daemon.instance !== undefined) {
        const instance = this.instances.find((x) => x.name === daemon.instance);
        if (instance === undefined) {
          this.warn(
            s,
            `instance '${daemon.instance}' was not translated; the sync daemon runs as both master and backup`,
          );
          delete daemon.instance;
        } else {
          syncId ??= instance.out.vrid; // keepalived: the instance's VRID by default
        }
      }
      if (syncId !== undefined) daemon.sync_id = syncId;
      this.config.ipvs = { ...this.config.ipvs, sync_daemon: daemon };
    }
  }

  // ------------------------------------------------------------------------------------------
  // vrrp_instance

  private instance(s: Statement): void {
    const nameWord = s.args[0];
    if (nameWord === undefined) {
      this.warn(s, "has no name; skipped");
      return;
    }
    const name = nameWord.text;
    if (this.instances.some((i) => i.name === name)) {
      this.warn(s, `duplicate instance '${name}'; skipped`);
      return;
    }
    let iface: string | undefined;
    let vrid: number | undefined;
    let priority = 100;
    let version: { value: 2 | 3; at: Statement } | undefined;
    let advert: { us: number; at: Statement } | undefined;
    let preempt = true;
    let preemptDelayMs: number | undefined;
    let unicastTtl: number | undefined;
    let stateMaster: Statement | undefined;
    let nopreempt: Statement | undefined;
    let authBlock: Statement | undefined;
    let nativeIpv6: Statement | undefined;
    const notify: MigratedNotify = {};
    const trackScripts: MigratedTrackRef[] = [];
    const trackFiles: MigratedTrackRef[] = [];
    const vipBlocks: Statement[] = [];
    const excludedBlocks: Statement[] = [];
    const peerBlocks: Statement[] = [];
    const trackBlocks: Statement[] = [];
    let source: Statement | undefined;
    let syncDaemon: { word: Word; at: Statement } | undefined;
    const garp: MigratedGarp = { ...this.globalGarp };

    for (const c of s.block ?? []) {
      const key = c.keyword.text;
      switch (key) {
        case "interface": {
          const word = this.arg(c, "an interface name");
          if (word === undefined) break;
          const problem = interfaceNameProblem(word.text);
          if (problem !== undefined) this.warn(c, `${problem}; ignored`);
          else iface = word.text;
          break;
        }
        case "virtual_router_id":
          vrid = this.int(c, 1, 255, "a VRID") ?? vrid;
          break;
        case "priority":
          priority = this.int(c, 1, 255, "a priority") ?? priority;
          break;
        case "version": {
          const v = this.int(c, 2, 3, "a VRRP version (2 or 3)");
          if (v !== undefined) version = { value: v as 2 | 3, at: c };
          break;
        }
        case "advert_int": {
          const word = this.arg(c, "a time in seconds");
          const us = word === undefined ? undefined : parseSecondsUs(word.text);
          if (word !== undefined && us === undefined)
            this.warn(c, `'${word.text}' is not a time in seconds; ignored`);
          if (us !== undefined) advert = { us, at: c };
          break;
        }
        case "state": {
          const word = this.arg(c, "MASTER or BACKUP");
          if (word?.text.toUpperCase() === "MASTER") stateMaster = c;
          else if (word !== undefined && word.text.toUpperCase() !== "BACKUP")
            this.warn(c, `'${word.text}' is not MASTER or BACKUP; ignored`);
          break;
        }
        case "nopreempt":
        case "no_preempt":
          preempt = false;
          nopreempt = c;
          break;
        case "preempt":
          break; // vipd's behaviour already
        case "native_ipv6":
          nativeIpv6 = c; // the family is decided by the addresses; checked against them below
          break;
        case "preempt_delay":
          preemptDelayMs = this.timer(c, 0, 3_600_000) ?? preemptDelayMs;
          break;
        case "virtual_ipaddress":
          vipBlocks.push(c);
          break;
        case "virtual_ipaddress_excluded":
          excludedBlocks.push(c);
          break;
        case "unicast_peer":
          peerBlocks.push(c);
          break;
        case "unicast_src_ip":
        case "mcast_src_ip":
          source = c;
          break;
        case "track_interface":
          trackBlocks.push(c);
          break;
        case "authentication":
          authBlock = c;
          break;
        case "garp_master_delay": {
          const ms = this.timer(c, 0, 86_400_000);
          if (ms !== undefined) garp.delay = formatDuration(ms);
          break;
        }
        case "garp_master_repeat": {
          const n = this.int(c, 0, 100, "a count");
          if (n !== undefined) garp.repeat = n;
          break;
        }
        case "garp_master_refresh": {
          const ms = this.timer(c, 0, 86_400_000);
          if (ms !== undefined) garp.refresh = formatDuration(ms);
          break;
        }
        case "track_script":
          trackScripts.push(...this.tracking.refs(c, "script"));
          break;
        case "track_file":
          trackFiles.push(...this.tracking.refs(c, "file"));
          break;
        case "smtp_alert":
          this.warn(c, `e-mail alerts are not supported; ${WEBHOOKS} (event vrrp.state)`);
          break;
        case "unicast_ttl":
          // keepalived sends unicast adverts with it and checks no TTL on unicast (nor does vipd by default).
          unicastTtl = this.int(c, 1, 255, "a TTL") ?? unicastTtl;
          break;
        case "lvs_sync_daemon_interface": {
          const word = this.arg(c, "an interface name");
          const problem = word === undefined ? undefined : interfaceNameProblem(word.text);
          if (problem !== undefined) this.warn(c, `${problem}; ignored`);
          else if (word !== undefined) syncDaemon = { word, at: c };
          break;
        }
        default:
          if (!this.notifyKeyword(c, notify)) this.notTranslated(c);
      }
    }

    if (iface === undefined) {
      this.warn(s, `instance '${name}' has no interface; skipped (vipd needs one per instance)`);
      return;
    }
    if (vrid === undefined) {
      this.warn(s, `instance '${name}' has no valid virtual_router_id; skipped`);
      return;
    }

    // Virtual IPs decide the family.
    let family: AddressFamily | undefined;
    const vips: string[] = [];
    const addVip = (entry: ListEntry, excluded: boolean): void => {
      const prefix = parseIpPrefix(entry.head.text);
      if (!prefix.ok) {
        this.warn(
          entry.head,
          `${prefix.reason}; dropped`,
          excluded ? "virtual_ipaddress_excluded" : "virtual_ipaddress",
        );
        return;
      }
      const vip = prefix.value;
      const keyword = excluded ? "virtual_ipaddress_excluded" : "virtual_ipaddress";
      const bad = nonUnicastReason(vip.address, vip.family, false);
      if (bad !== undefined) {
        this.warn(entry.head, `${vip.address} ${bad}; dropped`, keyword);
        return;
      }
      if (family !== undefined && vip.family !== family) {
        this.warn(
          entry.head,
          `${vip.address} is IPv${vip.family} but instance '${name}' is IPv${family}; dropped (vipd needs one address family per instance: add another instance)`,
          keyword,
        );
        return;
      }
      const text = `${vip.address}/${vip.prefixLength}`;
      const owner = this.vipOwners.get(vip.address);
      if (vips.some((v) => v.startsWith(`${vip.address}/`))) {
        this.warn(entry.head, `${vip.address} is listed twice; dropped`, keyword);
        return;
      }
      if (owner !== undefined) {
        this.warn(entry.head, `${vip.address} is already in instance '${owner}'; dropped`, keyword);
        return;
      }
      for (const option of entry.options) this.vipOption(option, iface as string, keyword);
      family ??= vip.family;
      vips.push(text);
    };
    for (const block of vipBlocks)
      for (const e of this.entries(block.block, VIP_OPTIONS, isAddressWord)) addVip(e, false);
    for (const block of excludedBlocks) {
      const before = vips.length;
      for (const e of this.entries(block.block, VIP_OPTIONS, isAddressWord)) addVip(e, true);
      if (vips.length > before) {
        this.warn(
          block,
          "merged into virtual_ips: vipd lists every address in its adverts (a keepalived peer still running this file sees a different address list)",
        );
      }
    }
    if (family === undefined || vips.length === 0) {
      this.warn(s, `instance '${name}' has no usable virtual IP; skipped`);
      return;
    }
    if (nativeIpv6 !== undefined && family === 4) {
      // keepalived: native_ipv6 makes the instance IPv6 (and VRRPv3); IPv4 addresses then fail
      // ("address family must match") or, written before it, the keyword does.
      this.warn(
        nativeIpv6,
        "keepalived makes a native_ipv6 instance IPv6 and refuses its IPv4 addresses (or the keyword, after them); vipd goes by the addresses: this instance is IPv4",
      );
    }

    // Version and advert interval.
    let v: 2 | 3 = version?.value ?? this.defaultVersion ?? KEEPALIVED.vrrpVersion;
    if (family === 6 && v === 2) {
      if (version !== undefined) this.warn(version.at, "VRRPv2 is IPv4 only; IPv6 instances use version 3");
      v = 3;
    }
    const advertMs = this.advertInterval(advert, v);

    const vridKey = `${iface}|${family}|${vrid}`;
    const sameVrid = this.vrids.get(vridKey);
    if (sameVrid !== undefined) {
      this.warn(
        s,
        `VRID ${vrid} is already used on ${iface} (IPv${family}) by instance '${sameVrid}'; skipped`,
      );
      return;
    }

    const out: MigratedInstance = {
      name,
      interface: iface,
      vrid,
      priority,
      version: v,
      advert_interval: formatDuration(advertMs),
      preempt,
      ...(preemptDelayMs === undefined || preemptDelayMs === 0
        ? {}
        : { preempt_delay: formatDuration(preemptDelayMs) }),
      virtual_ips: vips,
    };

    const peers = this.peers(peerBlocks, family);
    if (peers.length > 0) out.unicast_peers = peers;
    if (unicastTtl !== undefined) out.unicast_ttl = { send: unicastTtl };
    if (source !== undefined) {
      const address = this.address(source, source.args[0], family, "source address");
      if (address !== undefined) out.source_address = address;
    }
    const tracks = this.trackInterfaces(trackBlocks, out);
    if (tracks.length > 0) out.track_interfaces = tracks;
    if (trackScripts.length > 0) out.track_scripts = trackScripts;
    if (trackFiles.length > 0) out.track_files = trackFiles;
    const garpOut: MigratedGarp = {
      ...(garp.repeat === undefined ? {} : { repeat: garp.repeat }),
      ...(garp.delay === undefined ? {} : { delay: garp.delay }),
      ...(garp.refresh === undefined ? {} : { refresh: garp.refresh }),
    };
    if (Object.keys(garpOut).length > 0) out.garp = garpOut;
    const authentication =
      authBlock === undefined ? undefined : migrateAuthentication(authBlock, v, this.tools);
    if (authentication !== undefined) out.authentication = authentication;
    if (Object.keys(notify).length > 0) out.notify = notify;

    if (stateMaster !== undefined) {
      this.warn(
        stateMaster,
        `a start-up hint only: vipd starts as backup and elects the master by priority (here ${out.priority}); give the intended master the highest priority`,
        "state MASTER",
      );
      if (nopreempt !== undefined) {
        this.warn(
          nopreempt,
          "keepalived ignores nopreempt with state MASTER; vipd honours it (preempt: false)",
        );
      }
    }

    for (const vip of vips) this.vipOwners.set(vip.slice(0, vip.lastIndexOf("/")), name);
    this.vrids.set(vridKey, name);
    this.instances.push({ name, family, out });
    if (syncDaemon !== undefined) {
      if (this.legacySyncDaemon !== undefined) {
        this.warn(
          syncDaemon.at,
          `ignored: instance '${this.legacySyncDaemon.instance}' already sets the sync daemon`,
        );
      } else {
        this.legacySyncDaemon = {
          interface: syncDaemon.word.text,
          instance: name,
          syncId: vrid,
          at: syncDaemon.at,
        };
      }
    }
  }

  private advertInterval(advert: { us: number; at: Statement } | undefined, version: 2 | 3): number {
    const us = advert?.us ?? KEEPALIVED.advertIntUs;
    if (version === 3) {
      // VRRPv3 counts centiseconds: 10ms..40.95s.
      let ms = Math.round(us / 10_000) * 10;
      const clamped = Math.min(40_950, Math.max(10, ms));
      if (advert !== undefined && clamped !== us / 1000) {
        this.warn(
          advert.at,
          `${advert.at.args[0]?.text}s is not a VRRPv3 interval (10ms steps, 10ms..40.95s); using ${formatDuration(clamped)}`,
        );
      }
      ms = clamped;
      return ms;
    }
    const seconds = Math.min(255, Math.max(1, Math.round(us / 1_000_000)));
    if (advert !== undefined && seconds * 1_000_000 !== us) {
      this.warn(
        advert.at,
        `${advert.at.args[0]?.text}s is not a VRRPv2 interval (whole seconds, 1..255); using ${seconds}s`,
      );
    }
    return seconds * 1000;
  }

  private vipOption(option: { name: Word; value?: Word }, iface: string, keyword: string): void {
    const name = option.name.text;
    const value = option.value?.text;
    if (name === "dev") {
      if (value !== undefined && value !== iface) {
        this.warn(
          option.name,
          `dev ${value}: vipd adds every virtual IP on the instance's interface (${iface})`,
          keyword,
        );
      }
      return;
    }
    if (name === "label") {
      this.warn(
        option.name,
        `${value === undefined ? "label" : `label ${value}`} dropped (vipd adds addresses without labels)`,
        keyword,
      );
      return;
    }
    if (!Object.hasOwn(VIP_OPTIONS, name)) {
      this.warn(option.name, `unknown address option '${name}'; ignored`, keyword);
      return;
    }
    this.warn(
      option.name,
      `address option '${value === undefined ? name : `${name} ${value}`}' not supported; dropped`,
      keyword,
    );
  }

  private address(
    at: Statement | Word,
    word: Word | undefined,
    family: AddressFamily,
    what: string,
  ): string | undefined {
    if (word === undefined) {
      this.warn(at, `needs an IP address; ignored`);
      return undefined;
    }
    const fam = ipFamily(word.text);
    if (fam === 0) {
      this.warn(at, `'${word.text}' is not an IP address; ignored`);
      return undefined;
    }
    const address = canonical(word.text);
    const bad = nonUnicastReason(address, fam, false);
    if (bad !== undefined) {
      this.warn(at, `${what} ${address} ${bad}; ignored`);
      return undefined;
    }
    if (fam !== family) {
      this.warn(
        at,
        `${what} ${address} is IPv${fam} but the instance's virtual IPs are IPv${family}; ignored`,
      );
      return undefined;
    }
    return address;
  }

  private peers(blocks: Statement[], family: AddressFamily): string[] {
    const out: string[] = [];
    for (const block of blocks) {
      for (const entry of this.entries(block.block, PEER_OPTIONS, (w) => ipFamily(w.text) !== 0)) {
        for (const option of entry.options) {
          this.warn(option.name, `'${option.name.text}' not supported; dropped`, "unicast_peer");
        }
        const address = this.address(entry.head, entry.head, family, "unicast peer");
        if (address === undefined) continue;
        if (out.includes(address))
          this.warn(entry.head, `${address} is listed twice; dropped`, "unicast_peer");
        else out.push(address);
      }
    }
    return out;
  }

  /**
   * Weights carry over as they are: vipd follows keepalived (a negative weight is added while the
   * interface is down, a positive one while it is up, 0 means FAULT while down).
   */
  private trackInterfaces(blocks: Statement[], out: MigratedInstance): MigratedTrackInterface[] {
    const tracks: MigratedTrackInterface[] = [];
    for (const block of blocks) {
      for (const entry of this.entries(block.block, TRACK_OPTIONS)) {
        const name = entry.head.text;
        const problem = interfaceNameProblem(name);
        if (problem !== undefined) {
          this.warn(entry.head, `${problem}; dropped`, "track_interface");
          continue;
        }
        let weight = 0;
        let ok = true;
        for (const option of entry.options) {
          if (option.name.text === "weight" && option.value !== undefined) {
            const w = this.intWord(option.name, option.value, -254, 254, "a weight");
            if (w === undefined) ok = false;
            else weight = w;
          } else if (option.name.text === "reverse") {
            this.warn(
              option.name,
              `reverse is not supported; interface ${name} is not tracked`,
              "track_interface",
            );
            ok = false;
          }
        }
        if (!ok) continue;
        if (tracks.some((t) => t.name === name)) {
          this.warn(entry.head, `interface ${name} is tracked twice; dropped`, "track_interface");
          continue;
        }
        const track = { name, weight };
        tracks.push(track);
      }
    }
    if (out.priority === 255) {
      for (const track of [...tracks]) {
        if (track.weight === 0) continue;
        this.warn(
          blocks[0] as Statement,
          `priority 255 (address owner) is not changed by tracking in keepalived; interface ${track.name} (weight ${track.weight}) is not tracked`,
        );
        tracks.splice(tracks.indexOf(track), 1);
      }
    }
    return tracks;
  }

  /** notify* of an instance or sync group: into `notify`, or warned. False when `c` is no notify keyword. */
  private notifyKeyword(c: Statement, notify: MigratedNotify): boolean {
    const key = c.keyword.text;
    const to = VRRP_NOTIFY_KEYS[key];
    if (to !== undefined) {
      if (notify[to] !== undefined) {
        this.warn(c, `${key} is given twice; keepalived keeps the first, so does this config`);
        return true;
      }
      const argv = scriptArgv(c, this.tools);
      if (argv !== undefined) notify[to] = argv;
      return true;
    }
    const untranslated = VRRP_NOTIFY_UNTRANSLATED[key];
    if (untranslated === undefined) return false;
    this.warn(c, untranslated);
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // vrrp_sync_group

  private syncGroup(s: Statement): void {
    const name = s.args[0]?.text;
    if (name === undefined) {
      this.warn(s, "has no name; skipped");
      return;
    }
    const members: string[] = [];
    const notify: MigratedNotify = {};
    let trackingWeight = false;
    for (const c of s.block ?? []) {
      const key = c.keyword.text;
      if (key === "sync_group_tracking_weight") {
        trackingWeight = true;
      } else if (key === "group") {
        for (const entry of this.entries(c.block, {})) {
          const member = entry.head.text;
          if (!this.instances.some((i) => i.name === member)) {
            this.warn(
              entry.head,
              `instance '${member}' was not translated; left out of sync group '${name}'`,
              "group",
            );
          } else if (members.includes(member)) {
            this.warn(entry.head, `instance '${member}' is listed twice; dropped`, "group");
          } else if (this.syncGroups.some((g) => g.instances.includes(member))) {
            this.warn(entry.head, `instance '${member}' is already in another sync group; dropped`, "group");
          } else {
            members.push(member);
          }
        }
      } else if (c.args.length === 0 && c.block === undefined && this.instances.some((i) => i.name === key)) {
        // Old configs list the members directly in the sync group.
        if (members.includes(key) || this.syncGroups.some((g) => g.instances.includes(key))) {
          this.warn(c, `instance '${key}' is listed twice or in another sync group; dropped`);
        } else {
          members.push(key);
          // keepalived 2.2.7 reads members only inside `group { }`: it says "Unknown keyword"
          // here and, with no member left, removes the group.
          this.warn(
            c,
            `keepalived 2.x does not take members outside a group { } block ("Unknown keyword"; a group left empty is removed); vipd takes '${key}' as a member, as keepalived 1.x did: move it into group { }`,
          );
        }
      } else if (this.notifyKeyword(c, notify)) {
        // translated into the group's notify
      } else if (key === "smtp_alert") {
        this.warn(c, `e-mail alerts are not supported; ${WEBHOOKS}`);
      } else if (key === "track_script") {
        this.warn(c, "not supported yet: vipd cannot run tracking scripts; dropped");
      } else if (key === "track_interface") {
        this.warn(
          c,
          "not translated on a sync group: track the interfaces in each instance (track_interfaces)",
        );
      } else {
        this.notTranslated(c);
      }
    }
    if (this.syncGroups.some((g) => g.name === name)) {
      this.warn(s, `duplicate sync group '${name}'; skipped`);
      return;
    }
    if (members.length === 0) {
      this.warn(s, `sync group '${name}' has no translated instance; skipped`);
      return;
    }
    this.syncGroups.push({
      name,
      instances: members,
      ...(trackingWeight ? { tracking_weight: true } : {}),
      ...(Object.keys(notify).length > 0 ? { notify } : {}),
    });
  }

  // ------------------------------------------------------------------------------------------
  // virtual_server

  private virtualServer(s: Statement): void {
    const [first, second] = s.args;
    if (first === undefined) {
      this.warn(s, "has no address, fwmark or group; skipped");
      return;
    }
    const vs: Partial<MigratedVirtualServer> = {};
    let family: AddressFamily | undefined;
    if (first.text === "group") {
      const entries = second === undefined ? undefined : this.serviceGroups.get(second.text);
      if (entries === undefined) {
        this.warn(
          s,
          second === undefined
            ? "virtual_server group needs a group name; skipped"
            : `no virtual_server_group '${second.text}'; skipped`,
        );
        return;
      }
      if (entries.length === 0)
        this.warn(s, `virtual_server_group '${second?.text}' has no address; skipped`);
      // One vipd virtual server per address of the group, each with this block's contents.
      for (const entry of entries)
        this.virtualServer({ keyword: s.keyword, args: entry, ...(s.block ? { block: s.block } : {}) });
      return;
    }
    if (first.text === "fwmark") {
      const mark = second === undefined ? undefined : this.intWord(s, second, 1, MAX_U32, "a firewall mark");
      if (mark === undefined) {
        if (second === undefined) this.warn(s, "fwmark needs a number; skipped");
        return;
      }
      vs.fwmark = mark;
    } else {
      const fam = ipFamily(first.text);
      if (fam === 0) {
        this.warn(
          s,
          `'${first.text}' is not an IP address (keepalived takes address ranges only in a virtual_server_group); skipped`,
        );
        return;
      }
      if (second === undefined) {
        this.warn(s, "has no port (a port-less persistent service); vipd needs a port or a fwmark: skipped");
        return;
      }
      const port = this.intWord(s, second, 1, 65535, "a port");
      if (port === undefined) return;
      vs.address = canonical(first.text);
      vs.port = port;
      family = fam;
    }

    let protocol: MigratedVirtualServer["protocol"] | undefined;
    let scheduler = "wlc";
    let forwarding: MigratedVirtualServer["forwarding"] = "nat";
    let tunnel: MigratedTunnel | undefined;
    let persistenceS: number | undefined;
    let granularity: { text: string; at: Statement } | undefined;
    let onePacket: Statement | undefined;
    let inhibit = false;
    let quorum: number | undefined;
    let hysteresis: number | undefined;
    let sorry: Statement | undefined;
    const flags = new Set<"fallback" | "port">();
    const flagWords: Statement[] = [];
    const defaults: CheckDefaults = {};
    const realServers: Statement[] = [];

    for (const c of s.block ?? []) {
      const key = c.keyword.text;
      switch (key) {
        case "lb_algo":
        case "lvs_sched": {
          const word = this.arg(c, "a scheduler");
          if (word === undefined) break;
          const known = SCHEDULERS as readonly string[];
          if (known.includes(word.text)) scheduler = word.text;
          else if (known.includes(word.text.toLowerCase()))
            // keepalived: "Invalid lvs_scheduler 'RR' - ignoring", then its default.
            this.warn(
              c,
              `keepalived compares scheduler names exactly and rejects '${word.text}', so it runs wlc; so does this config (write ${word.text.toLowerCase()} to mean it)`,
            );
          else
            this.warn(
              c,
              `scheduler '${word.text}' is not supported by vipd (${SCHEDULERS.join(" ")}); using wlc`,
            );
          break;
        }
        case "lb_kind":
        case "lvs_method": {
          const parsed = this.method(c);
          if (parsed !== undefined) {
            forwarding = parsed.forwarding;
            tunnel = parsed.tunnel;
          }
          break;
        }
        case "protocol": {
          const word = this.arg(c, "TCP, UDP or SCTP");
          const p = word?.text.toLowerCase();
          if (p === "tcp" || p === "udp" || p === "sctp") protocol = p;
          else if (word !== undefined)
            this.warn(c, `protocol '${word.text}' is not TCP, UDP or SCTP; using tcp`);
          break;
        }
        case "persistence_timeout": {
          if (c.args[0] === undefined) {
            persistenceS = KEEPALIVED.persistenceTimeoutS;
            break;
          }
          const n = this.int(c, 0, MAX_U32, "a number of seconds");
          if (n !== undefined) persistenceS = n;
          break;
        }
        case "persistence_granularity": {
          const word = this.arg(c, "a netmask");
          if (word !== undefined) granularity = { text: word.text, at: c };
          break;
        }
        case "ops":
          onePacket = c;
          break;
        case "sh-port":
        case "mh-port":
          flags.add("port");
          flagWords.push(c);
          break;
        case "sh-fallback":
        case "mh-fallback":
          flags.add("fallback");
          flagWords.push(c);
          break;
        case "flag-1":
          flags.add("fallback");
          flagWords.push(c);
          break;
        case "flag-2":
          flags.add("port");
          flagWords.push(c);
          break;
        case "inhibit_on_failure":
          inhibit = this.bool(c);
          break;
        case "quorum":
          quorum = this.int(c, 1, 0x7fff_ffff, "a weight") ?? quorum;
          break;
        case "hysteresis":
          hysteresis = this.int(c, 0, 0x7fff_ffff, "a count") ?? hysteresis;
          break;
        case "sorry_server":
          sorry = c;
          break;
        case "ip_family": {
          const word = this.arg(c, "inet or inet6");
          if (word?.text === "inet" || word?.text === "inet6") {
            const named: AddressFamily = word.text === "inet" ? 4 : 6;
            if (vs.fwmark !== undefined) {
              vs.family = named === 4 ? "ipv4" : "ipv6";
              family = named;
            } else if (family !== named) {
              this.warn(c, `contradicts the address ${vs.address}; ignored`);
            }
          } else if (word !== undefined) {
            this.warn(c, `'${word.text}' is not inet or inet6; ignored`);
          }
          break;
        }
        case "real_server":
          realServers.push(c);
          break;
        case "quorum_up":
        case "quorum_down":
          this.warn(c, `scripts are not run; ${WEBHOOKS} (events quorum.gained, quorum.lost)`);
          break;
        case "smtp_alert":
          this.warn(c, `e-mail alerts are not supported; ${WEBHOOKS}`);
          break;
        case "alpha":
          this.warn(
            c,
            "not translated: vipd has no alpha mode; a real server's state follows its check results (rise, fall)",
          );
          break;
        case "omega":
          this.warn(c, "not translated: vipd runs no scripts at shutdown");
          break;
        default:
          if (!this.checkDefault(c, defaults)) this.notTranslated(c);
      }
    }

    if (protocol === undefined) {
      // keepalived 2.x: "no protocol set - defaulting to UDP".
      this.warn(
        s,
        "has no protocol: keepalived 2.x then runs it as UDP, and so does this config (add `protocol TCP` to the keepalived file if TCP was meant)",
      );
      protocol = "udp";
    }
    vs.name = this.serviceName(vs, protocol);
    const identity =
      vs.fwmark !== undefined
        ? `fwmark ${vs.fwmark} ${vs.family ?? ""}`
        : `${protocol} ${formatEndpoint(vs.address as string, vs.port as number)}`;
    const existing = this.serviceIds.get(identity);
    if (existing !== undefined) {
      this.warn(s, `the same service as '${existing}'; skipped`);
      return;
    }

    if (flags.size > 0 && scheduler !== "sh" && scheduler !== "mh") {
      for (const f of flagWords)
        this.warn(f, `applies only to the sh and mh schedulers (this service uses ${scheduler}); dropped`);
      flags.clear();
    }
    if (onePacket !== undefined && protocol !== "udp") {
      this.warn(onePacket, "one-packet scheduling needs protocol UDP; dropped");
      onePacket = undefined;
    }

    // Real servers first: a fwmark service's family comes from them.
    const servers: MigratedRealServer[] = [];
    /** Each translated server's own inhibit_on_failure, where it has one. */
    const ownInhibit: ({ value: boolean; at: Statement } | undefined)[] = [];
    for (const rs of realServers) {
      let own: { value: boolean; at: Statement } | undefined;
      const out = this.realServer(rs, { vs, family, forwarding, defaults, onInhibit: (o) => (own = o) });
      if (out === undefined) continue;
      if (family === undefined) family = ipFamily(out.address) as AddressFamily;
      servers.push(out);
      ownInhibit.push(own);
    }
    inhibit = this.serviceInhibit(inhibit, ownInhibit);

    let persistence: MigratedVirtualServer["persistence"];
    if (persistenceS !== undefined && persistenceS > 0) {
      persistence = { timeout: formatDuration(persistenceS * 1000) };
      if (granularity !== undefined) {
        const netmask = this.granularity(granularity, family ?? 4);
        if (netmask !== undefined) persistence.netmask = netmask;
      }
    } else if (granularity !== undefined) {
      this.warn(granularity.at, "ignored: the service is not persistent (no persistence_timeout)");
    }

    const sorryServer = sorry === undefined ? undefined : this.sorryServer(sorry, vs, family, forwarding);

    // A check shared by every real server moves up to the service.
    let check: MigratedChecks | undefined;
    const checks = servers.map((r) => JSON.stringify(r.check ?? null));
    if (servers.length > 0 && servers[0]?.check !== undefined && checks.every((c) => c === checks[0])) {
      check = servers[0].check;
      for (const r of servers) delete r.check;
    }

    const out: MigratedVirtualServer = {
      name: vs.name,
      ...(vs.address === undefined ? {} : { address: vs.address, port: vs.port as number }),
      ...(vs.fwmark === undefined ? {} : { fwmark: vs.fwmark }),
      ...(vs.family === undefined ? {} : { family: vs.family }),
      protocol,
      scheduler,
      ...(flags.size > 0 ? { scheduler_flags: [...flags].sort() } : {}),
      forwarding,
      ...(tunnel === undefined ? {} : { tunnel }),
      ...(persistence === undefined ? {} : { persistence }),
      ...(onePacket === undefined ? {} : { one_packet: true }),
      ...(inhibit ? { on_failure: "inhibit" as const } : {}),
      ...(quorum === undefined && hysteresis === undefined
        ? {}
        : {
            quorum: {
              ...(quorum === undefined ? {} : { weight: quorum }),
              ...(hysteresis === undefined ? {} : { hysteresis }),
            },
          }),
      ...(sorryServer === undefined ? {} : { sorry_server: sorryServer }),
      ...(check === undefined ? {} : { check }),
      real_servers: servers,
    };
    if (servers.length === 0) this.warn(s, `virtual server ${vs.name} has no real servers`);
    this.serviceIds.set(identity, vs.name);
    this.virtualServers.push(out);
  }

  /**
   * vipd's on_failure is per service; keepalived's inhibit_on_failure is per real server (the
   * service's, where given, is each server's default). When every server ends up the same, that
   * is the service's; otherwise the service's own (or remove) stays, warned at each server that
   * differs.
   */
  private serviceInhibit(
    serviceDefault: boolean,
    own: ({ value: boolean; at: Statement } | undefined)[],
  ): boolean {
    const effective = own.map((o) => o?.value ?? serviceDefault);
    if (effective.length > 0 && effective.every((v) => v === effective[0])) return effective[0] as boolean;
    for (const o of own) {
      if (o !== undefined && o.value !== serviceDefault)
        this.warn(
          o.at,
          `vipd sets on_failure per virtual server and this service's real servers differ; it keeps ${serviceDefault ? "inhibit" : "remove"} for all of them, so this server's setting is ignored`,
        );
    }
    return serviceDefault;
  }

  private serviceName(vs: Partial<MigratedVirtualServer>, protocol: string): string {
    let base =
      vs.fwmark !== undefined
        ? `fwmark-${vs.fwmark}`
        : formatEndpoint(vs.address as string, vs.port as number);
    if (protocol !== "tcp") base += `/${protocol}`;
    let name = base;
    for (let n = 2; this.virtualServers.some((v) => v.name === name); n++) name = `${base}-${n}`;
    return name;
  }

  /** `lb_kind` / `lvs_method`: NAT | DR | TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]. */
  private method(
    c: Statement,
  ): { forwarding: MigratedVirtualServer["forwarding"]; tunnel?: MigratedTunnel } | undefined {
    const word = this.arg(c, "NAT, DR or TUN");
    if (word === undefined) return undefined;
    const kind = word.text;
    if (kind === "NAT") return { forwarding: "nat" };
    if (kind === "DR") return { forwarding: "dr" };
    if (kind !== "TUN") {
      // keepalived: "unknown [dr] routing method", then its default, NAT.
      const upper = kind.toUpperCase();
      this.warn(
        c,
        upper === "NAT" || upper === "DR" || upper === "TUN"
          ? `keepalived compares the forwarding method exactly and does not know '${kind}', so it runs NAT; so does this config (write ${upper} to mean it)`
          : `'${kind}' is not NAT, DR or TUN; keepalived runs NAT, and so does this config`,
      );
      return undefined;
    }
    const tunnel: MigratedTunnel = { type: "ipip" };
    const rest = c.args.slice(1);
    for (let i = 0; i < rest.length; i++) {
      const w = rest[i] as Word;
      const next = rest[i + 1];
      if (w.text === "type" && next !== undefined) {
        if (next.text === "ipip" || next.text === "gue" || next.text === "gre") tunnel.type = next.text;
        else
          this.warn(next, `tunnel type '${next.text}' is not ipip, gue or gre; using ipip`, c.keyword.text);
        i++;
      } else if (w.text === "port" && next !== undefined) {
        const port = this.intWord(w, next, 1, 65535, "a port");
        if (port !== undefined) tunnel.port = port;
        i++;
      } else if (w.text === "nocsum" || w.text === "csum" || w.text === "remcsum") {
        tunnel.checksum = w.text === "nocsum" ? "none" : w.text;
      } else {
        this.warn(w, `unknown tunnel option '${w.text}'; ignored`, c.keyword.text);
      }
    }
    if (tunnel.type === "gue" && tunnel.port === undefined) {
      this.warn(c, "a gue tunnel needs a port; using ipip");
      return { forwarding: "tun", tunnel: { type: "ipip" } };
    }
    if (tunnel.type !== "gue" && tunnel.port !== undefined) {
      this.warn(c, `only gue tunnels take a port; port dropped`);
      delete tunnel.port;
    }
    return { forwarding: "tun", tunnel };
  }

  private granularity(
    g: { text: string; at: Statement },
    family: AddressFamily,
  ): string | number | undefined {
    if (/^\d+$/.test(g.text)) {
      const n = Number(g.text);
      if (n <= (family === 6 ? 128 : 32)) return n;
    } else if (family === 4 && netmaskToPrefix(g.text) !== undefined) {
      return g.text;
    }
    this.warn(
      g.at,
      `'${g.text}' is not a ${family === 6 ? "prefix length" : "contiguous IPv4 netmask"}; ignored`,
    );
    return undefined;
  }

  private sorryServer(
    c: Statement,
    vs: Partial<MigratedVirtualServer>,
    family: AddressFamily | undefined,
    forwarding: MigratedVirtualServer["forwarding"],
  ): string | undefined {
    const [addr, portWord] = c.args;
    if (addr === undefined) {
      this.warn(c, "needs an address; ignored");
      return undefined;
    }
    const fam = ipFamily(addr.text);
    if (fam === 0) {
      this.warn(c, `'${addr.text}' is not an IP address; ignored`);
      return undefined;
    }
    if (family !== undefined && fam !== family && forwarding !== "tun") {
      this.warn(c, `${addr.text} is IPv${fam} but the service is IPv${family}; ignored`);
      return undefined;
    }
    let port = portWord === undefined ? vs.port : this.intWord(c, portWord, 1, 65535, "a port");
    if (portWord !== undefined && port === undefined) return undefined;
    if (port === undefined) {
      this.warn(c, "a fwmark service's sorry server needs a port in vipd; ignored");
      return undefined;
    }
    if ((forwarding === "dr" || forwarding === "tun") && vs.port !== undefined && port !== vs.port) {
      this.warn(
        c,
        `port ${port} differs from the service port ${vs.port}; ${forwarding} forwarding cannot map ports, so ${vs.port} is used`,
      );
      port = vs.port;
    }
    return formatEndpoint(canonical(addr.text), port);
  }

  /** Settings a virtual server or real server passes down to its checkers; false when `c` is not one. */
  private checkDefault(c: Statement, defaults: CheckDefaults): boolean {
    switch (c.keyword.text) {
      case "delay_loop":
        defaults.delayLoopMs = this.timer(c, 10, 3_600_000) ?? defaults.delayLoopMs;
        return true;
      case "connect_timeout":
        defaults.connectTimeoutMs = this.timer(c, 10, 3_600_000) ?? defaults.connectTimeoutMs;
        return true;
      case "retry":
        defaults.retry = this.int(c, 0, 999, "a count") ?? defaults.retry;
        return true;
      case "nb_get_retry":
        // keepalived 2.2.7 knows it only inside HTTP_GET and SSL_GET (src/migrate/checkers.ts).
        this.warn(
          c,
          'keepalived accepts nb_get_retry only inside HTTP_GET and SSL_GET; here it skips it ("Unknown keyword") and the retry count stays as it was, and so does this config',
        );
        return true;
      case "delay_before_retry": {
        const ms = this.timer(c, 0, 3_600_000);
        if (ms !== undefined) defaults.delayBeforeRetry = { ms, at: c.keyword };
        return true;
      }
      case "virtualhost": {
        const word = this.arg(c, "a host name");
        if (word !== undefined) defaults.virtualhost = word.text;
        return true;
      }
      case "warmup":
        this.warn(c, "not translated: vipd starts checking at once");
        return true;
      case "ha_suspend":
        this.warn(c, "not translated: vipd checks real servers whether or not this node holds the VIP");
        return true;
      default:
        return false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // real_server and its checkers

  private realServer(
    s: Statement,
    svc: {
      vs: Partial<MigratedVirtualServer>;
      family: AddressFamily | undefined;
      forwarding: MigratedVirtualServer["forwarding"];
      defaults: CheckDefaults;
      /** The server's own inhibit_on_failure (a per-server setting; vipd has one per service). */
      onInhibit: (own: { value: boolean; at: Statement }) => void;
    },
  ): MigratedRealServer | undefined {
    const [addr, portWord] = s.args;
    if (addr === undefined) {
      this.warn(s, "has no address; skipped");
      return undefined;
    }
    const fam = ipFamily(addr.text);
    if (fam === 0) {
      this.warn(s, `'${addr.text}' is not an IP address; skipped`);
      return undefined;
    }
    if (svc.family !== undefined && fam !== svc.family && svc.forwarding !== "tun") {
      this.warn(s, `${addr.text} is IPv${fam} but the service is IPv${svc.family}; skipped`);
      return undefined;
    }
    const address = canonical(addr.text);
    let port: number | undefined;
    if (portWord !== undefined) {
      port = this.intWord(s, portWord, 1, 65535, "a port");
      if (port === undefined) return undefined;
    }
    const vsPort = svc.vs.port;
    /** The port keepalived would have checked when the check names none. */
    let checkPort: number | undefined;
    if (
      port !== undefined &&
      vsPort !== undefined &&
      port !== vsPort &&
      (svc.forwarding === "dr" || svc.forwarding === "tun")
    ) {
      this.warn(
        s,
        `port ${port} differs from the service port ${vsPort}; ${svc.forwarding} forwarding cannot map ports, so the real server gets ${vsPort} (its check keeps port ${port})`,
      );
      checkPort = port;
      port = vsPort;
    }
    port ??= vsPort;

    let weight = 1;
    const notify: NonNullable<MigratedRealServer["notify"]> = {};
    let upper: number | undefined;
    let lower: number | undefined;
    const defaults: CheckDefaults = { ...svc.defaults };
    const checkers: Statement[] = [];
    for (const c of s.block ?? []) {
      const key = c.keyword.text;
      switch (key) {
        case "weight":
          weight = this.int(c, 0, 65535, "a weight") ?? weight;
          break;
        case "uthreshold":
          upper = this.int(c, 0, 0x7fff_ffff, "a connection count") ?? upper;
          break;
        case "lthreshold":
          lower = this.int(c, 0, 0x7fff_ffff, "a connection count") ?? lower;
          break;
        case "inhibit_on_failure":
          svc.onInhibit({ value: this.bool(c), at: c });
          break;
        case "lvs_method": {
          const m = this.method(c);
          if (m !== undefined && m.forwarding !== svc.forwarding) {
            this.warn(c, `vipd sets forwarding per virtual server (${svc.forwarding}); ignored`);
          }
          break;
        }
        case "notify_up":
        case "notify_down": {
          const argv = scriptArgv(c, this.tools);
          if (argv !== undefined) notify[key === "notify_up" ? "up" : "down"] = argv;
          break;
        }
        case "smtp_alert":
          this.warn(c, `e-mail alerts are not supported; ${WEBHOOKS}`);
          break;
        case "alpha":
          this.warn(
            c,
            "not translated: vipd has no alpha mode; a real server's state follows its check results (rise, fall)",
          );
          break;
        default:
          if (CHECKERS.has(key)) {
            checkers.push(c);
          } else if (UNSUPPORTED_CHECKERS.has(key)) {
            this.warn(
              c,
              "not supported: vipd checks with HTTP, HTTPS, TCP, exec (MISC_CHECK) and DNS; dropped",
            );
          } else if (!this.checkDefault(c, defaults)) {
            this.notTranslated(c);
          }
      }
    }
    if (upper !== undefined && lower !== undefined && lower > upper) {
      this.warn(s, `lthreshold ${lower} is above uthreshold ${upper}; lthreshold dropped`, "lthreshold");
      lower = undefined;
    } else if (lower !== undefined && lower > 0 && (upper === undefined || upper === 0)) {
      this.warn(s, "lthreshold without uthreshold; dropped", "lthreshold");
      lower = undefined;
    }

    const check = this.realServerChecks(s, addr.text, checkers, defaults, {
      checkPort,
      family: fam,
      hasPort: port !== undefined,
    });

    return {
      address,
      ...(port === undefined ? {} : { port }),
      weight,
      ...(upper === undefined ? {} : { upper_threshold: upper }),
      ...(lower === undefined ? {} : { lower_threshold: lower }),
      ...(check === undefined ? {} : { check }),
      ...(Object.keys(notify).length > 0 ? { notify } : {}),
    };
  }

  /**
   * A real server's checks, in keepalived's order (keepalived also needs every checker up). Checks
   * that need a port are dropped on a port-less (fwmark) real server; exec and dns need none.
   */
  private realServerChecks(
    s: Statement,
    address: string,
    checkers: readonly Statement[],
    defaults: CheckDefaults,
    rs: { checkPort: number | undefined; family: AddressFamily; hasPort: boolean },
  ): MigratedChecks | undefined {
    const converted = checkers.flatMap((c) => this.checkers.convert(c, defaults, rs));
    const checks = converted.filter((check) => {
      if (rs.hasPort || check.connect_port !== undefined || check.type === "exec" || check.type === "dns")
        return true;
      const which = converted.length > 1 ? `${check.type} check` : "check";
      this.warn(s, `real server ${address} has no port to check (fwmark service); its ${which} is dropped`);
      return false;
    });
    if (checks.length > 1) return checks;
    if (checks.length === 1) return checks[0];
    if (converted.length > 0) return { type: "none" };
    if (
      (s.block ?? []).some((c) => UNSUPPORTED_CHECKERS.has(c.keyword.text) || CHECKERS.has(c.keyword.text))
    ) {
      this.warn(s, `real server ${address} keeps no check (always up) until one is configured`);
      return { type: "none" };
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

function isAddressWord(w: Word): boolean {
  return parseIpPrefix(w.text).ok;
}

/** IPv6 compressed and lower case; IPv4 unchanged. */
function canonical(address: string): string {
  if (ipFamily(address) !== 6) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** `1`, `0.5`, `2.71828` seconds → microseconds (keepalived's timer resolution); undefined if not a time. */
export function parseSecondsUs(text: string): number | undefined {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null) return undefined;
  const whole = Number(match[1]);
  const fraction = (match[2] ?? "").slice(0, 6).padEnd(6, "0");
  const us = whole * 1_000_000 + Number(fraction);
  return Number.isSafeInteger(us) ? us : undefined;
}

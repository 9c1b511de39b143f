import { describeError, VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import { NetlinkError, type SocketOpener } from "../netlink/connection.js";
import { errnoMessage } from "../netlink/errno.js";
import { GenlClient, type GenlFamily, type GenlMessage } from "../netlink/genl.js";
import {
  type DaemonConfig,
  daemonPayload,
  daemonStopPayload,
  decodeDaemon,
  decodeDest,
  decodeInfo,
  decodeService,
  IPVS_CMD,
  IPVS_CMD_ATTR,
  IPVS_CMD_ATTR_NAMES,
  IPVS_DAEMON_ATTR_NAMES,
  IPVS_DEST_ATTR,
  IPVS_DEST_ATTR_NAMES,
  IPVS_GENL_NAME,
  IPVS_GENL_VERSION,
  IPVS_SVC_ATTR,
  IPVS_SVC_ATTR_NAMES,
  type IpvsInfo,
  servicePayload,
} from "./codec.js";
import {
  AddDest,
  AddService,
  DelDest,
  DelService,
  encodeOp,
  type Op,
  opCommand,
  SetDest,
  SetService,
  writeOp,
} from "./reconcile.js";
import {
  type AddressFamily,
  AF_INET,
  AF_INET6,
  canonicalDestKey,
  type Destination,
  type DestKey,
  type DestOptions,
  destKeyString,
  formatAddress,
  type IpvsTable,
  type Service,
  type ServiceKey,
  type ServiceOptions,
  serviceKeyString,
} from "./types.js";

/**
 * IpvsClient: the kernel's IPVS table over the generic netlink family "IPVS" (version 1).
 * The thin, impure half of IPVS management; the pure half is codec.ts (attributes) and
 * reconcile.ts (diff → ops).
 *
 * - Reads: GET_INFO, GET_SERVICE (single and dump), GET_DEST (dump), GET_DAEMON. A reply
 *   the model cannot decode (an unknown protocol, forwarding method or tunnel type, say) is
 *   skipped and reported (`snapshot().skipped`, or a warning log), never fatal.
 * - Writes: one op at a time (newService … delDest: throw IpvsOpError), or many at once with
 *   apply(ops): several netlink messages per datagram, encoded by the codec (reconcile.writeOp)
 *   and sent by the connection's batch (over open()'s socket with acks: "errors": the kernel
 *   answers failures and one barrier per datagram), every failed op listed with its coded
 *   error, the rest carried on.
 * - Every request is serialised through one queue: the kernel runs one dump per socket at a
 *   time (a second one gets EBUSY), and ordering the writes keeps apply() predictable.
 */

export interface IpvsClientOptions {
  /** Open the netlink socket in this network namespace (a path such as /run/netns/NAME). */
  netns?: string;
  /** Per-request timeout (default 5 s; a batch chunk of many messages shares it). */
  timeoutMs?: number;
  /** Messages per datagram in apply() (default 256). */
  maxBatchMessages?: number;
  /** Bytes per datagram in apply() (default 128 KiB). */
  maxBatchBytes?: number;
  /** SO_RCVBUF(FORCE) for the socket; sized so that a whole chunk's acks fit (default 4 MiB). */
  socketReceiveBuffer?: number;
  /** Opens the socket; default src/sys/socket.ts's openSocket (the native addon). */
  openSocket?: SocketOpener;
}

/** A reply entry the model could not decode: left out of the result, reported here. */
export interface SkippedEntry {
  kind: "service" | "dest";
  /** The service (for a dest, the service it belongs to), as far as it could be read. */
  service?: string;
  /** The destination, as far as it could be read. */
  dest?: string;
  error: VipdError;
}

export interface IpvsSnapshot {
  table: IpvsTable;
  skipped: SkippedEntry[];
}

/**
 * An op the kernel (or vipd's own validation) refused. `code` is the errno name ("EINVAL",
 * "EEXIST", …) for kernel refusals, an IPVS_INVALID_* code when vipd refused it before
 * sending, IPVS_SKIPPED when a dependency failed (a destination of a service that could not
 * be added). The message names the operation and the entry; `context` carries
 * operation (op kind), service, dest (for destination ops), errno and a hint when known.
 */
export class IpvsOpError extends VipdError {
  readonly op: Op;
  constructor(op: Op, code: string, message: string, context: Record<string, unknown>, cause?: unknown) {
    super(code, message, context, cause === undefined ? undefined : { cause });
    this.name = "IpvsOpError";
    this.op = op;
  }
}

export interface ApplyFailure {
  op: Op;
  error: IpvsOpError;
}

export interface ApplyOptions {
  /** The ops come from diff(), which validated them: skip the per-op checks. */
  validated?: boolean;
}

export interface ApplyResult {
  /** Ops the kernel acknowledged, in order. */
  applied: Op[];
  /** Every op that failed, in order, each with its coded error. */
  failed: ApplyFailure[];
}

// ---------------------------------------------------------------------------
// Naming ops and explaining errors

/** "add dest 10.0.0.21:80 to tcp 10.0.0.100:80": what the op does to which entry, no options. */
export function opLabel(op: Op): string {
  switch (op.kind) {
    case "add_service":
      return `add service ${serviceKeyString(op.key)}`;
    case "set_service":
      return `set service ${serviceKeyString(op.key)}`;
    case "del_service":
      return `del service ${serviceKeyString(op.key)}`;
    case "add_dest":
      return `add dest ${destKeyString(op.key)} to ${serviceKeyString(op.service)}`;
    case "set_dest":
      return `set dest ${destKeyString(op.key)} in ${serviceKeyString(op.service)}`;
    case "del_dest":
      return `del dest ${destKeyString(op.key)} from ${serviceKeyString(op.service)}`;
  }
}

function opEntry(op: Op): { service: string; dest?: string } {
  if (op.kind === "add_dest" || op.kind === "set_dest" || op.kind === "del_dest") {
    return { service: serviceKeyString(op.service), dest: destKeyString(op.key) };
  }
  return { service: serviceKeyString(op.key) };
}

/** What a kernel errno usually means for this kind of op (net/netfilter/ipvs/ip_vs_ctl.c). */
function hint(op: Op, code: string): string | undefined {
  const dest = op.kind === "add_dest" || op.kind === "set_dest" || op.kind === "del_dest";
  switch (code) {
    case "EPERM":
      return "IPVS needs CAP_NET_ADMIN";
    case "EEXIST":
      return dest ? "the destination already exists" : "the service already exists";
    case "ESRCH":
      return "the service does not exist";
    case "ENOENT":
      if (op.kind === "add_service" || op.kind === "set_service") {
        return `no such scheduler or persistence engine module (ip_vs_${op.options.scheduler}${op.options.pe ? `, ip_vs_pe_${op.options.pe}` : ""})`;
      }
      return dest ? "the destination does not exist" : undefined;
    case "EINVAL":
      if (op.kind === "add_dest" || op.kind === "set_dest") {
        return "the kernel takes only unicast destination addresses (not broadcast, multicast or 0.0.0.0 in its routing tables), and of the service's family unless tunnelled";
      }
      return undefined;
    case "ERANGE":
      return dest ? "weight or thresholds out of range (lower threshold above upper)" : undefined;
    default:
      return undefined;
  }
}

/** The coded error for a failed op (from a NetlinkError, a validation error, anything). */
export function opError(op: Op, err: unknown): IpvsOpError {
  if (err instanceof IpvsOpError) return err;
  const label = opLabel(op);
  const entry = opEntry(op);
  if (err instanceof NetlinkError) {
    const h = hint(op, err.code);
    const tail = err.extack.message ? `: ${err.extack.message}` : "";
    return new IpvsOpError(
      op,
      err.code,
      `${label}: ${err.code} (${errnoMessage(err.errno)})${tail}${h ? ` — ${h}` : ""}`,
      {
        operation: op.kind,
        ...entry,
        errno: err.errno,
        ...(h ? { hint: h } : {}),
        ...(err.extack.message ? { extack: err.extack.message } : {}),
      },
      err,
    );
  }
  const code = err instanceof VipdError ? err.code : "IPVS_OP_FAILED";
  const msg = err instanceof Error ? err.message : String(err);
  // Transport errors already start with the operation's label.
  const message = msg.startsWith(`${label}:`) ? msg : `${label}: ${msg}`;
  return new IpvsOpError(op, code, message, { operation: op.kind, ...entry }, err);
}

// ---------------------------------------------------------------------------
// Decoding replies, tolerantly

function peekServiceKey(msg: GenlMessage): string | undefined {
  try {
    const s = msg.attrs.nested(IPVS_CMD_ATTR.SERVICE, IPVS_SVC_ATTR_NAMES);
    if (!s) return undefined;
    const af = s.u16(IPVS_SVC_ATTR.AF);
    const fwmark = s.u32(IPVS_SVC_ATTR.FWMARK);
    if (fwmark) return `fwmark ${fwmark}`;
    const proto = s.u16(IPVS_SVC_ATTR.PROTOCOL);
    const addr = s.bytes(IPVS_SVC_ATTR.ADDR);
    const port = s.u16be(IPVS_SVC_ATTR.PORT);
    const a =
      addr && (af === AF_INET || af === AF_INET6) && addr.length >= (af === AF_INET ? 4 : 16)
        ? formatAddress(af, addr)
        : "?";
    return `protocol ${proto ?? "?"} ${af === AF_INET6 ? `[${a}]` : a}:${port ?? "?"}`;
  } catch {
    return undefined;
  }
}

function peekDestKey(msg: GenlMessage, serviceAf: AddressFamily): string | undefined {
  try {
    const d = msg.attrs.nested(IPVS_CMD_ATTR.DEST, IPVS_DEST_ATTR_NAMES);
    if (!d) return undefined;
    const af = d.u16(IPVS_DEST_ATTR.ADDR_FAMILY) ?? serviceAf;
    const addr = d.bytes(IPVS_DEST_ATTR.ADDR);
    const port = d.u16be(IPVS_DEST_ATTR.PORT);
    const a =
      addr && (af === AF_INET || af === AF_INET6) && addr.length >= (af === AF_INET ? 4 : 16)
        ? formatAddress(af, addr)
        : "?";
    return `${af === AF_INET6 ? `[${a}]` : a}:${port ?? "?"}`;
  } catch {
    return undefined;
  }
}

function asVipdError(err: unknown): VipdError {
  if (err instanceof VipdError) return err;
  return new VipdError("IPVS_DECODE_FAILED", describeError(err), {}, { cause: err });
}

function decodeServiceMsg(msg: GenlMessage): Service {
  const nest = msg.attrs.nested(IPVS_CMD_ATTR.SERVICE, IPVS_SVC_ATTR_NAMES);
  if (!nest)
    throw new VipdError("NETLINK_ATTR_MISSING", "IPVS service reply: IPVS_CMD_ATTR_SERVICE is missing");
  return decodeService(nest);
}

function decodeDestMsg(msg: GenlMessage, serviceAf: AddressFamily): Destination {
  const nest = msg.attrs.nested(IPVS_CMD_ATTR.DEST, IPVS_DEST_ATTR_NAMES);
  if (!nest)
    throw new VipdError("NETLINK_ATTR_MISSING", "IPVS destination reply: IPVS_CMD_ATTR_DEST is missing");
  return decodeDest(nest, serviceAf);
}

const DEFAULT_MAX_BATCH_MESSAGES = 256;
const DEFAULT_MAX_BATCH_BYTES = 128 * 1024;
const DEFAULT_SOCKET_RECEIVE_BUFFER = 4 * 1024 * 1024;

export class IpvsClient {
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly owner: GenlClient | undefined;
  private readonly acks: "all" | "errors";

  /**
   * Over a resolved family. `acks` is how apply()'s batches are acknowledged (see the
   * connection's BatchOptions.acks): "errors" (what open() uses) has the kernel answer only
   * failures plus one barrier per datagram; "all" (default) one ack per op.
   * `owner` is closed with the client.
   */
  constructor(
    readonly family: GenlFamily,
    opts: { owner?: GenlClient; acks?: "all" | "errors" } = {},
  ) {
    this.log = childLogger("ipvs-client");
    this.owner = opts.owner;
    this.acks = opts.acks ?? "all";
  }

  /**
   * Opens a generic netlink socket and resolves the family "IPVS" (which makes the kernel
   * load ip_vs when it is a module), then asks GET_INFO, retried once (the first request
   * after the autoload can fail). Rejects with IPVS_UNAVAILABLE when the kernel has no IPVS.
   */
  static async open(opts: IpvsClientOptions = {}): Promise<IpvsClient> {
    const openSocket = opts.openSocket ?? (await import("../sys/socket.js")).openSocket;
    const timeoutMs = opts.timeoutMs ?? 5000;
    const genl = await GenlClient.open(openSocket, {
      name: "ipvs",
      ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
      timeoutMs,
      maxBatchMessages: opts.maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES,
      maxBatchBytes: opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES,
      socketReceiveBuffer: opts.socketReceiveBuffer ?? DEFAULT_SOCKET_RECEIVE_BUFFER,
    });
    try {
      let family: GenlFamily;
      try {
        family = await genl.family(IPVS_GENL_NAME, {
          version: IPVS_GENL_VERSION,
          names: IPVS_CMD_ATTR_NAMES,
          retryFirstRequest: true,
        });
      } catch (err) {
        if (err instanceof NetlinkError && err.code === "ENOENT") {
          throw new VipdError(
            "IPVS_UNAVAILABLE",
            "the kernel has no IPVS: generic netlink family IPVS not found (modprobe ip_vs?)",
            { netns: opts.netns },
            { cause: err },
          );
        }
        throw err;
      }
      await family.request(IPVS_CMD.GET_INFO, undefined, { operation: "get IPVS info" });
      return new IpvsClient(family, { owner: genl, acks: "errors" });
    } catch (err) {
      genl.close();
      throw err;
    }
  }

  close(): void {
    if (this.owner) this.owner.close();
    else this.family.conn.close();
  }

  /** Runs `fn` after everything queued before it. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // -------------------------------------------------------------------------
  // Reads

  /** GET_INFO: the IPVS version ("1.2.1") and connection table size. */
  getInfo(): Promise<IpvsInfo> {
    return this.exclusive(async () => {
      const replies = await this.family.request(IPVS_CMD.GET_INFO, undefined, {
        operation: "get IPVS info",
      });
      const r = replies[0];
      if (!r) throw new VipdError("NETLINK_NO_REPLY", "get IPVS info: the kernel sent no reply");
      return decodeInfo(r.attrs);
    });
  }

  /** GET_SERVICE for one service; undefined when the kernel has no such service. */
  getService(key: ServiceKey): Promise<Service | undefined> {
    return this.exclusive(async () => {
      const operation = `get service ${serviceKeyString(key)}`;
      try {
        const replies = await this.family.request(IPVS_CMD.GET_SERVICE, servicePayload(key), { operation });
        const r = replies[0];
        return r ? decodeServiceMsg(r) : undefined;
      } catch (err) {
        if (err instanceof NetlinkError && (err.code === "ESRCH" || err.code === "ENOENT")) return undefined;
        throw err;
      }
    });
  }

  private async dumpServices(skipped: SkippedEntry[]): Promise<Service[]> {
    const replies = await this.family.dump(IPVS_CMD.GET_SERVICE, undefined, {
      operation: "list IPVS services",
    });
    const out: Service[] = [];
    for (const msg of replies) {
      try {
        out.push(decodeServiceMsg(msg));
      } catch (err) {
        const service = peekServiceKey(msg);
        skipped.push({ kind: "service", ...(service ? { service } : {}), error: asVipdError(err) });
      }
    }
    return out;
  }

  private async dumpDests(service: ServiceKey, skipped: SkippedEntry[]): Promise<Destination[]> {
    const ks = serviceKeyString(service);
    const replies = await this.family.dump(IPVS_CMD.GET_DEST, servicePayload(service), {
      operation: `list destinations of ${ks}`,
    });
    const out: Destination[] = [];
    for (const msg of replies) {
      try {
        out.push(decodeDestMsg(msg, service.af));
      } catch (err) {
        const dest = peekDestKey(msg, service.af);
        skipped.push({ kind: "dest", service: ks, ...(dest ? { dest } : {}), error: asVipdError(err) });
      }
    }
    return out;
  }

  private reportSkipped(skipped: SkippedEntry[]): void {
    for (const s of skipped) {
      this.log.warn(
        { kind: s.kind, service: s.service, dest: s.dest, err: s.error },
        `skipped an IPVS ${s.kind} vipd cannot decode: ${s.error.message}`,
      );
    }
  }

  /** Every service (dump), with stats. Entries that cannot be decoded are skipped and logged. */
  listServices(): Promise<Service[]> {
    return this.exclusive(async () => {
      const skipped: SkippedEntry[] = [];
      const out = await this.dumpServices(skipped);
      this.reportSkipped(skipped);
      return out;
    });
  }

  /** The destinations of one service (dump), with stats and connection counts; [] when it does not exist. */
  listDests(service: ServiceKey): Promise<Destination[]> {
    return this.exclusive(async () => {
      const skipped: SkippedEntry[] = [];
      const out = await this.dumpDests(service, skipped);
      this.reportSkipped(skipped);
      return out;
    });
  }

  /** The whole table, with whatever could not be decoded listed apart (nothing is logged). */
  snapshot(): Promise<IpvsSnapshot> {
    return this.exclusive(async () => {
      const skipped: SkippedEntry[] = [];
      const services = await this.dumpServices(skipped);
      const table: IpvsTable = [];
      for (const service of services) {
        table.push({ service, destinations: await this.dumpDests(service.key, skipped) });
      }
      return { table, skipped };
    });
  }

  /** The whole table; undecodable entries are skipped and logged. */
  async readTable(): Promise<IpvsTable> {
    const { table, skipped } = await this.snapshot();
    this.reportSkipped(skipped);
    return table;
  }

  // -------------------------------------------------------------------------
  // Writes

  /**
   * Applies ops in order, many per datagram. Service additions and changes go first, then
   * destination ops, then service deletions (each phase one batch call), so that a
   * destination whose service could not be added is reported as IPVS_SKIPPED rather than
   * sent to fail with ESRCH. Never rejects for a refused op: every failure is in `failed`.
   *
   * `validated`: the ops come straight from diff(), which validated every entry they carry,
   * so the per-op checks can be skipped (a hot path for big tables).
   */
  apply(ops: readonly Op[], opts: ApplyOptions = {}): Promise<ApplyResult> {
    return this.exclusive(() => this.applyNow(ops, opts.validated === true));
  }

  private async applyNow(ops: readonly Op[], validated: boolean): Promise<ApplyResult> {
    const failedAt = new Map<number, IpvsOpError>();
    const phases: number[][] = [[], [], []];
    ops.forEach((op, i) => {
      const phase =
        op.kind === "add_service" || op.kind === "set_service" ? 0 : op.kind === "del_service" ? 2 : 1;
      phases[phase]!.push(i);
    });
    const failedServices = new Map<string, IpvsOpError>();
    for (const phase of phases) {
      const items: Op[] = [];
      const index: number[] = [];
      for (const i of phase) {
        const op = ops[i]!;
        if (
          failedServices.size > 0 &&
          (op.kind === "add_dest" || op.kind === "set_dest" || op.kind === "del_dest")
        ) {
          const dep = failedServices.get(serviceKeyString(op.service));
          if (dep) {
            failedAt.set(
              i,
              new IpvsOpError(
                op,
                "IPVS_SKIPPED",
                `${opLabel(op)}: skipped because "${opLabel(dep.op)}" failed (${dep.code})`,
                { operation: op.kind, ...opEntry(op), dependsOn: opLabel(dep.op), dependencyCode: dep.code },
              ),
            );
            continue;
          }
        }
        items.push(op);
        index.push(i);
      }
      if (items.length > 0) {
        const errors = await this.send(items, validated);
        errors.forEach((e, k) => {
          if (!e) return;
          const i = index[k]!;
          failedAt.set(i, opError(ops[i]!, e));
        });
      }
      for (const i of phase) {
        const op = ops[i]!;
        const e = failedAt.get(i);
        if (e && op.kind === "add_service") failedServices.set(serviceKeyString(op.key), e);
      }
    }
    const applied: Op[] = [];
    const failed: ApplyFailure[] = [];
    ops.forEach((op, i) => {
      const e = failedAt.get(i);
      if (e) failed.push({ op, error: e });
      else applied.push(op);
    });
    return { applied, failed };
  }

  /**
   * One batch; per op undefined (done) or the error. An op the codec refuses to encode is
   * not sent. `validated`: the ops come from diff(), the codec skips its checks.
   */
  private async send(ops: Op[], validated: boolean): Promise<Array<Error | undefined>> {
    const out: Array<Error | undefined> = new Array(ops.length).fill(undefined);
    // Every op is written by the codec (writeOp) straight into the connection's datagram: no
    // object, closure or buffer per op (on User-Mode Linux fresh memory is what a big apply
    // would otherwise spend its time on).
    const encode = { validated };
    const results = await this.family.batch(
      {
        length: ops.length,
        cmd: (i) => opCommand(ops[i]!),
        write: (i, w) => {
          writeOp(ops[i]!, w, encode);
        },
        operation: (i) => opLabel(ops[i]!),
      },
      { acks: this.acks },
    );
    for (let k = 0; k < results.length; k++) {
      const r = results[k]!;
      if (!r.ok) out[k] = r.error;
    }
    return out;
  }

  /** One op, on its own; rejects with IpvsOpError. */
  private run(op: Op): Promise<void> {
    return this.exclusive(async () => {
      let encoded: { cmd: number; payload: Buffer };
      try {
        encoded = encodeOp(op);
        await this.family.request(encoded.cmd, encoded.payload, { operation: opLabel(op) });
      } catch (err) {
        throw opError(op, err);
      }
    });
  }

  newService(key: ServiceKey, options: ServiceOptions): Promise<void> {
    return this.run(new AddService(key, options));
  }

  /** SET_SERVICE: changes the options of an existing service (ESRCH when it does not exist). */
  setService(key: ServiceKey, options: ServiceOptions): Promise<void> {
    return this.run(new SetService(key, options, options));
  }

  /** DEL_SERVICE: the service and all its destinations. */
  delService(key: ServiceKey): Promise<void> {
    return this.run(new DelService(key, 0));
  }

  newDest(service: ServiceKey, key: DestKey, options: DestOptions): Promise<void> {
    return this.run(new AddDest(service, canonicalDestKey(key), options));
  }

  setDest(service: ServiceKey, key: DestKey, options: DestOptions): Promise<void> {
    return this.run(new SetDest(service, canonicalDestKey(key), options, options));
  }

  delDest(service: ServiceKey, key: DestKey): Promise<void> {
    return this.run(new DelDest(service, canonicalDestKey(key)));
  }

  /** FLUSH: removes every service (and destination) in this network namespace. */
  flush(): Promise<void> {
    return this.exclusive(async () => {
      await this.family.request(IPVS_CMD.FLUSH, undefined, { operation: "flush the IPVS table" });
    });
  }

  /** ZERO: resets the counters of one service, or of every service when none is given. */
  zero(service?: ServiceKey): Promise<void> {
    return this.exclusive(async () => {
      const payload = service ? servicePayload(service) : undefined;
      await this.family.request(IPVS_CMD.ZERO, payload, {
        operation: service ? `zero the counters of ${serviceKeyString(service)}` : "zero all IPVS counters",
      });
    });
  }

  // -------------------------------------------------------------------------
  // Connection sync daemons

  /** GET_DAEMON: the sync daemons running (0, 1 or 2: master and/or backup). */
  getDaemons(): Promise<DaemonConfig[]> {
    return this.exclusive(async () => {
      const replies = await this.family.dump(IPVS_CMD.GET_DAEMON, undefined, {
        operation: "list IPVS sync daemons",
      });
      const out: DaemonConfig[] = [];
      for (const msg of replies) {
        const d = msg.attrs.nested(IPVS_CMD_ATTR.DAEMON, IPVS_DAEMON_ATTR_NAMES);
        if (d) out.push(decodeDaemon(d));
      }
      return out;
    });
  }

  /** NEW_DAEMON: starts a sync daemon (EEXIST when one of that state already runs). */
  startDaemon(cfg: DaemonConfig): Promise<void> {
    return this.exclusive(async () => {
      await this.family.request(IPVS_CMD.NEW_DAEMON, daemonPayload(cfg), {
        operation: `start the IPVS sync daemon (${cfg.state}, ${cfg.interface}, sync id ${cfg.syncId})`,
      });
    });
  }

  /** DEL_DAEMON: stops the sync daemon of that state (ESRCH when none runs). */
  stopDaemon(state: DaemonConfig["state"]): Promise<void> {
    return this.exclusive(async () => {
      await this.family.request(IPVS_CMD.DEL_DAEMON, daemonStopPayload(state), {
        operation: `stop the IPVS ${state} sync daemon`,
      });
    });
  }
}

import { describeError, VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import { NLA_F_NESTED } from "../netlink/attr.js";
import { NetlinkError, type NetlinkSocket, type SocketOpener } from "../netlink/connection.js";
import { errnoMessage } from "../netlink/errno.js";
import { type GenlBatchItem, GenlClient, type GenlFamily, type GenlMessage } from "../netlink/genl.js";
import {
  decodeError,
  decodeMessages,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_GENERIC,
  NLM_F_ACK,
  NLM_F_REQUEST,
  NLMSG_ERROR,
  SOL_NETLINK,
} from "../netlink/message.js";
import {
  canonicalNetmask,
  type DaemonConfig,
  DEFAULT_PERSISTENCE_TIMEOUT,
  daemonPayload,
  daemonStopPayload,
  decodeDaemon,
  decodeDest,
  decodeInfo,
  decodeService,
  FORWARDING_CODE,
  IP_VS_SVC_F,
  IP_VS_TUNNEL_ENCAP_FLAG,
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
  PROTOCOL_NUMBER,
  SVC_FLAGS_MASK,
  serviceFlagBits,
  servicePayload,
  TUNNEL_TYPE_CODE,
  validateDestFor,
} from "./codec.js";
import {
  AddDest,
  AddService,
  DelDest,
  DelService,
  encodeOp,
  type Op,
  SetDest,
  SetService,
} from "./reconcile.js";
import {
  type AddressFamily,
  AF_INET,
  AF_INET6,
  addressBytes,
  canonicalDestKey,
  canonicalServiceKey,
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
 *   apply(ops): several netlink messages per datagram, every ack collected, every failed op
 *   listed with its coded error, the rest carried on.
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

// ---------------------------------------------------------------------------
// The wire: messages written straight into one reusable buffer

/**
 * Writes generic netlink messages and attributes straight into one growing buffer, reused
 * for every datagram. apply() is the hot path of vipd's IPVS management: a 10,000-entry
 * table written through AttrWriter costs some forty small allocations per op, which on
 * User-Mode Linux (where fresh memory is expensive) was most of the time an apply took.
 * The bytes are those the codec produces; test/unit/ipvs/client.test.ts checks it.
 */
export class WireWriter {
  buf: Buffer;
  off = 0;

  constructor(size = 64 * 1024) {
    this.buf = Buffer.alloc(Math.max(size, 256));
  }

  /** Room for `n` more bytes (plus alignment). */
  private ensure(n: number): void {
    if (this.off + n + 8 <= this.buf.length) return;
    const b = Buffer.alloc(Math.max(this.buf.length * 2, this.off + n + 8));
    this.buf.copy(b, 0, 0, this.off);
    this.buf = b;
  }

  // Plain byte stores: Buffer's write methods cost more than the rest of an op together.
  private w16(v: number): void {
    const b = this.buf;
    const o = this.off;
    b[o] = v & 0xff;
    b[o + 1] = (v >>> 8) & 0xff;
    this.off = o + 2;
  }

  private w32(v: number): void {
    const b = this.buf;
    const o = this.off;
    b[o] = v & 0xff;
    b[o + 1] = (v >>> 8) & 0xff;
    b[o + 2] = (v >>> 16) & 0xff;
    b[o + 3] = (v >>> 24) & 0xff;
    this.off = o + 4;
  }

  private pad(): void {
    const b = this.buf;
    while (this.off & 3) b[this.off++] = 0;
  }

  /** nlmsghdr (length patched by end) and genlmsghdr; returns the message's offset. */
  begin(type: number, flags: number, seq: number, cmd: number, version: number): number {
    this.ensure(20);
    const start = this.off;
    this.w32(0);
    this.w16(type);
    this.w16(flags);
    this.w32(seq);
    this.w32(0);
    const b = this.buf;
    b[start + 16] = cmd;
    b[start + 17] = version;
    b[start + 18] = 0;
    b[start + 19] = 0;
    this.off = start + 20;
    return start;
  }

  end(start: number): void {
    const len = this.off - start;
    const b = this.buf;
    b[start] = len & 0xff;
    b[start + 1] = (len >>> 8) & 0xff;
    b[start + 2] = (len >>> 16) & 0xff;
    b[start + 3] = (len >>> 24) & 0xff;
    this.pad();
  }

  /** Bytes that are already whole, aligned attributes. */
  raw(data: Buffer): void {
    this.ensure(data.length);
    data.copy(this.buf, this.off);
    this.off += data.length;
  }

  private header(type: number, dataLen: number): void {
    this.ensure(4 + dataLen);
    this.w16(4 + dataLen);
    this.w16(type);
  }

  u8(type: number, v: number): void {
    this.header(type, 1);
    this.buf[this.off++] = v & 0xff;
    this.pad();
  }
  u16(type: number, v: number): void {
    this.header(type, 2);
    this.w16(v);
    this.pad();
  }
  u16be(type: number, v: number): void {
    this.header(type, 2);
    this.w16(((v & 0xff) << 8) | ((v >>> 8) & 0xff));
    this.pad();
  }
  u32(type: number, v: number): void {
    this.header(type, 4);
    this.w32(v);
  }
  /** Two u32 in one 8-byte attribute (struct ip_vs_flags {flags; mask}). */
  u64pair(type: number, a: number, b: number): void {
    this.header(type, 8);
    this.w32(a);
    this.w32(b);
  }
  /** `data` zero-extended to `size` bytes. */
  bytes(type: number, data: Uint8Array, size = data.length): void {
    this.header(type, size);
    const b = this.buf;
    const o = this.off;
    for (let i = 0; i < size; i++) b[o + i] = i < data.length ? (data[i] as number) : 0;
    this.off = o + size;
    this.pad();
  }
  /** A NUL-terminated string (NLA_NUL_STRING). */
  str(type: number, value: string): void {
    const n = Buffer.byteLength(value, "utf8");
    this.header(type, n + 1);
    this.buf.write(value, this.off, "utf8");
    this.buf[this.off + n] = 0;
    this.off += n + 1;
    this.pad();
  }
  nestBegin(type: number): number {
    this.ensure(4);
    const start = this.off;
    this.w16(0);
    this.w16(type | NLA_F_NESTED);
    return start;
  }
  nestEnd(start: number): void {
    const len = this.off - start;
    this.buf[start] = len & 0xff;
    this.buf[start + 1] = (len >>> 8) & 0xff;
  }
}

/** How requests of type T go on the wire: command, attributes, name (asked only on failure). */
export interface WireSource<T> {
  cmd(item: T): number;
  /** Writes the attributes after the genl header; throws to refuse the request (nothing is sent). */
  write(w: WireWriter, item: T): void;
  operation(item: T): string;
}

/** The SERVICE nest with the identity only (what codec.encodeService writes without options). */
function writeServiceIdentity(w: WireWriter, key: ServiceKey): void {
  const k = canonicalServiceKey(key); // checks it; the same object when already canonical
  const nest = w.nestBegin(IPVS_CMD_ATTR.SERVICE);
  writeIdentity(w, k);
  w.nestEnd(nest);
}

function writeIdentity(w: WireWriter, k: ServiceKey): void {
  const S = IPVS_SVC_ATTR;
  w.u16(S.AF, k.af);
  if (k.kind === "fwmark") {
    w.u32(S.FWMARK, k.fwmark);
  } else {
    w.u16(S.PROTOCOL, PROTOCOL_NUMBER[k.protocol]);
    w.bytes(S.ADDR, addressBytes(k.address, k.af).bytes, 16);
    w.u16be(S.PORT, k.port);
  }
}

/**
 * NEW/SET/DEL_SERVICE attributes, byte for byte what codec.servicePayload makes. With
 * `validated` the checks are skipped (the ops come from diff()); defaults are filled either way.
 */
export function writeServiceOp(
  w: WireWriter,
  op: AddService | SetService | DelService,
  validated = false,
): void {
  if (op.kind === "del_service") {
    writeServiceIdentity(w, op.key);
    return;
  }
  if (!validated) {
    w.raw(encodeOp(op).payload);
    return;
  }
  const k = canonicalServiceKey(op.key);
  const o = op.options;
  const S = IPVS_SVC_ATTR;
  const nest = w.nestBegin(IPVS_CMD_ATTR.SERVICE);
  writeIdentity(w, k);
  const bits = serviceFlagBits(o);
  w.str(S.SCHED_NAME, o.scheduler);
  if (o.pe !== undefined && o.pe !== "") w.str(S.PE_NAME, o.pe);
  w.u64pair(S.FLAGS, bits, SVC_FLAGS_MASK);
  w.u32(S.TIMEOUT, o.timeout ?? ((bits & IP_VS_SVC_F.PERSISTENT) !== 0 ? DEFAULT_PERSISTENCE_TIMEOUT : 0));
  const mask = canonicalNetmask(k.af, o.netmask);
  // NETMASK: IPv4 the mask's bytes; IPv6 the prefix length in host order (see codec.netmaskAttr).
  if (k.af === AF_INET) w.bytes(S.NETMASK, addressBytes(String(mask), AF_INET).bytes, 4);
  else w.u32(S.NETMASK, Number(mask));
  w.nestEnd(nest);
}

/** NEW/SET/DEL_DEST attributes, byte for byte what codec.destPayload makes (the same checks first). */
export function writeDestOp(w: WireWriter, op: AddDest | SetDest | DelDest, validated = false): void {
  const options = op.kind === "del_dest" ? undefined : op.options;
  if (options && !validated) validateDestFor(op.service, op.key, options);
  const { af, bytes } = addressBytes(op.key.address, op.key.af);
  const port = op.key.port;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new VipdError("IPVS_INVALID_DEST", `invalid destination port ${port}`, { key: op.key });
  }
  writeServiceIdentity(w, op.service);
  const nest = w.nestBegin(IPVS_CMD_ATTR.DEST);
  const D = IPVS_DEST_ATTR;
  w.bytes(D.ADDR, bytes, 16);
  w.u16be(D.PORT, port);
  if (!options) {
    w.u16(D.ADDR_FAMILY, af);
  } else {
    // canonicalDestOptions, written out: defaults filled, a tunnel only for "tun".
    w.u32(D.FWD_METHOD, FORWARDING_CODE[options.forwarding]);
    w.u32(D.WEIGHT, options.weight);
    w.u32(D.U_THRESH, options.upperThreshold ?? 0);
    w.u32(D.L_THRESH, options.lowerThreshold ?? 0);
    w.u16(D.ADDR_FAMILY, af);
    if (options.forwarding === "tun") {
      const t = options.tunnel ?? { type: "ipip" as const };
      const tflags =
        (t.flags?.csum ? IP_VS_TUNNEL_ENCAP_FLAG.CSUM : 0) |
        (t.flags?.remcsum ? IP_VS_TUNNEL_ENCAP_FLAG.REMCSUM : 0);
      if (t.type !== "ipip" || (t.port ?? 0) !== 0 || tflags !== 0) {
        w.u8(D.TUN_TYPE, TUNNEL_TYPE_CODE[t.type]);
        w.u16be(D.TUN_PORT, t.port ?? 0);
        w.u16(D.TUN_FLAGS, tflags);
      }
    }
  }
  w.nestEnd(nest);
}

const DEST_CMD = { add_dest: IPVS_CMD.NEW_DEST, set_dest: IPVS_CMD.SET_DEST, del_dest: IPVS_CMD.DEL_DEST };
const SERVICE_CMD = {
  add_service: IPVS_CMD.NEW_SERVICE,
  set_service: IPVS_CMD.SET_SERVICE,
  del_service: IPVS_CMD.DEL_SERVICE,
};

/** Ops on the wire; `validated`: they come from diff(), skip the checks. */
export function opWire(validated: boolean): WireSource<Op> {
  return {
    cmd: (op) =>
      op.kind === "add_dest" || op.kind === "set_dest" || op.kind === "del_dest"
        ? DEST_CMD[op.kind]
        : SERVICE_CMD[op.kind],
    write: (w, op) => {
      if (op.kind === "add_dest" || op.kind === "set_dest" || op.kind === "del_dest") {
        writeDestOp(w, op, validated);
      } else {
        writeServiceOp(w, op, validated);
      }
    },
    operation: (op) => opLabel(op),
  };
}

/** Ops on the wire, checked as the codec checks them. */
export const OP_WIRE: WireSource<Op> = opWire(false);
/** The same, for ops that diff() made (it validated every entry they carry). */
const OP_WIRE_VALIDATED: WireSource<Op> = opWire(true);

/** The attribute bytes of a request (for transports that take payloads). */
export function wirePayload<T>(src: WireSource<T>, item: T, scratch = new WireWriter(1024)): Buffer {
  scratch.off = 0;
  src.write(scratch, item);
  return Buffer.from(scratch.buf.subarray(0, scratch.off));
}

// ---------------------------------------------------------------------------
// Quiet batches

/**
 * Sends many generic netlink requests per datagram and asks the kernel to answer only the
 * failures: every message goes without NLM_F_ACK except the last of each datagram, which
 * is a barrier. netlink_rcv_skb handles a datagram's messages in order and answers a message
 * without NLM_F_ACK only when it fails, so once the barrier's answer is in, so is every
 * failure before it. A full apply then costs a few receive calls instead of one per op,
 * which on User-Mode Linux (slow syscalls) was most of the rest of the time.
 *
 * It runs on its own socket because NetlinkConnection.batch always asks for every ack.
 * TODO(netlink): move into NetlinkConnection.batch as an option (acks: "errors"), then drop.
 */
export class QuietBatchSender {
  private seq = 1;
  private readonly w = new WireWriter(256 * 1024);
  private chunk:
    | {
        first: number;
        last: number;
        errors: Map<number, ReturnType<typeof decodeError>>;
        done: () => void;
      }
    | undefined;
  private readonly onMessage = (buf: Buffer): void => this.receive(buf);
  private readonly onError = (err: Error): void => {
    this.lastSocketError = err;
    this.chunk?.done();
  };
  private lastSocketError: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly socket: NetlinkSocket,
    private readonly familyId: number,
    private readonly version: number,
    private readonly opts: { maxMessages: number; maxBytes: number; timeoutMs: number },
  ) {
    socket.on("message", this.onMessage);
    socket.on("error", this.onError);
  }

  static async open(
    openSocket: SocketOpener,
    familyId: number,
    version: number,
    opts: {
      netns?: string;
      maxMessages: number;
      maxBytes: number;
      timeoutMs: number;
      socketReceiveBuffer: number;
    },
  ): Promise<QuietBatchSender> {
    const socket = await openSocket({
      family: "netlink",
      protocol: NETLINK_GENERIC,
      recvBufferSize: 65536,
      ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
    });
    try {
      try {
        socket.setOption(SOL_SOCKET, SO_RCVBUFFORCE, opts.socketReceiveBuffer);
      } catch {
        socket.setOption(SOL_SOCKET, SO_RCVBUF, opts.socketReceiveBuffer);
      }
      for (const o of [NETLINK_EXT_ACK, NETLINK_CAP_ACK]) {
        try {
          socket.setOption(SOL_NETLINK, o, 1);
        } catch {
          // Older kernels: plain acks.
        }
      }
      socket.bind({ family: "netlink", pid: 0, groups: 0 });
      return new QuietBatchSender(socket, familyId, version, opts);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  close(): void {
    this.socket.removeListener("message", this.onMessage);
    this.socket.removeListener("error", this.onError);
    if (!this.socket.closed) this.socket.close();
  }

  private receive(buf: Buffer): void {
    const c = this.chunk;
    if (!c) return;
    let msgs: ReturnType<typeof decodeMessages>;
    try {
      msgs = decodeMessages(buf);
    } catch {
      return;
    }
    for (const m of msgs) {
      if (m.header.type !== NLMSG_ERROR) continue;
      const seq = m.header.seq;
      if (seq < c.first || seq > c.last) continue;
      let e: ReturnType<typeof decodeError>;
      try {
        e = decodeError(m);
      } catch {
        continue;
      }
      if (e.errno !== 0) c.errors.set(seq, e);
      if (seq === c.last) c.done();
    }
  }

  /**
   * Per item: undefined when the kernel took it, else the error (a refusal to write it
   * included). Never rejects. Calls run one after another (the writer and the pending chunk
   * are shared).
   */
  send<T>(items: readonly T[], src: WireSource<T>): Promise<Array<Error | undefined>> {
    const run = this.queue.then(() => this.sendNow(items, src));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async sendNow<T>(items: readonly T[], src: WireSource<T>): Promise<Array<Error | undefined>> {
    const out: Array<Error | undefined> = new Array(items.length).fill(undefined);
    const w = this.w;
    let i = 0;
    while (i < items.length) {
      w.off = 0;
      if (this.seq > 0xffff0000) this.seq = 1; // keep a chunk's numbers contiguous
      const firstSeq = this.seq;
      const starts: number[] = [];
      const index: number[] = [];
      while (i < items.length && starts.length < this.opts.maxMessages) {
        const it = items[i] as T;
        const start = w.begin(this.familyId, NLM_F_REQUEST, this.seq, src.cmd(it), this.version);
        try {
          src.write(w, it);
        } catch (err) {
          w.off = start;
          out[i] = err instanceof Error ? err : new Error(String(err));
          i++;
          continue;
        }
        w.end(start);
        if (starts.length > 0 && w.off > this.opts.maxBytes) {
          w.off = start; // does not fit: first of the next datagram
          break;
        }
        starts.push(start);
        index.push(i);
        this.seq++;
        i++;
      }
      if (starts.length === 0) continue;
      // The last message of the datagram is the barrier: the only one acked on success.
      w.buf.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, starts[starts.length - 1]! + 6);
      const lastSeq = firstSeq + starts.length - 1;
      const errors = new Map<number, ReturnType<typeof decodeError>>();
      let timedOut = false;
      this.lastSocketError = undefined;
      await new Promise<void>((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          this.chunk = undefined;
          resolve();
        };
        const timer = setTimeout(() => {
          timedOut = true;
          finish();
        }, this.opts.timeoutMs);
        this.chunk = { first: firstSeq, last: lastSeq, errors, done: finish };
        try {
          // A copy: the writer's buffer is reused for the next datagram, and a socket may keep
          // what it was given (the fakes do).
          this.socket.send(Buffer.from(w.buf.subarray(0, w.off)), KERNEL);
        } catch (err) {
          this.lastSocketError = err instanceof Error ? err : new Error(String(err));
          finish();
        }
      });
      const socketError = this.lastSocketError as Error | undefined;
      for (let k = 0; k < starts.length; k++) {
        const seq = firstSeq + k;
        const e = errors.get(seq);
        if (!e && !socketError && !timedOut) continue;
        const item = index[k]!;
        const op = src.operation(items[item] as T);
        if (e) {
          const context: Record<string, unknown> = { seq };
          const msgStart = starts[k]!;
          const msgEnd = k + 1 < starts.length ? starts[k + 1]! : w.off;
          const off = e.extack.offset;
          if (off !== undefined && off >= 16 && msgStart + off + 4 <= msgEnd) {
            context.attributeType = w.buf.readUInt16LE(msgStart + off + 2) & 0x3fff;
          }
          out[item] = new NetlinkError(e.errno, op, e.extack, context);
        } else if (socketError) {
          out[item] = new VipdError(
            "NETLINK_SEND_FAILED",
            `${op}: outcome unknown, the socket failed while its datagram was answered: ${describeError(socketError)}`,
            { operation: op, seq },
            { cause: socketError },
          );
        } else {
          out[item] = new VipdError(
            "NETLINK_TIMEOUT",
            `${op}: no answer to its datagram within ${this.opts.timeoutMs} ms (outcome unknown)`,
            { operation: op, seq, timeoutMs: this.opts.timeoutMs },
          );
        }
      }
    }
    return out;
  }
}

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const KERNEL = { family: "netlink", pid: 0 } as const;

const DEFAULT_MAX_BATCH_MESSAGES = 256;
const DEFAULT_MAX_BATCH_BYTES = 128 * 1024;
const DEFAULT_SOCKET_RECEIVE_BUFFER = 4 * 1024 * 1024;

export class IpvsClient {
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly owner: GenlClient | undefined;
  private readonly quiet: QuietBatchSender | undefined;

  /**
   * Over a resolved family. `quiet`, when given, carries apply()'s batches (see
   * QuietBatchSender); otherwise they go through the family's connection, one ack per op.
   * `owner` is closed with the client.
   */
  constructor(
    readonly family: GenlFamily,
    opts: { owner?: GenlClient; quiet?: QuietBatchSender } = {},
  ) {
    this.log = childLogger("ipvs-client");
    this.owner = opts.owner;
    this.quiet = opts.quiet;
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
    let quiet: QuietBatchSender | undefined;
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
      quiet = await QuietBatchSender.open(openSocket, family.id, IPVS_GENL_VERSION, {
        ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
        maxMessages: opts.maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES,
        maxBytes: opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES,
        timeoutMs,
        socketReceiveBuffer: opts.socketReceiveBuffer ?? DEFAULT_SOCKET_RECEIVE_BUFFER,
      });
      return new IpvsClient(family, { owner: genl, quiet });
    } catch (err) {
      quiet?.close();
      genl.close();
      throw err;
    }
  }

  close(): void {
    this.quiet?.close();
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

  /** A batch, quietly when possible; per op undefined (done) or the error. */
  private async send(ops: Op[], validated: boolean): Promise<Array<Error | undefined>> {
    const wire = validated ? OP_WIRE_VALIDATED : OP_WIRE;
    if (this.quiet) return this.quiet.send(ops, wire);
    const out: Array<Error | undefined> = new Array(ops.length).fill(undefined);
    const batch: GenlBatchItem[] = [];
    const index: number[] = [];
    const scratch = new WireWriter(1024);
    ops.forEach((op, i) => {
      try {
        batch.push({
          cmd: OP_WIRE.cmd(op),
          attrs: wirePayload(OP_WIRE, op, scratch),
          operation: opLabel(op),
        });
        index.push(i);
      } catch (err) {
        out[i] = err instanceof Error ? err : new Error(String(err));
      }
    });
    const results = await this.family.batch(batch);
    results.forEach((r, k) => {
      if (!r.ok) out[index[k]!] = r.error;
    });
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

import { EventEmitter } from "node:events";
import { describeError, VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import type { OpenOptions, RecvInfo, SockAddr } from "../sys/socket-types.js";
import { AttrWriter } from "./attr.js";
import { errnoMessage, errnoName } from "./errno.js";
import {
  decodeDone,
  decodeError,
  decodeMessages,
  type ExtAck,
  encodeMessage,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_DROP_MEMBERSHIP,
  NETLINK_EXT_ACK,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  type NlMessage,
  type OutgoingMessage,
  SOL_NETLINK,
} from "./message.js";

/**
 * Request/response engine over one netlink socket: sequence numbers, ACK / error
 * matching, multi-part dumps, batches and timeouts. The socket is injected (the
 * contract of src/sys/socket-types.ts), so everything here runs against a fake in tests.
 */

/** The part of VipdSocket a netlink connection uses. A VipdSocket satisfies it. */
export interface NetlinkSocket {
  send(data: Buffer | Buffer[], to?: SockAddr): number;
  bind(addr: SockAddr): void;
  setOption(level: number, name: number, value: number | Buffer): void;
  localAddress(): SockAddr;
  close(): void;
  readonly closed: boolean;
  on(event: "message", listener: (msg: Buffer, info: RecvInfo) => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "close", listener: () => void): unknown;
  removeListener(event: "message", listener: (msg: Buffer, info: RecvInfo) => void): unknown;
  removeListener(event: "error", listener: (err: Error) => void): unknown;
  removeListener(event: "close", listener: () => void): unknown;
}

/** Opens a socket; src/sys/socket.ts's openSocket fits. */
export type SocketOpener = (opts: OpenOptions) => NetlinkSocket | Promise<NetlinkSocket>;

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;

const KERNEL: SockAddr = { family: "netlink", pid: 0 };

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_BATCH_MESSAGES = 128;
export const DEFAULT_MAX_BATCH_BYTES = 64 * 1024;
export const DEFAULT_DUMP_RETRIES = 3;

/**
 * A request the kernel refused. `code` is the errno name ("EEXIST"), `errno` the positive
 * number, `operation` what the caller was doing, `extack` the kernel's extended ack.
 */
export class NetlinkError extends VipdError {
  readonly errno: number;
  readonly operation: string;
  readonly extack: ExtAck;

  constructor(errno: number, operation: string, extack: ExtAck = {}, context: Record<string, unknown> = {}) {
    const n = Math.abs(errno);
    const name = errnoName(n);
    let message = `${operation} failed: ${name} (${errnoMessage(n)})`;
    if (extack.message) message += `: ${extack.message}`;
    if (extack.offset !== undefined) {
      const at = context.attributeType;
      message += ` [at byte ${extack.offset}${typeof at === "number" ? `, attribute type ${at}` : ""}]`;
    }
    if (extack.missingType !== undefined) message += ` [missing attribute type ${extack.missingType}]`;
    super(name, message, {
      ...context,
      operation,
      errno: n,
      ...(extack.message !== undefined ? { extackMessage: extack.message } : {}),
      ...(extack.offset !== undefined ? { extackOffset: extack.offset } : {}),
    });
    this.name = "NetlinkError";
    this.errno = n;
    this.operation = operation;
    this.extack = extack;
  }
}

export interface ConnectionOptions {
  /** Names the connection in logs ("rtnetlink", "genl"). */
  name?: string;
  /** Default per-request timeout. */
  timeoutMs?: number;
  /** Messages per datagram in batch(). Keep it low enough that the acks fit the receive queue. */
  maxBatchMessages?: number;
  /** Bytes per datagram in batch(). */
  maxBatchBytes?: number;
  /** First sequence number (default 1). */
  initialSeq?: number;
  /** Ask for extended acks and capped acks (default true). */
  extAck?: boolean;
}

export interface OpenConnectionOptions extends ConnectionOptions {
  /** Netlink protocol: 0 route, 16 generic. */
  protocol: number;
  /** Open the socket in this network namespace (/run/netns/NAME). */
  netns?: string;
  /** Bytes per recvmsg (default 65536; dumps never put more than 32 KiB in one datagram). */
  recvBufferSize?: number;
  /** Legacy multicast group bitmask to bind to (subscriptions). */
  groups?: number;
  /** SO_RCVBUF(FORCE) in bytes; raise it for subscriptions and big batches. */
  socketReceiveBuffer?: number;
}

export interface RequestOptions {
  /** A human name for what this does: "add address 10.0.0.1/24 on eth0". Errors repeat it. */
  operation: string;
  /**
   * true (default): set NLM_F_ACK and resolve on the ACK, with the replies that came first.
   * false: resolve on the first reply (or the end of a multi-part reply).
   */
  ack?: boolean;
  timeoutMs?: number;
}

export interface DumpOptions {
  operation: string;
  timeoutMs?: number;
  /** Re-issue the dump this many times when the kernel flags it inconsistent (NLM_F_DUMP_INTR). */
  retries?: number;
}

export interface BatchItem {
  msg: OutgoingMessage;
  /**
   * What the request does, for errors. A function is called only when an error names it,
   * which spares building thousands of names for a big batch that succeeds.
   */
  operation: string | (() => string);
}

/**
 * A batch whose requests write themselves straight into the datagram: the form of batch()
 * for big batches of writes, with no object per request. Request `i` (0 ≤ i < length) is a
 * message of type `type(i)` whose payload (everything after the netlink header) `write(i, w)`
 * appends to `w`; a write that throws refuses the request (nothing of it is sent, its result
 * is the error). `operation(i)` names it, and is called only when an error needs the name.
 * `flags(i)`, when given, adds flags (NLM_F_REQUEST and NLM_F_ACK are the connection's).
 */
export interface BatchSource {
  readonly length: number;
  type(i: number): number;
  flags?(i: number): number;
  write(i: number, w: AttrWriter): void;
  operation(i: number): string;
}

/** BatchItem[] as a BatchSource. */
function itemSource(items: readonly BatchItem[]): BatchSource {
  return {
    length: items.length,
    type: (i) => items[i]!.msg.type,
    flags: (i) => items[i]!.msg.flags ?? 0,
    write: (i, w) => {
      const p = items[i]!.msg.payload;
      if (p === undefined) return;
      if (Buffer.isBuffer(p)) w.append(p);
      else for (const part of p as readonly Buffer[]) w.append(part);
    },
    operation: (i) => operationName(items[i]!.operation),
  };
}

/** The result of a request that succeeded without replies, shared (never changed). */
const DONE: BatchResult = Object.freeze({
  ok: true as const,
  replies: Object.freeze([]) as unknown as NlMessage[],
});

/** The name of a batch item's operation. */
export function operationName(operation: string | (() => string)): string {
  return typeof operation === "string" ? operation : operation();
}

export type BatchResult = { ok: true; replies: NlMessage[] } | { ok: false; error: Error };

export interface BatchOptions {
  /** For each datagram of the batch (default: the connection's timeout). */
  timeoutMs?: number;
  /**
   * Which messages the kernel answers:
   * - "all" (default): every message carries NLM_F_ACK, and every one is answered.
   * - "errors": only the last message of each datagram carries NLM_F_ACK, as a barrier.
   *   The kernel handles a datagram's messages in order and answers a message without
   *   NLM_F_ACK only when it fails, so once the barrier is answered so is every failure
   *   before it: a datagram of hundreds of requests costs one or two receives instead of
   *   one per request. For requests whose only answer is an ack (writes). Replies that do
   *   come are returned as usual. When the barrier is not answered (a timeout, a failed
   *   send, a closed socket) every item of its datagram not already failed gets an error
   *   naming its operation: its outcome is unknown.
   */
  acks?: "all" | "errors";
}

/** A datagram of an acks: "errors" batch, while its barrier is awaited. */
interface QuietChunk {
  /** Its messages' sequence numbers: first..last (the barrier), wrapping past 2^32 - 1 to 1. */
  first: number;
  last: number;
  /** Failures (or undecodable error messages) by sequence number. */
  errors: Map<number, { errno: number; extack: ExtAck } | Error>;
  /** Replies by sequence number, for requests that have any. */
  replies: Map<number, NlMessage[]>;
}

type Mode = "ack" | "reply" | "dump";

interface Pending {
  seq: number;
  /** What the request does; named only when an error (or a log line) needs it. */
  operation: string | (() => string);
  mode: Mode;
  sent: Buffer;
  replies: NlMessage[];
  interrupted: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve: (replies: NlMessage[]) => void;
  reject: (err: Error) => void;
}

const EXPIRED_MEMORY = 256;

export interface NetlinkConnectionEvents {
  /** A message that answers no request of ours: multicast, or seq 0. */
  notification: [msg: NlMessage, info: RecvInfo | undefined];
  /** The kernel dropped messages for us (ENOBUFS): subscribers should re-read state. */
  overrun: [err: Error];
  error: [err: Error];
  close: [];
}

export class NetlinkConnection extends EventEmitter<NetlinkConnectionEvents> {
  readonly name: string;
  private readonly socket: NetlinkSocket;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  /** Messages per datagram in batch(). */
  readonly maxBatchMessages: number;
  /** Bytes per datagram in batch(). */
  readonly maxBatchBytes: number;
  private readonly pending = new Map<number, Pending>();
  /** The datagrams of acks: "errors" batches in flight (one per batch() call in progress). */
  private readonly quiet: QuietChunk[] = [];
  private readonly expired: number[] = [];
  private seq: number;
  private closedFlag = false;

  private readonly onMessage = (buf: Buffer, info: RecvInfo): void => this.receive(buf, info);
  /** Datagrams from a sender other than the kernel, ignored. */
  private foreignDatagrams = 0;
  private readonly onError = (err: Error): void => this.socketError(err);
  private readonly onClose = (): void =>
    this.shutdown(new VipdError("NETLINK_CLOSED", `${this.name}: socket closed`));

  constructor(socket: NetlinkSocket, opts: ConnectionOptions = {}) {
    super();
    this.socket = socket;
    this.name = opts.name ?? "netlink";
    this.log = childLogger("netlink", { conn: this.name });
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxBatchMessages = Math.max(1, opts.maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES);
    this.maxBatchBytes = Math.max(NLMSG_HDRLEN, opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES);
    this.seq = (opts.initialSeq ?? 1) >>> 0 || 1;
    if (opts.extAck !== false) {
      this.trySetOption(SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK");
      this.trySetOption(SOL_NETLINK, NETLINK_CAP_ACK, 1, "NETLINK_CAP_ACK");
    }
    socket.on("message", this.onMessage);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  /** Opens a socket with `openSocket`, binds it (to `groups` if given) and wraps it. */
  static async open(openSocket: SocketOpener, opts: OpenConnectionOptions): Promise<NetlinkConnection> {
    const openOpts: OpenOptions = { family: "netlink", protocol: opts.protocol };
    if (opts.netns !== undefined) openOpts.netns = opts.netns;
    openOpts.recvBufferSize = opts.recvBufferSize ?? 65536;
    let socket: NetlinkSocket;
    try {
      socket = await openSocket(openOpts);
    } catch (err) {
      const where = opts.netns !== undefined ? ` in ${opts.netns}` : "";
      throw new VipdError(
        "NETLINK_OPEN_FAILED",
        `opening a netlink socket (protocol ${opts.protocol})${where} failed: ${describeError(err)}`,
        { protocol: opts.protocol, netns: opts.netns, errnoCode: (err as { code?: unknown } | null)?.code },
        { cause: err },
      );
    }
    try {
      if (opts.socketReceiveBuffer !== undefined) {
        try {
          socket.setOption(SOL_SOCKET, SO_RCVBUFFORCE, opts.socketReceiveBuffer);
        } catch {
          socket.setOption(SOL_SOCKET, SO_RCVBUF, opts.socketReceiveBuffer);
        }
      }
      socket.bind({ family: "netlink", pid: 0, groups: opts.groups ?? 0 });
      return new NetlinkConnection(socket, opts);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** The port id the kernel gave this socket. */
  portId(): number {
    const a = this.socket.localAddress();
    return a.family === "netlink" ? (a.pid ?? 0) : 0;
  }

  /** Joins a multicast group by number (NETLINK_ADD_MEMBERSHIP), e.g. a genl family's group id. */
  addMembership(group: number): void {
    this.socket.setOption(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group);
  }
  dropMembership(group: number): void {
    this.socket.setOption(SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, group);
  }

  /** Sends one request; see RequestOptions.ack. Rejects with NetlinkError or NETLINK_TIMEOUT. */
  request(msg: OutgoingMessage, opts: RequestOptions): Promise<NlMessage[]> {
    const ack = opts.ack !== false;
    const flags = (msg.flags ?? 0) | NLM_F_REQUEST | (ack ? NLM_F_ACK : 0);
    return this.start({ ...msg, flags }, opts.operation, ack ? "ack" : "reply", opts.timeoutMs);
  }

  /**
   * Sends a dump request (NLM_F_DUMP is added) and collects every part until NLMSG_DONE,
   * across as many datagrams as the kernel uses. An errno in DONE rejects.
   */
  async dump(msg: OutgoingMessage, opts: DumpOptions): Promise<NlMessage[]> {
    const flags = (msg.flags ?? 0) | NLM_F_REQUEST | NLM_F_DUMP;
    const retries = opts.retries ?? DEFAULT_DUMP_RETRIES;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.start({ ...msg, flags }, opts.operation, "dump", opts.timeoutMs);
      } catch (err) {
        if (err instanceof VipdError && err.code === "NETLINK_DUMP_INTERRUPTED" && attempt < retries) {
          this.log.debug({ operation: opts.operation, attempt }, "dump interrupted, retrying");
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * Sends several requests, concatenated into as few datagrams as the batch limits allow,
   * each with NLM_F_ACK. The kernel processes them in order and keeps going after a
   * failure; every item gets its own result, in input order. Never rejects.
   * Items are BatchItem objects, or a BatchSource whose requests write themselves straight
   * into the datagram (for big batches: no object per request); a request whose write throws
   * is not sent, and its result is the error.
   */
  async batch(items: readonly BatchItem[] | BatchSource, opts: BatchOptions = {}): Promise<BatchResult[]> {
    const src = Array.isArray(items) ? itemSource(items as readonly BatchItem[]) : (items as BatchSource);
    if (opts.acks === "errors") return this.batchQuiet(src, opts.timeoutMs);
    const results: BatchResult[] = new Array(src.length);
    const w = new AttrWriter(1024);
    let i = 0;
    while (i < src.length) {
      const chunk: Array<{ index: number; seq: number; promise: Promise<NlMessage[]> }> = [];
      const bufs: Buffer[] = [];
      let bytes = 0;
      while (i < src.length && chunk.length < this.maxBatchMessages) {
        w.reset();
        let buf: Buffer;
        try {
          this.writeMessage(w, src, i, NLM_F_ACK, 0);
          buf = w.toBuffer();
        } catch (err) {
          results[i] = { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
          i++;
          continue;
        }
        if (chunk.length > 0 && bytes + buf.length > this.maxBatchBytes) break;
        const seq = this.nextSeq();
        buf.writeUInt32LE(seq, 8);
        const at = i;
        const promise = this.register(seq, buf, () => src.operation(at), "ack", opts.timeoutMs);
        chunk.push({ index: i, seq, promise });
        bufs.push(buf);
        bytes += buf.length;
        i++;
      }
      if (chunk.length === 0) continue;
      if (!this.closedFlag)
        this.sendRaw(
          Buffer.concat(bufs),
          chunk.map((c) => c.seq),
        );
      const settled = await Promise.allSettled(chunk.map((c) => c.promise));
      settled.forEach((s, k) => {
        const index = chunk[k]!.index;
        results[index] =
          s.status === "fulfilled"
            ? { ok: true, replies: s.value }
            : { ok: false, error: s.reason instanceof Error ? s.reason : new Error(String(s.reason)) };
      });
    }
    return results;
  }

  /**
   * Writes request `i` of `src` into `w` as a netlink message (header, payload, padding) with
   * `seq`; `ack` (0 or NLM_F_ACK) is whether it asks for an ack. Returns where it starts. A
   * write that throws leaves `w` as it was.
   */
  private writeMessage(w: AttrWriter, src: BatchSource, i: number, ack: number, seq: number): number {
    const start = w.reserve(NLMSG_HDRLEN);
    try {
      src.write(i, w);
    } catch (err) {
      w.reset(start);
      throw err;
    }
    const length = w.length - start;
    const flags = ((src.flags?.(i) ?? 0) & ~NLM_F_ACK) | NLM_F_REQUEST | ack;
    w.setU32(start, length)
      .setU16(start + 4, src.type(i) & 0xffff)
      .setU16(start + 6, flags)
      .setU32(start + 8, seq)
      .setU32(start + 12, 0)
      .align();
    return start;
  }

  /** batch() with acks: "errors": see BatchOptions.acks. */
  private async batchQuiet(src: BatchSource, timeoutMs?: number): Promise<BatchResult[]> {
    const total = src.length;
    const results: BatchResult[] = new Array(total);
    const max = this.maxBatchMessages;
    // Per datagram, reused: every message is written straight into one writer; by message k,
    // its item, sequence number and offset (parallel arrays, no object per request).
    const w = new AttrWriter(Math.min(this.maxBatchBytes, 256 * 1024) + 1024);
    const index = new Uint32Array(max);
    const seqs = new Uint32Array(max);
    const offsets = new Uint32Array(max + 1);
    let i = 0;
    while (i < total) {
      w.reset();
      let n = 0;
      while (i < total && n < max) {
        const start = w.length;
        try {
          this.writeMessage(w, src, i, 0, 0);
        } catch (err) {
          results[i] = { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
          i++;
          continue;
        }
        if (n > 0 && w.length > this.maxBatchBytes) {
          w.reset(start); // does not fit: the first of the next datagram
          break;
        }
        index[n] = i;
        offsets[n] = start;
        n++;
        i++;
      }
      if (n === 0) continue;
      offsets[n] = w.length;
      // Sequence numbers, and the last message is the barrier: the only one acked on success.
      for (let k = 0; k < n; k++) {
        const seq = this.nextSeq();
        seqs[k] = seq;
        w.setU32(offsets[k]! + 8, seq);
      }
      const lastAt = offsets[n - 1]!;
      w.setU16(lastAt + 6, ((src.flags?.(index[n - 1]!) ?? 0) & ~NLM_F_ACK) | NLM_F_REQUEST | NLM_F_ACK);
      // A copy: the writer is reused for the next datagram, and a socket may keep what it was given.
      const datagram = w.toBuffer();
      // The numbers run on from the first (nextSeq skips only numbers still pending, whose
      // answers go to their own request first anyway).
      const chunk: QuietChunk = {
        first: seqs[0]!,
        last: seqs[n - 1]!,
        errors: new Map(),
        replies: new Map(),
      };
      this.quiet.push(chunk);
      const last = index[n - 1]!;
      const barrierSeq = seqs[n - 1]!;
      const barrier = this.register(
        barrierSeq,
        datagram.subarray(lastAt, offsets[n]),
        () => src.operation(last),
        "ack",
        timeoutMs,
      );
      if (!this.closedFlag) this.sendRaw(datagram, [barrierSeq]);
      let unanswered: Error | undefined;
      try {
        const replies = await barrier;
        results[last] = replies.length === 0 ? DONE : { ok: true, replies };
        this.quiet.splice(this.quiet.indexOf(chunk), 1);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        // A refusal of the barrier itself still answers the datagram; anything else does not.
        if (!(e instanceof NetlinkError)) unanswered = e;
        const error = unanswered
          ? this.unanswered(src.operation(last), barrierSeq, e, timeoutMs ?? this.timeoutMs)
          : e;
        results[last] = { ok: false, error };
        this.quiet.splice(this.quiet.indexOf(chunk), 1);
      }
      const quiet = chunk.errors.size === 0 && chunk.replies.size === 0 && unanswered === undefined;
      for (let k = 0; k < n - 1; k++) {
        const item = index[k]!;
        if (quiet) {
          results[item] = DONE;
          continue;
        }
        const seq = seqs[k]!;
        const failure = chunk.errors.get(seq);
        if (failure === undefined && unanswered === undefined) {
          const replies = chunk.replies.get(seq);
          results[item] = replies === undefined ? DONE : { ok: true, replies };
          continue;
        }
        const operation = src.operation(item);
        let error: Error;
        if (failure instanceof Error) error = failure;
        else if (failure !== undefined) {
          const sent = datagram.subarray(offsets[k], offsets[k + 1]);
          error = this.errorFor(seq, operation, sent, failure.errno, failure.extack);
        } else error = this.unanswered(operation, seq, unanswered!, timeoutMs ?? this.timeoutMs);
        results[item] = { ok: false, error };
      }
    }
    return results;
  }

  /** The error of a quiet batch item whose datagram's barrier was never answered. */
  private unanswered(operation: string, seq: number, cause: Error, timeoutMs: number): VipdError {
    const code = cause instanceof VipdError ? cause.code : "NETLINK_SEND_FAILED";
    if (code === "NETLINK_TIMEOUT") {
      return new VipdError(
        code,
        `${operation}: no answer to its datagram from the kernel within ${timeoutMs} ms (outcome unknown)`,
        { operation, seq, timeoutMs },
      );
    }
    const why = cause instanceof VipdError && cause.cause instanceof Error ? cause.cause : cause;
    const what =
      code === "NETLINK_SEND_FAILED"
        ? `sending to the kernel failed: ${describeError(why)}`
        : `outcome unknown, its datagram was not answered: ${describeError(why)}`;
    return new VipdError(code, `${operation}: ${what}`, { operation, seq }, { cause });
  }

  /** Rejects everything in flight with NETLINK_CLOSED and closes the socket. */
  close(): void {
    if (this.closedFlag) return;
    this.shutdown(new VipdError("NETLINK_CLOSED", `${this.name}: connection closed`));
  }

  // ---------------------------------------------------------------------------------------

  private trySetOption(level: number, name: number, value: number, label: string): void {
    try {
      this.socket.setOption(level, name, value);
    } catch (err) {
      this.log.debug({ err, option: label }, "netlink socket option not supported");
    }
  }

  private nextSeq(): number {
    for (;;) {
      const s = this.seq;
      this.seq = (this.seq + 1) >>> 0 || 1;
      if (!this.pending.has(s) && (this.quiet.length === 0 || this.quietChunk(s) === undefined)) return s;
    }
  }

  private start(
    msg: OutgoingMessage,
    operation: string,
    mode: Mode,
    timeoutMs?: number,
  ): Promise<NlMessage[]> {
    const seq = this.nextSeq();
    const buf = encodeMessage({ ...msg, seq });
    const promise = this.register(seq, buf, operation, mode, timeoutMs);
    if (!this.closedFlag) this.sendRaw(buf, [seq]);
    return promise;
  }

  private register(
    seq: number,
    sent: Buffer,
    operation: string | (() => string),
    mode: Mode,
    timeoutMs = this.timeoutMs,
  ): Promise<NlMessage[]> {
    if (this.closedFlag) {
      const name = operationName(operation);
      return Promise.reject(
        new VipdError("NETLINK_CLOSED", `${name}: netlink connection ${this.name} is closed`, {
          operation: name,
        }),
      );
    }
    return new Promise<NlMessage[]>((resolve, reject) => {
      const p: Pending = {
        seq,
        operation,
        mode,
        sent,
        replies: [],
        interrupted: false,
        timer: undefined,
        resolve,
        reject,
      };
      p.timer = setTimeout(() => {
        this.settle(p);
        this.remember(seq);
        const name = this.operationOf(p);
        reject(
          new VipdError("NETLINK_TIMEOUT", `${name}: no answer from the kernel within ${timeoutMs} ms`, {
            operation: name,
            seq,
            timeoutMs,
          }),
        );
      }, timeoutMs);
      this.pending.set(seq, p);
    });
  }

  /** Sends a datagram; a failed send fails the requests it carried. */
  private sendRaw(buf: Buffer, seqs: readonly number[]): void {
    try {
      this.socket.send(buf, KERNEL);
    } catch (err) {
      for (const seq of seqs) {
        const p = this.pending.get(seq);
        if (!p) continue;
        this.settle(p);
        const operation = this.operationOf(p);
        p.reject(
          new VipdError(
            "NETLINK_SEND_FAILED",
            `${operation}: sending to the kernel failed: ${describeError(err)}`,
            { operation, seq, errnoCode: (err as { code?: unknown } | null)?.code },
            { cause: err },
          ),
        );
      }
    }
  }

  private operationOf(p: Pending): string {
    if (typeof p.operation !== "string") p.operation = p.operation();
    return p.operation;
  }

  private settle(p: Pending): void {
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.timer = undefined;
    this.pending.delete(p.seq);
  }

  private remember(seq: number): void {
    this.expired.push(seq);
    if (this.expired.length > EXPIRED_MEMORY) this.expired.shift();
  }

  private fail(p: Pending, err: Error): void {
    this.settle(p);
    p.reject(err);
  }

  private failAll(err: Error): void {
    for (const p of [...this.pending.values()]) this.fail(p, err);
  }

  private receive(buf: Buffer, info: RecvInfo | undefined): void {
    // Only the kernel (port id 0) speaks for itself here: another process on the host can send
    // to our port id and would otherwise answer our requests or fake events.
    if (info !== undefined && info.from.family === "netlink" && info.from.pid !== 0) {
      this.foreignDatagrams += 1;
      if (this.foreignDatagrams === 1 || this.foreignDatagrams % 1000 === 0) {
        this.log.warn(
          { event: "netlink.foreign_sender", pid: info.from.pid, count: this.foreignDatagrams },
          `${this.name}: ignored a netlink datagram from port id ${info.from.pid}, not the kernel`,
        );
      }
      return;
    }
    if (info?.truncated) {
      const err = new VipdError(
        "NETLINK_TRUNCATED",
        `${this.name}: a netlink datagram was larger than the receive buffer and was truncated`,
        { length: buf.length },
      );
      this.log.error({ length: buf.length }, "netlink datagram truncated");
      this.failAll(err);
      this.emit("overrun", err);
      return;
    }
    let msgs: NlMessage[];
    try {
      msgs = decodeMessages(buf);
    } catch (err) {
      this.log.warn({ err, length: buf.length }, "malformed netlink datagram");
      this.failAll(err as Error);
      if (this.listenerCount("error") > 0) this.emit("error", err as Error);
      return;
    }
    const multicast = info !== undefined && info.from.family === "netlink" && (info.from.groups ?? 0) !== 0;
    for (const m of msgs) this.dispatch(m, multicast, info);
  }

  private dispatch(m: NlMessage, multicast: boolean, info: RecvInfo | undefined): void {
    const { seq, type, flags } = m.header;
    const p = multicast || seq === 0 ? undefined : this.pending.get(seq);
    if (!p) {
      const q = multicast || seq === 0 || this.quiet.length === 0 ? undefined : this.quietChunk(seq);
      if (q) {
        this.quietAnswer(q, m);
        return;
      }
      if (!multicast && seq !== 0 && (this.expired.includes(seq) || type < 0x10)) {
        this.log.debug({ seq, type }, "netlink answer for no pending request, dropped");
        return;
      }
      this.emit("notification", m, info);
      return;
    }
    switch (type) {
      case NLMSG_NOOP:
        return;
      case NLMSG_ERROR: {
        let e: ReturnType<typeof decodeError>;
        try {
          e = decodeError(m);
        } catch (err) {
          this.fail(p, err as Error);
          return;
        }
        if (e.errno !== 0) {
          this.fail(p, this.errorFor(p.seq, this.operationOf(p), p.sent, e.errno, e.extack));
          return;
        }
        this.settle(p);
        p.resolve(p.replies);
        return;
      }
      case NLMSG_DONE: {
        let d: ReturnType<typeof decodeDone>;
        try {
          d = decodeDone(m);
        } catch (err) {
          this.fail(p, err as Error);
          return;
        }
        if (d.errno !== 0) {
          this.fail(p, this.errorFor(p.seq, this.operationOf(p), p.sent, d.errno, d.extack));
          return;
        }
        if (p.interrupted || (flags & NLM_F_DUMP_INTR) !== 0) {
          this.fail(
            p,
            new VipdError(
              "NETLINK_DUMP_INTERRUPTED",
              `${this.operationOf(p)}: the kernel reports the dump as inconsistent (changed while dumping)`,
              { operation: this.operationOf(p), seq },
            ),
          );
          return;
        }
        this.settle(p);
        p.resolve(p.replies);
        return;
      }
      case NLMSG_OVERRUN:
        this.fail(
          p,
          new VipdError("NETLINK_OVERRUN", `${this.operationOf(p)}: the kernel reports lost data`, { seq }),
        );
        return;
      default:
        if ((flags & NLM_F_DUMP_INTR) !== 0) p.interrupted = true;
        p.replies.push(m);
        if (p.mode === "reply" && (flags & NLM_F_MULTI) === 0) {
          this.settle(p);
          p.resolve(p.replies);
        }
    }
  }

  /** The quiet datagram in flight whose messages include `seq`. */
  private quietChunk(seq: number): QuietChunk | undefined {
    for (const c of this.quiet) {
      if (c.first <= c.last ? seq >= c.first && seq <= c.last : seq >= c.first || seq <= c.last) return c;
    }
    return undefined;
  }

  /** An answer to an unacknowledged message of a quiet batch: only failures and replies matter. */
  private quietAnswer(q: QuietChunk, m: NlMessage): void {
    const seq = m.header.seq;
    switch (m.header.type) {
      case NLMSG_NOOP:
      case NLMSG_DONE:
        return;
      case NLMSG_ERROR: {
        try {
          const e = decodeError(m);
          if (e.errno !== 0) q.errors.set(seq, { errno: e.errno, extack: e.extack });
        } catch (err) {
          q.errors.set(seq, err as Error);
        }
        return;
      }
      default: {
        const list = q.replies.get(seq);
        if (list) list.push(m);
        else q.replies.set(seq, [m]);
      }
    }
  }

  /** The NetlinkError for a refused request; `sent` (its message) names the attribute extack points at. */
  private errorFor(
    seq: number,
    operation: string,
    sent: Buffer,
    errno: number,
    extack: ExtAck,
  ): NetlinkError {
    const context: Record<string, unknown> = { seq };
    if (extack.offset !== undefined && extack.offset + 4 <= sent.length && extack.offset >= NLMSG_HDRLEN) {
      context.attributeType = sent.readUInt16LE(extack.offset + 2) & 0x3fff;
    }
    return new NetlinkError(errno, operation, extack, context);
  }

  private socketError(err: Error): void {
    const code = (err as { code?: unknown }).code;
    if (code === "ENOBUFS") {
      const e = new VipdError(
        "NETLINK_OVERRUN",
        `${this.name}: the kernel dropped netlink messages (ENOBUFS)`,
        {
          cause: code,
        },
      );
      this.log.warn("netlink receive queue overrun");
      this.failAll(e);
      this.emit("overrun", e);
      return;
    }
    this.log.error({ err }, "netlink socket error");
    this.failAll(err);
    if (this.listenerCount("error") > 0) this.emit("error", err);
  }

  private shutdown(err: VipdError): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.failAll(err);
    this.socket.removeListener("message", this.onMessage);
    this.socket.removeListener("error", this.onError);
    this.socket.removeListener("close", this.onClose);
    if (!this.socket.closed) this.socket.close();
    this.emit("close");
  }
}

import { EventEmitter } from "node:events";
import { describeError, VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import type { OpenOptions, RecvInfo, SockAddr } from "../sys/socket-types.js";
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
  operation: string;
}

export type BatchResult = { ok: true; replies: NlMessage[] } | { ok: false; error: Error };

export interface BatchOptions {
  timeoutMs?: number;
}

type Mode = "ack" | "reply" | "dump";

interface Pending {
  seq: number;
  operation: string;
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
  private readonly maxBatchMessages: number;
  private readonly maxBatchBytes: number;
  private readonly pending = new Map<number, Pending>();
  private readonly expired: number[] = [];
  private seq: number;
  private closedFlag = false;

  private readonly onMessage = (buf: Buffer, info: RecvInfo): void => this.receive(buf, info);
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
   */
  async batch(items: readonly BatchItem[], opts: BatchOptions = {}): Promise<BatchResult[]> {
    const results: BatchResult[] = new Array(items.length);
    let i = 0;
    while (i < items.length) {
      const chunk: Array<{ index: number; seq: number; promise: Promise<NlMessage[]> }> = [];
      const bufs: Buffer[] = [];
      let bytes = 0;
      while (i < items.length && chunk.length < this.maxBatchMessages) {
        const item = items[i]!;
        const flags = (item.msg.flags ?? 0) | NLM_F_REQUEST | NLM_F_ACK;
        const seq = this.nextSeq();
        const buf = encodeMessage({ ...item.msg, flags, seq });
        if (chunk.length > 0 && bytes + buf.length > this.maxBatchBytes) {
          this.seq = seq; // give the number back; the next chunk will use it
          break;
        }
        const promise = this.register(seq, buf, item.operation, "ack", opts.timeoutMs);
        chunk.push({ index: i, seq, promise });
        bufs.push(buf);
        bytes += buf.length;
        i++;
      }
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
      if (!this.pending.has(s)) return s;
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
    operation: string,
    mode: Mode,
    timeoutMs = this.timeoutMs,
  ): Promise<NlMessage[]> {
    if (this.closedFlag) {
      return Promise.reject(
        new VipdError("NETLINK_CLOSED", `${operation}: netlink connection ${this.name} is closed`, {
          operation,
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
        reject(
          new VipdError("NETLINK_TIMEOUT", `${operation}: no answer from the kernel within ${timeoutMs} ms`, {
            operation,
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
        p.reject(
          new VipdError(
            "NETLINK_SEND_FAILED",
            `${p.operation}: sending to the kernel failed: ${describeError(err)}`,
            { operation: p.operation, seq, errnoCode: (err as { code?: unknown } | null)?.code },
            { cause: err },
          ),
        );
      }
    }
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
          this.fail(p, this.errorFor(p, e.errno, e.extack));
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
          this.fail(p, this.errorFor(p, d.errno, d.extack));
          return;
        }
        if (p.interrupted || (flags & NLM_F_DUMP_INTR) !== 0) {
          this.fail(
            p,
            new VipdError(
              "NETLINK_DUMP_INTERRUPTED",
              `${p.operation}: the kernel reports the dump as inconsistent (changed while dumping)`,
              { operation: p.operation, seq },
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
          new VipdError("NETLINK_OVERRUN", `${p.operation}: the kernel reports lost data`, { seq }),
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

  private errorFor(p: Pending, errno: number, extack: ExtAck): NetlinkError {
    const context: Record<string, unknown> = { seq: p.seq };
    if (extack.offset !== undefined && extack.offset + 4 <= p.sent.length && extack.offset >= NLMSG_HDRLEN) {
      context.attributeType = p.sent.readUInt16LE(extack.offset + 2) & 0x3fff;
    }
    return new NetlinkError(errno, p.operation, extack, context);
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

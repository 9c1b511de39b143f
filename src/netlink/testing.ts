import { EventEmitter } from "node:events";
import type { OpenOptions, RecvInfo, SockAddr } from "../sys/socket-types.js";
import type { NetlinkSocket, SocketOpener } from "./connection.js";
import {
  decodeMessages,
  type ExtAck,
  encodeDoneMessage,
  encodeErrorMessage,
  encodeMessage,
  NLM_F_MULTI,
  type NlMessage,
} from "./message.js";

/**
 * Test doubles for netlink (in the spirit of mdlayher/netlink's nltest): a fake socket
 * whose "kernel" is a function from each request to the datagrams it answers with, and
 * builders for the kernel's answers. Used by vipd's unit tests; no syscalls.
 */

/** Answers one request message with zero or more datagrams (each a Buffer). */
export type FakeKernel = (req: NlMessage, socket: FakeNetlinkSocket) => Buffer | Buffer[] | undefined;

export class FakeNetlinkSocket extends EventEmitter implements NetlinkSocket {
  /** Every datagram sent, as sent. */
  readonly sent: Buffer[] = [];
  /** Every request message sent, decoded. */
  readonly requests: NlMessage[] = [];
  readonly options: Array<{ level: number; name: number; value: number | Buffer }> = [];
  bound: SockAddr | undefined;
  closed = false;
  /** Make send() throw this error (once). */
  failNextSend: Error | undefined;

  constructor(
    public kernel: FakeKernel = () => undefined,
    readonly pid = 4242,
  ) {
    super();
  }

  /** A SocketOpener handing out this socket and recording the options it was opened with. */
  opener(record: OpenOptions[] = []): SocketOpener {
    return (opts) => {
      record.push(opts);
      return this;
    };
  }

  send(data: Buffer | Buffer[], _to?: SockAddr): number {
    if (this.closed) throw Object.assign(new Error("socket closed"), { code: "EBADF" });
    if (this.failNextSend) {
      const e = this.failNextSend;
      this.failNextSend = undefined;
      throw e;
    }
    const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    this.sent.push(buf);
    const answers: Buffer[] = [];
    for (const m of decodeMessages(buf)) {
      this.requests.push(m);
      const r = this.kernel(m, this);
      if (r === undefined) continue;
      answers.push(...(Buffer.isBuffer(r) ? [r] : r));
    }
    // The kernel answers from inside sendmsg, but the reader sees the answers later.
    if (answers.length > 0) {
      queueMicrotask(() => {
        for (const a of answers) this.deliver(a);
      });
    }
    return buf.length;
  }

  /** Hands a datagram to the connection as if recvmsg returned it. */
  deliver(datagram: Buffer, info: Partial<RecvInfo> = {}): void {
    if (this.closed) return;
    this.emit("message", datagram, {
      from: { family: "netlink", pid: 0, groups: 0 },
      truncated: false,
      truncatedControl: false,
      ...info,
    });
  }

  /** Delivers a multicast notification (from.groups set). */
  notify(datagram: Buffer, groups = 1): void {
    this.deliver(datagram, { from: { family: "netlink", pid: 0, groups } });
  }

  bind(addr: SockAddr): void {
    this.bound = addr;
  }

  setOption(level: number, name: number, value: number | Buffer): void {
    this.options.push({ level, name, value });
  }

  localAddress(): SockAddr {
    return {
      family: "netlink",
      pid: this.pid,
      groups: this.bound?.family === "netlink" ? (this.bound.groups ?? 0) : 0,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit("close");
  }
}

/** The ACK (NLMSG_ERROR, error 0, capped) for `req`. */
export function ack(req: NlMessage): Buffer {
  return encodeErrorMessage({ errno: 0, original: req.header });
}

/** An NLMSG_ERROR for `req` with a positive errno and optional extended ack. */
export function nack(req: NlMessage, errno: number, extack?: ExtAck): Buffer {
  return encodeErrorMessage({ errno, original: req.header, ...(extack ? { extack } : {}) });
}

/** A reply message of `type` answering `req` (same seq; pid is the requester's). */
export function reply(
  req: NlMessage,
  type: number,
  payload: Buffer | Buffer[],
  flags = 0,
  pid = 4242,
): Buffer {
  return encodeMessage({
    type,
    flags,
    seq: req.header.seq,
    pid,
    payload: Buffer.isBuffer(payload) ? [payload] : payload,
  });
}

/** A part of a multi-part (dump) answer. */
export function part(req: NlMessage, type: number, payload: Buffer | Buffer[], pid = 4242): Buffer {
  return reply(req, type, payload, NLM_F_MULTI, pid);
}

/** NLMSG_DONE for `req`, optionally carrying an errno. */
export function done(req: NlMessage, errno = 0, extack?: ExtAck): Buffer {
  return encodeDoneMessage({ seq: req.header.seq, pid: 4242, errno, ...(extack ? { extack } : {}) });
}

/**
 * vipd's sockets: a thin EventEmitter over the native addon implementing VipdSocket
 * (src/sys/socket-types.ts), plus interface-name lookups and the packing of multicast
 * membership structs for setOption.
 */
import { EventEmitter } from "node:events";
import { isIPv4, isIPv6 } from "node:net";
import { endianness } from "node:os";
import { VipdError } from "../errors.js";
import { childLogger } from "../log.js";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_PACKET,
  SO_BINDTODEVICE,
  SOCK_DGRAM,
  SOCK_RAW,
  SOL_SOCKET,
} from "./constants.js";
import { loadNative, type NativeSocketHandle, type NativeSystemError } from "./native.js";
import type { OpenOptions, SendOptions, SockAddr, SocketFamily, VipdSocket } from "./socket-types.js";

const FAMILIES: Record<SocketFamily, number> = {
  inet: AF_INET,
  inet6: AF_INET6,
  packet: AF_PACKET,
  netlink: AF_NETLINK,
};

/**
 * Open a socket. Receiving starts at once on this thread's event loop and keeps the loop
 * alive until close() or unref(). Throws a Node-style system error (code/errno/syscall)
 * when the kernel refuses, e.g. EPERM without CAP_NET_RAW.
 */
export function openSocket(opts: OpenOptions): NativeVipdSocket {
  return new NativeVipdSocket(opts);
}

export class NativeVipdSocket extends EventEmitter implements VipdSocket {
  readonly family: SocketFamily;
  readonly #handle: NativeSocketHandle;
  readonly #netns: string | undefined;
  #closed = false;

  constructor(opts: OpenOptions) {
    super();
    if (typeof opts !== "object" || opts === null) throw new TypeError("options must be an object");
    const af = Object.hasOwn(FAMILIES, opts.family) ? FAMILIES[opts.family] : undefined;
    if (af === undefined) {
      throw new TypeError(
        `family must be one of ${Object.keys(FAMILIES).join(", ")}, got ${String(opts.family)}`,
      );
    }
    const type = opts.type ?? "raw";
    if (type !== "raw" && type !== "dgram")
      throw new TypeError(`type must be "raw" or "dgram", got ${String(type)}`);
    this.family = opts.family;
    this.#netns = opts.netns;
    const { Socket } = loadNative();
    this.#handle = new Socket(
      af,
      type === "raw" ? SOCK_RAW : SOCK_DGRAM,
      opts.protocol,
      opts.netns ?? null,
      opts.recvBufferSize ?? null,
      (err, data, info) => {
        if (err) this.#receiveError(err);
        else this.emit("message", data, info);
      },
    );
  }

  get fd(): number {
    return this.#closed ? -1 : this.#handle.fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  bind(addr: SockAddr): void {
    this.#open("bind");
    this.#handle.bind(this.#checkAddr(addr, "bind"));
  }

  setOption(level: number, name: number, value: number | Buffer): void {
    this.#open("setOption");
    this.#handle.setsockopt(level, name, value);
  }

  getOption(level: number, name: number): number;
  getOption(level: number, name: number, size: number): Buffer;
  getOption(level: number, name: number, size?: number): number | Buffer {
    this.#open("getOption");
    return size === undefined
      ? this.#handle.getsockopt(level, name)
      : this.#handle.getsockopt(level, name, size);
  }

  /** SO_BINDTODEVICE; the name is resolved in the socket's own network namespace. */
  bindToDevice(ifname: string): void {
    this.#open("bindToDevice");
    if (typeof ifname !== "string") throw new TypeError("ifname must be a string");
    const raw = Buffer.from(ifname, "utf8");
    if (raw.length === 0 || raw.length >= 16 || raw.includes(0)) {
      throw new VipdError("SOCKET_INVALID_INTERFACE", `invalid interface name ${JSON.stringify(ifname)}`, {
        ifname,
      });
    }
    this.#handle.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, Buffer.concat([raw, Buffer.alloc(1)]));
  }

  attachFilter(program: Buffer): void {
    this.#open("attachFilter");
    this.#handle.attachFilter(program);
  }

  localAddress(): SockAddr {
    this.#open("localAddress");
    return this.#handle.getsockname();
  }

  send(data: Buffer | Buffer[], to?: SockAddr, options?: SendOptions): number {
    this.#open("send");
    const dest = to === undefined ? null : this.#checkAddr(to, "send");
    if (options?.source !== undefined) this.#checkIp(options.source, "send source");
    return this.#handle.sendmsg(data, dest, options ?? null);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.close();
    process.nextTick(() => this.emit("close"));
  }

  /** Keep the event loop alive while open (the default). */
  ref(): this {
    if (!this.#closed) this.#handle.ref();
    return this;
  }

  /** Let the process exit even though this socket is open, like dgram's unref(). */
  unref(): this {
    if (!this.#closed) this.#handle.unref();
    return this;
  }

  /**
   * Receive errors (ENOBUFS on netlink, ECONNREFUSED from ICMP on raw sockets) are
   * transient: the socket keeps working. They go to 'error' listeners; without one they
   * are logged instead of crashing the process the way an unhandled 'error' would.
   */
  #receiveError(err: NativeSystemError): void {
    if (this.listenerCount("error") > 0) this.emit("error", err);
    else childLogger("sys.socket").warn({ err, family: this.family }, "socket receive error");
  }

  #open(op: string): void {
    if (this.#closed)
      throw new VipdError("SOCKET_CLOSED", `${op} on a closed socket`, { op, family: this.family });
  }

  #checkIp(address: string, what: string): void {
    const ok = this.family === "inet" ? isIPv4(address) : this.family === "inet6" ? isIPv6(address) : false;
    if (!ok) {
      throw new VipdError(
        "SOCKET_INVALID_ADDRESS",
        `${what}: ${JSON.stringify(address)} is not an ${this.family} address`,
        {
          address,
          family: this.family,
        },
      );
    }
  }

  /** Validates IP text up front (nicer errors than the addon's) and maps "fe80::1%3" to scopeId. */
  #checkAddr(addr: SockAddr, what: string): SockAddr {
    if (typeof addr !== "object" || addr === null) throw new TypeError(`${what}: address must be an object`);
    if (addr.family !== this.family) {
      throw new VipdError(
        "SOCKET_INVALID_ADDRESS",
        `${what}: ${String(addr.family)} address on an ${this.family} socket`,
        { family: this.family, address: addr },
      );
    }
    if (addr.family === "inet6" && typeof addr.address === "string" && addr.address.includes("%")) {
      const [ip = "", zone = ""] = addr.address.split("%", 2);
      this.#checkIp(ip, what);
      const scopeId = /^\d+$/.test(zone) ? Number(zone) : ifNameToIndex(zone, this.#netns);
      return { ...addr, address: ip, scopeId };
    }
    if ((addr.family === "inet" || addr.family === "inet6") && typeof addr.address === "string") {
      this.#checkIp(addr.address, what);
    }
    return addr;
  }
}

/** if_nametoindex, in the calling thread's namespace or in `netns` (a path). */
export function ifNameToIndex(name: string, netns?: string): number {
  return loadNative().ifNameToIndex(name, netns ?? null);
}

/** if_indextoname, in the calling thread's namespace or in `netns` (a path). */
export function ifIndexToName(index: number, netns?: string): string {
  return loadNative().ifIndexToName(index, netns ?? null);
}

const LE = endianness() === "LE";

function writeHostInt32(buf: Buffer, value: number, offset: number): void {
  if (LE) buf.writeInt32LE(value, offset);
  else buf.writeInt32BE(value, offset);
}

function writeHostUInt16(buf: Buffer, value: number, offset: number): void {
  if (LE) buf.writeUInt16LE(value, offset);
  else buf.writeUInt16BE(value, offset);
}

function checkIfindex(ifindex: number): void {
  if (!Number.isInteger(ifindex) || ifindex < 0 || ifindex > 0x7fffffff) {
    throw new RangeError(`ifindex must be a non-negative 32-bit integer, got ${ifindex}`);
  }
}

/** IPv4 or IPv6 text → 4 or 16 network-order bytes (no zone). */
export function inetPton(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split(".").map(Number));
  if (!isIPv6(address) || address.includes("%")) {
    throw new VipdError("SOCKET_INVALID_ADDRESS", `${JSON.stringify(address)} is not an IP address`, {
      address,
    });
  }
  let text = address;
  const v4words: number[] = [];
  const m = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (m) {
    const [, prefix = "", a, b, c, d] = m;
    v4words.push((Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d));
    text = prefix.endsWith("::") ? prefix : prefix.slice(0, -1);
  }
  const words = (s: string | undefined) => (s ? s.split(":").map((g) => Number.parseInt(g, 16)) : []);
  const halves = text.split("::");
  const head = words(halves[0]);
  const all =
    halves.length === 2
      ? [
          ...head,
          ...new Array<number>(8 - head.length - words(halves[1]).length - v4words.length).fill(0),
          ...words(halves[1]),
        ]
      : head;
  const out = Buffer.alloc(16);
  [...all, ...v4words].forEach((w, i) => {
    out.writeUInt16BE(w, i * 2);
  });
  return out;
}

/** struct ip_mreqn for IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP (12 bytes). */
export function packIpMreqn(group: string, ifindex: number, address = "0.0.0.0"): Buffer {
  if (!isIPv4(group) || !isIPv4(address)) {
    throw new VipdError(
      "SOCKET_INVALID_ADDRESS",
      `ip_mreqn needs IPv4 addresses, got ${group} / ${address}`,
      {
        group,
        address,
      },
    );
  }
  checkIfindex(ifindex);
  const buf = Buffer.alloc(12);
  inetPton(group).copy(buf, 0);
  inetPton(address).copy(buf, 4);
  writeHostInt32(buf, ifindex, 8);
  return buf;
}

/** struct ipv6_mreq for IPV6_JOIN_GROUP / IPV6_LEAVE_GROUP (20 bytes). */
export function packIpv6Mreq(group: string, ifindex: number): Buffer {
  if (!isIPv6(group)) {
    throw new VipdError("SOCKET_INVALID_ADDRESS", `ipv6_mreq needs an IPv6 group, got ${group}`, { group });
  }
  checkIfindex(ifindex);
  const buf = Buffer.alloc(20);
  inetPton(group).copy(buf, 0);
  writeHostInt32(buf, ifindex, 16);
  return buf;
}

/** struct packet_mreq for PACKET_ADD_MEMBERSHIP (16 bytes), e.g. a VRRP virtual MAC. */
export function packPacketMreq(ifindex: number, type: number, address: Buffer = Buffer.alloc(0)): Buffer {
  checkIfindex(ifindex);
  if (address.length > 8) throw new RangeError("packet_mreq address is at most 8 bytes");
  const buf = Buffer.alloc(16);
  writeHostInt32(buf, ifindex, 0);
  writeHostUInt16(buf, type, 4);
  writeHostUInt16(buf, address.length, 6);
  address.copy(buf, 8);
  return buf;
}

/**
 * VRRP transport: one raw IP protocol-112 socket per (interface, family), bound to the device.
 *
 * IPv4: joins 224.0.0.18 on the interface (ip_mreqn), sets IP_MULTICAST_IF, TTL 255 for
 * multicast and unicast, no multicast loopback. The kernel hands us the IP header with every
 * packet (raw IPv4), so the TTL, source and destination come from it.
 * IPv6: joins ff02::12 on the interface, hop limit 255 for multicast and unicast, no loopback;
 * the hop limit and destination come from ancillary data (IPV6_RECVHOPLIMIT / IPV6_RECVPKTINFO,
 * which the addon enables on every raw socket). The kernel does NOT compute the VRRP checksum
 * (no IPV6_CHECKSUM): we compute it, and verify it on receive so bad ones are counted.
 *
 * Every advert leaves with an explicit source address (IP_PKTINFO / IPV6_PKTINFO): the
 * interface's primary (non-VIP) address, or its link-local for IPv6, so a VIP is never the
 * source. With unicast peers an advert goes to each peer instead of the group, with a checksum
 * computed for that destination.
 */
import { EventEmitter } from "node:events";
import { VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import {
  type ChecksumMode,
  encodeAdvert,
  type IpFamily,
  VRRP_MCAST_V4,
  VRRP_MCAST_V6,
  VRRP_PROTOCOL,
  VRRP_TTL,
  type VrrpAdvert,
} from "../vrrp/packet.js";
import { encodeBpf, vridFilter } from "./bpf.js";
import {
  IP_ADD_MEMBERSHIP,
  IP_MULTICAST_ALL,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IP_TTL,
  IPV6_JOIN_GROUP,
  IPV6_MULTICAST_ALL,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  IPV6_UNICAST_HOPS,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SOL_IP,
  SOL_IPV6,
  SOL_SOCKET,
} from "./constants.js";
import { openSocket, packIpMreqn, packIpv6Mreq } from "./socket.js";
import type { OpenOptions, RecvInfo, SockAddr, VipdSocket } from "./socket-types.js";

/** A packet as received, before validation (src/vrrp/packet.ts validates it). */
export type ReceivedPacket =
  /** IPv4: the whole packet, IP header included (validateIpv4Packet reads TTL/src/dst from it). */
  | { family: "inet"; packet: Buffer; ifindex?: number }
  /** IPv6: the VRRP message, with the hop limit, source and destination from ancillary data. */
  | {
      family: "inet6";
      payload: Buffer;
      hopLimit: number | undefined;
      src: string;
      dst: string;
      ifindex?: number;
    };

export interface SendAdvertOptions {
  /** Unicast peers; empty = the multicast group. */
  peers: readonly string[];
  /** v3 over IPv4 only. */
  checksumMode: ChecksumMode;
  /** TTL / hop limit of adverts to unicast peers; default 255 (the group always gets 255). */
  unicastTtl?: number;
}

export interface VrrpSocketOptions {
  ifname: string;
  ifindex: number;
  family: IpFamily;
  /** Socket factory; default src/sys/socket.ts openSocket. Tests pass a fake. */
  open?: (opts: OpenOptions) => VipdSocket;
  log?: Logger;
}

export interface VrrpSocketEvents {
  packet: [packet: ReceivedPacket];
  /**
   * Packets lost or refused before validation: "interface" (one packet that arrived on another
   * interface), "queue_overflow" (`count` packets the kernel dropped from the full queue).
   */
  drop: [reason: "interface" | "queue_overflow", detail: string, count: number];
  error: [err: Error];
}

/** Applies an option; a failure names the option. */
function set(sock: VipdSocket, level: number, name: number, value: number | Buffer, what: string): void {
  try {
    sock.setOption(level, name, value);
  } catch (err) {
    throw new VipdError(
      "VRRP_SOCKET_SETUP",
      `cannot set ${what} on the VRRP socket: ${(err as Error).message}`,
      { option: what },
      { cause: err },
    );
  }
}

/** Receive queue of a VRRP socket: about 10,000 adverts' worth of kernel buffers. */
export const VRRP_RECEIVE_QUEUE_BYTES = 4 * 1024 * 1024;

export class VrrpSocket extends EventEmitter<VrrpSocketEvents> {
  readonly ifname: string;
  readonly ifindex: number;
  readonly family: IpFamily;
  private readonly sock: VipdSocket;
  private readonly log: Logger;
  private closed = false;
  /** Datagrams the kernel dropped from this socket's full receive queue (SO_RXQ_OVFL), so far. */
  queueDrops = 0;
  /** The VRIDs the attached kernel filter lets through ("51,52"), or undefined: no filter. */
  filteredVrids: string | undefined;

  /** Opens and configures the socket. Throws VRRP_SOCKET_SETUP (or the kernel's error) on failure. */
  constructor(opts: VrrpSocketOptions) {
    super();
    this.ifname = opts.ifname;
    this.ifindex = opts.ifindex;
    this.family = opts.family;
    this.log = opts.log ?? childLogger("vrrp.socket", { interface: opts.ifname, family: opts.family });
    const open = opts.open ?? openSocket;
    this.sock = open({ family: opts.family, protocol: VRRP_PROTOCOL, type: "raw" });
    try {
      this.sock.bindToDevice(opts.ifname);
      if (opts.family === "inet") {
        set(
          this.sock,
          SOL_IP,
          IP_ADD_MEMBERSHIP,
          packIpMreqn(VRRP_MCAST_V4, opts.ifindex),
          "IP_ADD_MEMBERSHIP",
        );
        set(this.sock, SOL_IP, IP_MULTICAST_IF, packIpMreqn("0.0.0.0", opts.ifindex), "IP_MULTICAST_IF");
        set(this.sock, SOL_IP, IP_MULTICAST_TTL, VRRP_TTL, "IP_MULTICAST_TTL");
        set(this.sock, SOL_IP, IP_TTL, VRRP_TTL, "IP_TTL");
        set(this.sock, SOL_IP, IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP");
        this.optional(SOL_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL");
        this.sizeReceiveQueue();
      } else {
        set(
          this.sock,
          SOL_IPV6,
          IPV6_JOIN_GROUP,
          packIpv6Mreq(VRRP_MCAST_V6, opts.ifindex),
          "IPV6_JOIN_GROUP",
        );
        set(this.sock, SOL_IPV6, IPV6_MULTICAST_IF, opts.ifindex, "IPV6_MULTICAST_IF");
        set(this.sock, SOL_IPV6, IPV6_MULTICAST_HOPS, VRRP_TTL, "IPV6_MULTICAST_HOPS");
        set(this.sock, SOL_IPV6, IPV6_UNICAST_HOPS, VRRP_TTL, "IPV6_UNICAST_HOPS");
        set(this.sock, SOL_IPV6, IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP");
        this.optional(SOL_IPV6, IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL");
        this.sizeReceiveQueue();
      }
    } catch (err) {
      this.sock.close();
      throw err;
    }
    this.sock.on("message", (msg, info) => this.onMessage(msg, info));
    this.sock.on("error", (err) => {
      // Transient receive errors (ICMP-induced ECONNREFUSED...): the socket keeps working.
      this.log.warn({ err }, "VRRP socket receive error");
      if (this.listenerCount("error") > 0) this.emit("error", err);
    });
  }

  /**
   * Room for bursts: a flood on the segment must fill a large queue before it pushes adverts
   * out (and SO_RXQ_OVFL counts what it does push out). SO_RCVBUFFORCE needs CAP_NET_ADMIN,
   * which the service has; SO_RCVBUF (capped by net.core.rmem_max) is the fallback.
   */
  private sizeReceiveQueue(): void {
    try {
      this.sock.setOption(SOL_SOCKET, SO_RCVBUFFORCE, VRRP_RECEIVE_QUEUE_BYTES);
    } catch {
      this.optional(SOL_SOCKET, SO_RCVBUF, VRRP_RECEIVE_QUEUE_BYTES, "SO_RCVBUF");
    }
  }

  /**
   * Lets the kernel drop adverts of other virtual routers (src/sys/bpf.ts). Call again when the
   * VRIDs on this socket change. A filter that cannot be attached is logged and leaves the
   * socket unfiltered: validation still drops those packets (as `vrid`).
   */
  setVrids(vrids: readonly number[]): void {
    // IPv6: with any filter attached, Linux's raw IPv6 receive verifies the checksum itself and
    // counts failures in the socket's drop counter, which SO_RXQ_OVFL reports: bad checksums
    // would show up as queue overflows, never as `checksum`. So IPv6 sockets stay unfiltered.
    if (this.family === "inet6") return;
    const key = [...new Set(vrids)].sort((a, b) => a - b).join(",");
    if (key === this.filteredVrids) return;
    try {
      this.sock.attachFilter(encodeBpf(vridFilter(this.family, vrids)));
      this.filteredVrids = key;
      this.log.debug({ vrids: key }, `kernel filter: VRIDs ${key} only`);
    } catch (err) {
      this.filteredVrids = undefined;
      this.log.warn(
        { err, vrids: key },
        "cannot attach the VRID filter; every VRRP packet reaches validation",
      );
    }
  }

  private optional(level: number, name: number, value: number, what: string): void {
    try {
      this.sock.setOption(level, name, value);
    } catch (err) {
      this.log.debug({ err, option: what }, "optional socket option not applied");
    }
  }

  private onMessage(msg: Buffer, info: RecvInfo): void {
    if (this.closed) return;
    // The kernel's drop count is cumulative: report what it grew by.
    if (info.queueDrops !== undefined && info.queueDrops > this.queueDrops) {
      const lost = info.queueDrops - this.queueDrops;
      this.queueDrops = info.queueDrops;
      this.emit(
        "drop",
        "queue_overflow",
        `the receive queue of the VRRP socket on ${this.ifname} overflowed: ${lost} packet(s) lost (${this.queueDrops} in all)`,
        lost,
      );
    }
    // A raw socket receives from the moment it exists; what queued before SO_BINDTODEVICE took
    // effect may come from any interface, and must not reach this interface's instances.
    if (info.ifindex !== undefined && info.ifindex !== this.ifindex) {
      const from = "address" in info.from ? ` from ${info.from.address}` : "";
      this.emit(
        "drop",
        "interface",
        `packet${from} arrived on ifindex ${info.ifindex}, not on ${this.ifname} (ifindex ${this.ifindex})`,
        1,
      );
      return;
    }
    if (this.family === "inet") {
      this.emit("packet", {
        family: "inet",
        packet: msg,
        ...(info.ifindex !== undefined ? { ifindex: info.ifindex } : {}),
      });
      return;
    }
    const from = info.from;
    const src = from.family === "inet6" ? from.address : "::";
    this.emit("packet", {
      family: "inet6",
      payload: msg,
      hopLimit: info.hopLimit,
      src,
      dst: info.destination ?? VRRP_MCAST_V6,
      ...(info.ifindex !== undefined ? { ifindex: info.ifindex } : {}),
    });
  }

  private destination(address: string): SockAddr {
    return this.family === "inet"
      ? { family: "inet", address }
      : { family: "inet6", address, scopeId: this.ifindex };
  }

  /**
   * Encodes `advert` for each destination (the group, or each unicast peer) with `source` as
   * the source address and sends it. Returns the number of packets sent. Throws
   * VRRP_SEND_FAILED when any destination failed (the others were still tried).
   */
  sendAdvert(advert: VrrpAdvert, source: string, opts: SendAdvertOptions): number {
    if (this.closed) {
      throw new VipdError("VRRP_SEND_FAILED", `VRRP socket on ${this.ifname} is closed`, {
        interface: this.ifname,
      });
    }
    const group = this.family === "inet" ? VRRP_MCAST_V4 : VRRP_MCAST_V6;
    const targets = opts.peers.length > 0 ? opts.peers : [group];
    let sent = 0;
    const failures: { to: string; error: string }[] = [];
    let firstError: unknown;
    for (const to of targets) {
      try {
        const bytes = encodeAdvert(advert, {
          family: this.family,
          src: source,
          dst: to,
          checksumMode: opts.checksumMode,
        });
        // The socket's default is 255 for both; a unicast advert may carry another (unicast_ttl).
        const hopLimit = opts.peers.length > 0 ? opts.unicastTtl : undefined;
        this.sock.send(bytes, this.destination(to), {
          ifindex: this.ifindex,
          source,
          ...(hopLimit !== undefined ? { hopLimit } : {}),
        });
        sent += 1;
      } catch (err) {
        firstError ??= err;
        failures.push({ to, error: (err as Error).message });
      }
    }
    if (failures.length > 0) {
      throw new VipdError(
        "VRRP_SEND_FAILED",
        `advert on ${this.ifname} not sent to ${failures.map((f) => `${f.to} (${f.error})`).join(", ")}`,
        { interface: this.ifname, failures, sent },
        { cause: firstError },
      );
    }
    return sent;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}

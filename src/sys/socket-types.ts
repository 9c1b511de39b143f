/**
 * The contract of vipd's own socket layer (native/ + src/sys/socket.ts).
 * Codecs and drivers depend on these types only, so they can be tested with fakes.
 */
import type { EventEmitter } from "node:events";

export type SocketFamily = "inet" | "inet6" | "packet" | "netlink";

export type SockAddr =
  | { family: "inet"; address: string; port?: number }
  | { family: "inet6"; address: string; port?: number; scopeId?: number }
  /**
   * AF_PACKET: `protocol` is the ethertype in host order (0x0806 ARP); `address` the link-layer
   * destination (or source, on receive). `hatype` (ARPHRD_*) and `pkttype` (PACKET_HOST,
   * PACKET_BROADCAST, ...) are filled in on receive only.
   */
  | {
      family: "packet";
      ifindex: number;
      protocol?: number;
      address?: Buffer;
      hatype?: number;
      pkttype?: number;
    }
  /** AF_NETLINK: pid 0 is the kernel; groups is the legacy bitmask. */
  | { family: "netlink"; pid?: number; groups?: number };

export interface OpenOptions {
  family: SocketFamily;
  /** "raw" for IP/netlink, "raw" or "dgram" for AF_PACKET. Default "raw". */
  type?: "raw" | "dgram";
  /** IP protocol (112 VRRP), ethertype for AF_PACKET (host order), netlink protocol (0 route, 16 generic). */
  protocol: number;
  /**
   * Create the socket inside this network namespace (a path such as /run/netns/NAME).
   * The socket stays bound to that namespace; the process does not move.
   */
  netns?: string;
  /** Receive buffer size for recvmsg; default 65536 (netlink dumps want more). */
  recvBufferSize?: number;
}

/** What recvmsg told us besides the payload. Fields are present when the kernel supplied them. */
export interface RecvInfo {
  from: SockAddr;
  /** IPv4 TTL (IP_RECVTTL). For raw IPv4 the IP header is in the payload too. */
  ttl?: number;
  /** IPv6 hop limit (IPV6_RECVHOPLIMIT). */
  hopLimit?: number;
  /** Interface the packet arrived on (IP_PKTINFO / IPV6_PKTINFO). */
  ifindex?: number;
  /** Destination address of the packet (IP_PKTINFO / IPV6_PKTINFO). */
  destination?: string;
  /** MSG_TRUNC: the datagram was larger than the receive buffer. */
  truncated: boolean;
  /** The kernel had more control messages (TTL, packet info) than fit: MSG_CTRUNC. */
  truncatedControl: boolean;
  /**
   * Raw inet sockets: datagrams the socket's receive queue dropped since it opened
   * (SO_RXQ_OVFL). The kernel reports it only once it is non-zero.
   */
  queueDrops?: number;
}

export interface SendOptions {
  /** IPv4 source address / interface via IP_PKTINFO, or IPv6 via IPV6_PKTINFO. */
  ifindex?: number;
  source?: string;
  /** Per-packet hop limit (IPV6_HOPLIMIT cmsg). */
  hopLimit?: number;
}

export interface VipdSocket extends EventEmitter {
  readonly family: SocketFamily;
  readonly fd: number;
  bind(addr: SockAddr): void;
  /** setsockopt with an int or raw buffer value. */
  setOption(level: number, name: number, value: number | Buffer): void;
  /** getsockopt; `size` undefined reads an int, otherwise a buffer of that many bytes. */
  getOption(level: number, name: number): number;
  getOption(level: number, name: number, size: number): Buffer;
  bindToDevice(ifname: string): void;
  /** Attaches a classic BPF program built by src/sys/bpf.ts (encodeBpf). */
  attachFilter(program: Buffer): void;
  /** Address the socket is bound to (getsockname); for netlink this reveals the port id. */
  localAddress(): SockAddr;
  /** sendmsg; synchronous (raw and netlink sends don't block in practice). Returns bytes sent. */
  send(data: Buffer | Buffer[], to?: SockAddr, options?: SendOptions): number;
  close(): void;
  readonly closed: boolean;
  on(event: "message", listener: (msg: Buffer, info: RecvInfo) => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  on(event: "close", listener: () => void): this;
}

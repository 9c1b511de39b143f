/**
 * Announcing VIPs after a takeover, so the segment's caches point at the new master:
 * - IPv4: gratuitous ARP frames (src/vrrp/arp.ts) from the interface's MAC, sent over an
 *   AF_PACKET socket to the broadcast address;
 * - IPv6: unsolicited Neighbour Advertisements (src/vrrp/ndisc.ts) over a raw ICMPv6 socket to
 *   ff02::1 with hop limit 255, the VIP as source (the kernel fills in the ICMPv6 checksum).
 *
 * Sockets are opened on first use and receive nothing (packet protocol 0; ICMPv6 filter that
 * blocks every type), so they cost no wake-ups.
 */
import { VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import { buildGratuitousArp, ETH_P_ARP } from "../vrrp/arp.js";
import { ALL_NODES, buildUnsolicitedNa, ICMPV6_PROTOCOL, NDISC_HOP_LIMIT } from "../vrrp/ndisc.js";
import { IPV6_MULTICAST_HOPS, IPV6_MULTICAST_IF, SOL_IPV6 } from "./constants.js";
import { openSocket } from "./socket.js";
import type { OpenOptions, VipdSocket } from "./socket-types.js";

/** ICMP6_FILTER (netinet/icmp6.h) at level IPPROTO_ICMPV6: a 256-bit "block this type" bitmap. */
const SOL_ICMPV6 = ICMPV6_PROTOCOL;
const ICMP6_FILTER = 1;
const BROADCAST_MAC = Buffer.alloc(6, 0xff);

export interface AnnouncerOptions {
  ifname: string;
  ifindex: number;
  /** The interface's MAC (6 bytes). */
  mac: Buffer;
  open?: (opts: OpenOptions) => VipdSocket;
  log?: Logger;
}

export class Announcer {
  readonly ifname: string;
  readonly ifindex: number;
  private mac: Buffer;
  private readonly open: (opts: OpenOptions) => VipdSocket;
  private readonly log: Logger;
  private packet: VipdSocket | undefined;
  private icmp6: VipdSocket | undefined;

  constructor(opts: AnnouncerOptions) {
    this.ifname = opts.ifname;
    this.ifindex = opts.ifindex;
    this.mac = checkMac(opts.mac);
    this.open = opts.open ?? openSocket;
    this.log = opts.log ?? childLogger("vrrp.announce", { interface: opts.ifname });
  }

  /** The interface's MAC changed (rtnetlink link event). */
  setMac(mac: Buffer): void {
    this.mac = checkMac(mac);
  }

  /** Sends `count` gratuitous ARPs for `ip`. Returns the frames sent; throws VRRP_ANNOUNCE_FAILED. */
  garp(ip: string, count: number): number {
    if (count <= 0) return 0;
    const frame = buildGratuitousArp(this.mac, ip);
    this.packet ??= this.open({ family: "packet", type: "raw", protocol: 0 });
    let sent = 0;
    try {
      for (let i = 0; i < count; i++) {
        this.packet.send(frame, {
          family: "packet",
          ifindex: this.ifindex,
          protocol: ETH_P_ARP,
          address: BROADCAST_MAC,
        });
        sent += 1;
      }
    } catch (err) {
      throw new VipdError(
        "VRRP_ANNOUNCE_FAILED",
        `gratuitous ARP for ${ip} on ${this.ifname} failed after ${sent} of ${count}: ${(err as Error).message}`,
        { interface: this.ifname, address: ip, sent, count },
        { cause: err },
      );
    }
    return sent;
  }

  /** Sends `count` unsolicited NAs for `ip6` (which must be assigned: it is the source). */
  na(ip6: string, count: number): number {
    if (count <= 0) return 0;
    const message = buildUnsolicitedNa(this.mac, ip6);
    this.icmp6 ??= this.openIcmp6();
    let sent = 0;
    try {
      for (let i = 0; i < count; i++) {
        this.icmp6.send(
          message,
          { family: "inet6", address: ALL_NODES, scopeId: this.ifindex },
          { ifindex: this.ifindex, source: ip6, hopLimit: NDISC_HOP_LIMIT },
        );
        sent += 1;
      }
    } catch (err) {
      throw new VipdError(
        "VRRP_ANNOUNCE_FAILED",
        `neighbour advertisement for ${ip6} on ${this.ifname} failed after ${sent} of ${count}: ${(err as Error).message}`,
        { interface: this.ifname, address: ip6, sent, count },
        { cause: err },
      );
    }
    return sent;
  }

  private openIcmp6(): VipdSocket {
    const s = this.open({ family: "inet6", type: "raw", protocol: ICMPV6_PROTOCOL });
    try {
      s.bindToDevice(this.ifname);
      s.setOption(SOL_IPV6, IPV6_MULTICAST_IF, this.ifindex);
      s.setOption(SOL_IPV6, IPV6_MULTICAST_HOPS, NDISC_HOP_LIMIT);
    } catch (err) {
      s.close();
      throw new VipdError(
        "VRRP_ANNOUNCE_FAILED",
        `cannot set up the ICMPv6 socket on ${this.ifname}: ${(err as Error).message}`,
        { interface: this.ifname },
        { cause: err },
      );
    }
    try {
      s.setOption(SOL_ICMPV6, ICMP6_FILTER, Buffer.alloc(32, 0xff));
    } catch (err) {
      this.log.debug({ err }, "ICMP6_FILTER not applied; received ICMPv6 is ignored");
    }
    s.on("message", () => {
      // Send-only socket.
    });
    return s;
  }

  close(): void {
    this.packet?.close();
    this.icmp6?.close();
    this.packet = undefined;
    this.icmp6 = undefined;
  }
}

function checkMac(mac: Buffer): Buffer {
  if (mac.length !== 6) {
    throw new VipdError("VRRP_BAD_MAC", `a MAC address has 6 bytes, not ${mac.length}`, {
      length: mac.length,
    });
  }
  return Buffer.from(mac);
}

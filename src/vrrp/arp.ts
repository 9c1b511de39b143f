import { VipdError } from "../errors.js";
import { ipToBytes } from "./packet.js";

/**
 * Gratuitous ARP frames, announced by a new master for each IPv4 VIP so that hosts and
 * switches on the segment update their caches and forwarding tables.
 *
 * Form: what keepalived sends (checked against a capture of keepalived 2.2.7 and its
 * vrrp_arp.c): an ARP *request* (op 1) broadcast to ff:ff:ff:ff:ff:ff, sender = target =
 * the VIP, sender hardware = our MAC, target hardware = ff:ff:ff:ff:ff:ff. RFC 5227's
 * "ARP announcement" is the same request form (it zeroes the target hardware address,
 * which receivers ignore). A reply (op 2) can be asked for; some old gear only learns
 * from replies.
 *
 * The frame is 42 bytes (no padding: the NIC pads to the 60-byte minimum), ready for an
 * AF_PACKET SOCK_RAW socket.
 */

export const ETH_P_ARP = 0x0806;
export const ETH_P_IP = 0x0800;
export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
export const GARP_FRAME_LEN = 42;

const BROADCAST = Buffer.alloc(6, 0xff);

export interface GarpOptions {
  /** ARP opcode; default "request" (keepalived). */
  op?: "request" | "reply";
}

function checkMac(mac: Uint8Array): Buffer {
  if (mac.length !== 6) {
    throw new VipdError("VRRP_BAD_MAC", `a MAC address has 6 bytes, not ${mac.length}`, {
      length: mac.length,
    });
  }
  return Buffer.from(mac);
}

/** A full Ethernet frame carrying a gratuitous ARP for `ip` from `mac`. */
export function buildGratuitousArp(mac: Uint8Array, ip: string, opts: GarpOptions = {}): Buffer {
  const hw = checkMac(mac);
  const pa = ipToBytes(ip, "inet");
  const f = Buffer.alloc(GARP_FRAME_LEN);
  // Ethernet header
  BROADCAST.copy(f, 0);
  hw.copy(f, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  // ARP
  f.writeUInt16BE(ARPHRD_ETHER, 14);
  f.writeUInt16BE(ETH_P_IP, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(opts.op === "reply" ? ARPOP_REPLY : ARPOP_REQUEST, 20);
  hw.copy(f, 22); // sender hardware address
  pa.copy(f, 28); // sender protocol address
  BROADCAST.copy(f, 32); // target hardware address
  pa.copy(f, 38); // target protocol address
  return f;
}

/** Parses the MAC text form "aa:bb:cc:dd:ee:ff" (or with dashes). Throws VRRP_BAD_MAC. */
export function parseMac(text: string): Buffer {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new VipdError("VRRP_BAD_MAC", `"${text}" is not a MAC address`, { mac: text });
  }
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}

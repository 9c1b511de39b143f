import { VipdError } from "../errors.js";
import { AttrMap, AttrWriter } from "./attr.js";
import { formatIp, formatMac, type InetFamily, type ParsedCidr, parseCidr } from "./inet.js";
import { NLM_F_CREATE, NLM_F_EXCL, type NlMessage, type OutgoingMessage } from "./message.js";

/**
 * rtnetlink links and addresses (include/uapi/linux/rtnetlink.h, if_link.h, if_addr.h):
 * struct ifinfomsg (16 bytes) and struct ifaddrmsg (8 bytes) with their attributes.
 * Pure encode/decode; src/sys/rtnetlink.ts does the talking.
 */

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

// Legacy multicast group bits for bind().
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NOTIFY = 0x2;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;

// struct ifinfomsg attributes.
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_TXQLEN = 13;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKMODE = 17;
export const IFLA_LINKINFO = 18;
export const IFLA_EXT_MASK = 29;
export const IFLA_CARRIER = 33;
export const IFLA_ALT_IFNAME = 53;
export const IFLA_INFO_KIND = 1;

export const RTEXT_FILTER_VF = 1 << 0;
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;

// Device flags (net/if.h).
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_MASTER = 0x400;
export const IFF_SLAVE = 0x800;
export const IFF_MULTICAST = 0x1000;
export const IFF_LOWER_UP = 0x10000;
export const IFF_DORMANT = 0x20000;

// struct ifaddrmsg attributes.
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_ANYCAST = 5;
export const IFA_CACHEINFO = 6;
export const IFA_MULTICAST = 7;
export const IFA_FLAGS = 8;
export const IFA_RT_PRIORITY = 9;
export const IFA_PROTO = 11;

export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_OPTIMISTIC = 0x04;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_HOMEADDRESS = 0x10;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_MANAGETEMPADDR = 0x100;
export const IFA_F_NOPREFIXROUTE = 0x200;
export const IFA_F_MCAUTOJOIN = 0x400;
export const IFA_F_STABLE_PRIVACY = 0x800;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;

export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;

const IFLA_NAMES: Record<number, string> = {
  [IFLA_ADDRESS]: "IFLA_ADDRESS",
  [IFLA_BROADCAST]: "IFLA_BROADCAST",
  [IFLA_IFNAME]: "IFLA_IFNAME",
  [IFLA_MTU]: "IFLA_MTU",
  [IFLA_LINK]: "IFLA_LINK",
  [IFLA_MASTER]: "IFLA_MASTER",
  [IFLA_OPERSTATE]: "IFLA_OPERSTATE",
  [IFLA_LINKINFO]: "IFLA_LINKINFO",
  [IFLA_CARRIER]: "IFLA_CARRIER",
};

const IFA_NAMES: Record<number, string> = {
  [IFA_ADDRESS]: "IFA_ADDRESS",
  [IFA_LOCAL]: "IFA_LOCAL",
  [IFA_LABEL]: "IFA_LABEL",
  [IFA_BROADCAST]: "IFA_BROADCAST",
  [IFA_FLAGS]: "IFA_FLAGS",
};

/** RFC 2863 operational states, as IFLA_OPERSTATE numbers them. */
export const OPER_STATES = [
  "unknown",
  "notpresent",
  "down",
  "lowerlayerdown",
  "testing",
  "dormant",
  "up",
] as const;
export type OperState = (typeof OPER_STATES)[number];

export interface IfInfoMsg {
  family: number;
  /** ARPHRD_* device type. */
  type: number;
  index: number;
  flags: number;
  change: number;
}

export interface IfAddrMsg {
  family: number;
  prefixLength: number;
  /** The low 8 flag bits; IFA_FLAGS carries all 32. */
  flags: number;
  scope: number;
  index: number;
}

function malformed(what: string, len: number, need: number): VipdError {
  return new VipdError("NETLINK_MALFORMED", `${what}: payload of ${len} bytes, need ${need}`, {
    offset: 16,
    length: len,
  });
}

export function encodeIfInfoMsg(m: Partial<IfInfoMsg> = {}): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(m.family ?? AF_UNSPEC, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE((m.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((m.change ?? 0) >>> 0, 12);
  return b;
}

export function decodeIfInfoMsg(payload: Buffer): IfInfoMsg {
  if (payload.length < IFINFOMSG_LEN) throw malformed("ifinfomsg", payload.length, IFINFOMSG_LEN);
  return {
    family: payload.readUInt8(0),
    type: payload.readUInt16LE(2),
    index: payload.readInt32LE(4),
    flags: payload.readUInt32LE(8),
    change: payload.readUInt32LE(12),
  };
}

export function encodeIfAddrMsg(m: Partial<IfAddrMsg> = {}): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b.writeUInt8(m.family ?? AF_UNSPEC, 0);
  b.writeUInt8(m.prefixLength ?? 0, 1);
  b.writeUInt8((m.flags ?? 0) & 0xff, 2);
  b.writeUInt8(m.scope ?? RT_SCOPE_UNIVERSE, 3);
  b.writeUInt32LE((m.index ?? 0) >>> 0, 4);
  return b;
}

export function decodeIfAddrMsg(payload: Buffer): IfAddrMsg {
  if (payload.length < IFADDRMSG_LEN) throw malformed("ifaddrmsg", payload.length, IFADDRMSG_LEN);
  return {
    family: payload.readUInt8(0),
    prefixLength: payload.readUInt8(1),
    flags: payload.readUInt8(2),
    scope: payload.readUInt8(3),
    index: payload.readUInt32LE(4),
  };
}

export interface Link {
  ifindex: number;
  name: string;
  /** ARPHRD_* (1 ether, 772 loopback). */
  type: number;
  /** IFF_* device flags. */
  flags: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** IFF_RUNNING: up and the carrier is there (RFC 2863 "up" or "unknown"). */
  running: boolean;
  /** IFF_LOWER_UP: the driver reports carrier. */
  lowerUp: boolean;
  operState: OperState;
  mtu: number;
  /** Link-layer address ("aa:bb:cc:dd:ee:ff"), when the device has one. */
  mac?: string;
  /** Device kind from IFLA_LINKINFO ("veth", "bridge", ...). */
  kind?: string;
  /** ifindex of the master (bridge, bond). */
  master?: number;
  carrier?: boolean;
}

export interface Address {
  ifindex: number;
  family: InetFamily;
  /** The interface's own address (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
  address: string;
  prefixLength: number;
  /** "address/prefixLength" */
  cidr: string;
  /** IFA_F_* (all 32 bits when IFA_FLAGS is present). */
  flags: number;
  scope: number;
  label?: string;
  /** Point-to-point peer, when it differs from the local address. */
  peer?: string;
  broadcast?: string;
}

function familyNumber(f: InetFamily): number {
  return f === "inet" ? AF_INET : AF_INET6;
}

/** Decodes RTM_NEWLINK / RTM_DELLINK. */
export function decodeLink(msg: NlMessage): Link {
  const ifi = decodeIfInfoMsg(msg.payload);
  const where = `link ${ifi.index}`;
  const a = AttrMap.parse(msg.payload.subarray(IFINFOMSG_LEN), where, IFLA_NAMES);
  const op = a.u8(IFLA_OPERSTATE);
  const link: Link = {
    ifindex: ifi.index,
    name: a.string(IFLA_IFNAME) ?? "",
    type: ifi.type,
    flags: ifi.flags,
    up: (ifi.flags & IFF_UP) !== 0,
    running: (ifi.flags & IFF_RUNNING) !== 0,
    lowerUp: (ifi.flags & IFF_LOWER_UP) !== 0,
    operState: op === undefined ? "unknown" : (OPER_STATES[op] ?? "unknown"),
    mtu: a.u32(IFLA_MTU) ?? 0,
  };
  const mac = a.bytes(IFLA_ADDRESS);
  if (mac && mac.length > 0) link.mac = formatMac(mac);
  const info = a.nested(IFLA_LINKINFO);
  const kind = info?.string(IFLA_INFO_KIND);
  if (kind !== undefined) link.kind = kind;
  const master = a.u32(IFLA_MASTER);
  if (master !== undefined) link.master = master;
  const carrier = a.u8(IFLA_CARRIER);
  if (carrier !== undefined) link.carrier = carrier !== 0;
  return link;
}

function ipFromAttr(a: AttrMap, type: number, family: number): string | undefined {
  const d = a.get(type)?.data;
  if (!d) return undefined;
  const want = family === AF_INET ? 4 : 16;
  if (d.length !== want) {
    throw new VipdError(
      "NETLINK_ATTR_LENGTH",
      `address attribute ${type} has ${d.length} bytes, expected ${want}`,
      {
        type,
        length: d.length,
        expected: want,
      },
    );
  }
  return formatIp(d);
}

/** Decodes RTM_NEWADDR / RTM_DELADDR. Families other than inet/inet6 give undefined. */
export function decodeAddress(msg: NlMessage): Address | undefined {
  const ifa = decodeIfAddrMsg(msg.payload);
  if (ifa.family !== AF_INET && ifa.family !== AF_INET6) return undefined;
  const a = AttrMap.parse(msg.payload.subarray(IFADDRMSG_LEN), `address on ifindex ${ifa.index}`, IFA_NAMES);
  const addr = ipFromAttr(a, IFA_ADDRESS, ifa.family);
  const local = ipFromAttr(a, IFA_LOCAL, ifa.family);
  const own = local ?? addr;
  if (own === undefined) {
    throw new VipdError("NETLINK_ATTR_MISSING", `address on ifindex ${ifa.index}: IFA_ADDRESS is missing`, {
      ifindex: ifa.index,
    });
  }
  const out: Address = {
    ifindex: ifa.index,
    family: ifa.family === AF_INET ? "inet" : "inet6",
    address: own,
    prefixLength: ifa.prefixLength,
    cidr: `${own}/${ifa.prefixLength}`,
    flags: a.u32(IFA_FLAGS) ?? ifa.flags,
    scope: ifa.scope,
  };
  const label = a.string(IFA_LABEL);
  if (label !== undefined) out.label = label;
  if (local !== undefined && addr !== undefined && addr !== local) out.peer = addr;
  const brd = ipFromAttr(a, IFA_BROADCAST, ifa.family);
  if (brd !== undefined) out.broadcast = brd;
  return out;
}

export interface AddressOptions {
  /** IPv6: skip duplicate address detection (IFA_F_NODAD), so the VIP is usable at once. */
  noDad?: boolean;
  /** IPv4 label (IFA_LABEL); the kernel wants it to start with the interface name. */
  label?: string;
  /** RT_SCOPE_* (default universe). */
  scope?: number;
  /** IPv4 broadcast address. */
  broadcast?: string;
  /** Extra IFA_F_* flags. */
  flags?: number;
}

function addressBody(ifindex: number, cidr: ParsedCidr, opts: AddressOptions): Buffer[] {
  const flags = (opts.flags ?? 0) | (opts.noDad ? IFA_F_NODAD : 0);
  const hdr = encodeIfAddrMsg({
    family: familyNumber(cidr.family),
    prefixLength: cidr.prefixLength,
    flags,
    scope: opts.scope ?? RT_SCOPE_UNIVERSE,
    index: ifindex,
  });
  const w = new AttrWriter();
  if (cidr.family === "inet") w.bytes(IFA_LOCAL, cidr.bytes);
  w.bytes(IFA_ADDRESS, cidr.bytes);
  if (opts.label !== undefined) w.string(IFA_LABEL, opts.label);
  if (opts.broadcast !== undefined) {
    const b = parseCidr(opts.broadcast);
    if (b.family !== cidr.family) {
      throw new VipdError(
        "NETLINK_BAD_ADDRESS",
        `broadcast ${opts.broadcast} is not in the family of ${cidr.cidr}`,
        {
          address: cidr.cidr,
          broadcast: opts.broadcast,
        },
      );
    }
    w.bytes(IFA_BROADCAST, b.bytes);
  }
  if (flags !== 0) w.u32(IFA_FLAGS, flags);
  return [hdr, w.toBuffer()];
}

/** RTM_NEWADDR with NLM_F_CREATE|NLM_F_EXCL: adding an address that exists is EEXIST. */
export function encodeNewAddress(
  ifindex: number,
  cidr: string | ParsedCidr,
  opts: AddressOptions = {},
): OutgoingMessage {
  const c = typeof cidr === "string" ? parseCidr(cidr) : cidr;
  return { type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_EXCL, payload: addressBody(ifindex, c, opts) };
}

/** RTM_DELADDR for the address (the prefix length must match the installed one). */
export function encodeDelAddress(ifindex: number, cidr: string | ParsedCidr): OutgoingMessage {
  const c = typeof cidr === "string" ? parseCidr(cidr) : cidr;
  return { type: RTM_DELADDR, flags: 0, payload: addressBody(ifindex, c, {}) };
}

/** RTM_GETADDR dump request (all families unless one is given). */
export function encodeGetAddresses(family?: InetFamily): OutgoingMessage {
  return {
    type: RTM_GETADDR,
    flags: 0,
    payload: [encodeIfAddrMsg({ family: family ? familyNumber(family) : AF_UNSPEC })],
  };
}

/** RTM_GETLINK: a dump when no selector is given, otherwise one link by index or name. */
export function encodeGetLink(select?: { ifindex?: number; name?: string }): OutgoingMessage {
  const w = new AttrWriter().u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  if (select?.name !== undefined) w.string(IFLA_IFNAME, select.name);
  return {
    type: RTM_GETLINK,
    flags: 0,
    payload: [encodeIfInfoMsg({ index: select?.ifindex ?? 0 }), w.toBuffer()],
  };
}

export type RouteEvent =
  | { kind: "link"; action: "new" | "del"; link: Link }
  | { kind: "address"; action: "new" | "del"; address: Address };

/** Turns an rtnetlink notification into a typed event; other message types give undefined. */
export function decodeRouteEvent(msg: NlMessage): RouteEvent | undefined {
  switch (msg.header.type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return { kind: "link", action: msg.header.type === RTM_NEWLINK ? "new" : "del", link: decodeLink(msg) };
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      const address = decodeAddress(msg);
      if (!address) return undefined;
      return { kind: "address", action: msg.header.type === RTM_NEWADDR ? "new" : "del", address };
    }
    default:
      return undefined;
  }
}

export type RouteGroup = "link" | "ipv4-addr" | "ipv6-addr";

/** The RTMGRP_* bitmask for subscription names. */
export function routeGroups(kinds: readonly RouteGroup[]): number {
  let g = 0;
  for (const k of kinds) {
    if (k === "link") g |= RTMGRP_LINK;
    else if (k === "ipv4-addr") g |= RTMGRP_IPV4_IFADDR;
    else if (k === "ipv6-addr") g |= RTMGRP_IPV6_IFADDR;
    else
      throw new VipdError("NETLINK_BAD_GROUP", `unknown rtnetlink subscription "${String(k)}"`, { group: k });
  }
  return g;
}

/**
 * Linux socket-level numbers that callers of src/sys/socket.ts need (levels, option names,
 * ethertypes). Plain numbers so pure code and fakes can use them without the native addon;
 * test/unit/sys/constants.test.ts checks every one against the values the addon was
 * compiled with (the kernel headers).
 */

// Address families and socket types (openSocket maps the family names itself).
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;

// Protocols.
export const IPPROTO_IP = 0;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_VRRP = 112;
export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

// setsockopt levels.
export const SOL_SOCKET = 1;
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
export const SOL_PACKET = 263;
export const SOL_NETLINK = 270;

// SOL_SOCKET options.
export const SO_REUSEADDR = 2;
export const SO_ERROR = 4;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_PRIORITY = 12;
export const SO_BINDTODEVICE = 25;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_MARK = 36;
export const SO_RXQ_OVFL = 40;

// SOL_IP options.
export const IP_TOS = 1;
export const IP_TTL = 2;
export const IP_HDRINCL = 3;
export const IP_PKTINFO = 8;
export const IP_RECVTTL = 12;
export const IP_FREEBIND = 15;
export const IP_MULTICAST_IF = 32;
export const IP_MULTICAST_TTL = 33;
export const IP_MULTICAST_LOOP = 34;
/** Value: an ip_mreqn (packIpMreqn in socket.ts). */
export const IP_ADD_MEMBERSHIP = 35;
export const IP_DROP_MEMBERSHIP = 36;
export const IP_MULTICAST_ALL = 49;

// SOL_IPV6 options.
/** Offset of the checksum field the kernel fills in (6 for VRRP). */
export const IPV6_CHECKSUM = 7;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
/** Value: an ipv6_mreq (packIpv6Mreq in socket.ts). Same number as IPV6_ADD_MEMBERSHIP. */
export const IPV6_JOIN_GROUP = 20;
export const IPV6_ADD_MEMBERSHIP = 20;
export const IPV6_LEAVE_GROUP = 21;
export const IPV6_DROP_MEMBERSHIP = 21;
export const IPV6_V6ONLY = 26;
export const IPV6_MULTICAST_ALL = 29;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_PKTINFO = 50;
export const IPV6_RECVHOPLIMIT = 51;
export const IPV6_HOPLIMIT = 52;

// SOL_NETLINK options: defined with the netlink codec.
export {
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_BROADCAST_ERROR,
  NETLINK_CAP_ACK,
  NETLINK_DROP_MEMBERSHIP,
  NETLINK_EXT_ACK,
  NETLINK_GET_STRICT_CHK,
  NETLINK_LISTEN_ALL_NSID,
  NETLINK_NO_ENOBUFS,
  NETLINK_PKTINFO,
} from "../netlink/message.js";

// SOL_PACKET options and packet types (RecvInfo.from.pkttype).
/** Value: a packet_mreq (packPacketMreq in socket.ts). */
export const PACKET_ADD_MEMBERSHIP = 1;
export const PACKET_DROP_MEMBERSHIP = 2;
export const PACKET_MR_MULTICAST = 0;
export const PACKET_MR_PROMISC = 1;
export const PACKET_MR_ALLMULTI = 2;
export const PACKET_IGNORE_OUTGOING = 23;
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;

// Ethertypes (host order, as openSocket and packet SockAddr take them).
export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;

// ARPHRD_* (RecvInfo.from.hatype on packet sockets).
export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;

export const IFNAMSIZ = 16;

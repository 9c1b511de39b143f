import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import {
  decodeMessages,
  encodeMessage,
  NLM_F_ACK,
  NLM_F_REQUEST,
  type NlMessage,
} from "../../../src/netlink/message.js";
import {
  decodeAddress,
  decodeIfAddrMsg,
  decodeIfInfoMsg,
  decodeLink,
  decodeRouteEvent,
  encodeDelAddress,
  encodeGetLink,
  encodeIfAddrMsg,
  encodeIfInfoMsg,
  encodeNewAddress,
  IFA_F_NODAD,
  IFA_F_PERMANENT,
  IFF_BROADCAST,
  IFF_LOWER_UP,
  IFF_MULTICAST,
  IFF_RUNNING,
  IFF_UP,
  RT_SCOPE_HOST,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  routeGroups,
} from "../../../src/netlink/route.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** The request as the connection sends it: flags | REQUEST | ACK, seq 1. */
function wire(msg: { type: number; flags?: number; payload?: Buffer | readonly Buffer[] }): Buffer {
  return encodeMessage({ ...msg, flags: (msg.flags ?? 0) | NLM_F_REQUEST | NLM_F_ACK, seq: 1 });
}

function asKernelMessage(msg: { type: number; payload?: Buffer | readonly Buffer[] }): NlMessage {
  return decodeMessages(encodeMessage(msg))[0]!;
}

function expectCoded(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VipdError);
    expect((err as VipdError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

// RTM_NEWLINK for veth "vx0" (ifindex 3, 02:00:00:00:00:01, mtu 1500, down) from a dump on
// this kernel (6.18), captured in a netns.
const REAL_LINK = hex(
  "d40500001000020007000000761e000000000100030000000210000000000000080003007678300008000d00e80300000500" +
    "1000020000000500110000000000050043000000000008000400dc050000080032004400000008003300ffff000008001b00" +
    "0000000008001e000000000008003d000000000008001f000200000008002800ffff0000080029000000010008003a000000" +
    "010008003f0000000100080040000000010008003b00f8ff070008003c00ffff000008004200000000000800200002000000" +
    "0500210000000000080023000100000008002f00000000000800300001000000060044000000000006004500000000000500" +
    "2700000000000a00010002000000000100000a000200ffffffffffff0000cc00170000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000064000700000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "000000000000000000000000000000000000000000000000000000000000000000000c002b00050002000000000010001200" +
    "0900010076657468000000000800050002000000090006006e6f6f700000000030031a008c00020088000100000000000000" +
    "0000000000000100000001000000010000000100000000000000010000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001027" +
    "0000e80300000000000000000000000000000000000001000000a0020a00080001000000000014000500ffff0000f1ad0000" +
    "e0500000e8030000f40002000000000040000000dc05000001000000010000000100000001000000ffffffffa00f0000e803" +
    "000000000000803a0900805101000300000058020000100000000000000001000000010000000100000060ea000000000000" +
    "000000000000000000000000000000000000000001000000000000000000000010270000e803000001000000000000000000" +
    "0000010000000000000000000000010000000000000000000000000000000000000080ee3600000000000000000001000000" +
    "00000000000000000000000000000000000000000004000000000000ffff0000ffffffff0100000000000000000000000000" +
    "0000340103002600000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
    "000000000000000000003c000600070000000000000000000000000000000000000000000000000000000000000000000000" +
    "0000000000000000000000000000000000000000140007000000000000000000000000000000000005000800000000002400" +
    "0e00000000000000000000000000000000000000000000000000000000000000000004003e8004004180",
);

// One datagram of an RTM_GETADDR dump: 127.0.0.1/8 on lo, 10.9.0.1/24 on vx0,
// ::1/128 on lo, fd00::1/64 nodad on vx0.
const REAL_ADDRS = hex(
  "4c00000014000200070000009f1e0000020880fe01000000080001007f000001080002007f000001070003006c6f00000800" +
    "08008000000014000600fffffffffffffffff1ad0000f1ad00004c00000014000200070000009f1e00000218800003000000" +
    "080001000a090001080002000a0900010800030076783000080008008000000014000600fffffffffffffffff1ad0000f1ad" +
    "00005000000014000200070000009f1e00000a8080fe01000000140001000000000000000000000000000000000114000600" +
    "fffffffffffffffff1ad0000f1ad0000080008008000000005000b00010000004800000014000200070000009f1e00000a40" +
    "82000300000014000100fd00000000000000000000000000000114000600fffffffffffffffff1ad0000f1ad000008000800" +
    "82000000",
);

describe("ifinfomsg / ifaddrmsg", () => {
  it("encode and decode their fixed headers", () => {
    const ifi = { family: 0, type: 1, index: 7, flags: IFF_UP, change: 0xffffffff };
    expect(encodeIfInfoMsg(ifi).toString("hex")).toBe("00000100" + "07000000" + "01000000" + "ffffffff");
    expect(decodeIfInfoMsg(encodeIfInfoMsg(ifi))).toEqual(ifi);
    const ifa = { family: 10, prefixLength: 64, flags: IFA_F_NODAD, scope: 0, index: 3 };
    expect(encodeIfAddrMsg(ifa).toString("hex")).toBe("0a400200" + "03000000");
    expect(decodeIfAddrMsg(encodeIfAddrMsg(ifa))).toEqual(ifa);
  });

  it("reject short payloads with coded errors", () => {
    expectCoded(() => decodeIfInfoMsg(Buffer.alloc(15)), "NETLINK_MALFORMED");
    expectCoded(() => decodeIfAddrMsg(Buffer.alloc(7)), "NETLINK_MALFORMED");
  });
});

describe("address requests", () => {
  it("encodes RTM_NEWADDR 10.0.0.1/24 on ifindex 2 byte by byte", () => {
    expect(wire(encodeNewAddress(2, "10.0.0.1/24")).toString("hex")).toBe(
      [
        "28000000", // nlmsg_len 40
        "1400", // RTM_NEWADDR (20)
        "0506", // NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
        "01000000", // seq 1
        "00000000", // pid 0
        "02", // ifa_family AF_INET
        "18", // ifa_prefixlen 24
        "00", // ifa_flags
        "00", // ifa_scope RT_SCOPE_UNIVERSE
        "02000000", // ifa_index 2
        "0800", // nla_len 8
        "0200", // IFA_LOCAL
        "0a000001", // 10.0.0.1
        "0800", // nla_len 8
        "0100", // IFA_ADDRESS
        "0a000001", // 10.0.0.1
      ].join(""),
    );
  });

  it("encodes an IPv6 VIP with IFA_F_NODAD and an IPv4 label", () => {
    expect(wire(encodeNewAddress(3, "fd00::64/64", { noDad: true })).toString("hex")).toBe(
      [
        "34000000", // 52 bytes
        "1400",
        "0506",
        "01000000",
        "00000000",
        "0a400200", // AF_INET6, /64, IFA_F_NODAD, universe
        "03000000",
        "14000100", // IFA_ADDRESS, 16 bytes
        "fd000000000000000000000000000064",
        "08000800", // IFA_FLAGS
        "02000000",
      ].join(""),
    );
    const labelled = asKernelMessage(encodeNewAddress(3, "10.0.0.100/24", { label: "veth0:vip" }));
    expect(decodeAddress(labelled)).toMatchObject({ address: "10.0.0.100", label: "veth0:vip" });
  });

  it("encodes RTM_DELADDR with the same identity and no create flags", () => {
    const m = encodeDelAddress(2, "10.0.0.1/24");
    expect(m.type).toBe(RTM_DELADDR);
    expect(m.flags).toBe(0);
    expect(wire(m).subarray(16).toString("hex")).toBe(
      "021800000200000008000200" + "0a000001" + "08000100" + "0a000001",
    );
  });

  it("asks for one link by name with IFLA_EXT_MASK", () => {
    const b = wire(encodeGetLink({ name: "veth0" }));
    expect(b.subarray(16).toString("hex")).toBe(
      "00000000" +
        "00000000" +
        "00000000" +
        "00000000" + // ifinfomsg, index 0
        "08001d0008000000" + // IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS
        "0a000300" +
        "7665746830000000", // IFLA_IFNAME "veth0\0" + padding
    );
  });

  it("round-trips any address through encode and decode", () => {
    const v4 = fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }));
    const v6 = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }));
    fc.assert(
      fc.property(
        fc.oneof(v4, v6),
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.boolean(),
        ([bytes, prefix], ifindex, noDad) => {
          const b = Buffer.from(bytes);
          const text = b.length === 4 ? [...b].join(".") : (b.toString("hex").match(/..../g) ?? []).join(":");
          const m = asKernelMessage(encodeNewAddress(ifindex, `${text}/${prefix}`, { noDad }));
          const a = decodeAddress(m)!;
          expect(a.ifindex).toBe(ifindex);
          expect(a.family).toBe(b.length === 4 ? "inet" : "inet6");
          expect(a.prefixLength).toBe(prefix);
          expect(a.flags).toBe(noDad ? IFA_F_NODAD : 0);
          const again = asKernelMessage(encodeNewAddress(ifindex, a.cidr));
          expect(decodeAddress(again)!.address).toBe(a.address);
          expect(again.payload.subarray(8).includes(b)).toBe(true);
        },
      ),
    );
  });
});

describe("decoding kernel answers", () => {
  it("decodes a real veth link", () => {
    const [m] = decodeMessages(REAL_LINK);
    expect(m!.header.type).toBe(RTM_NEWLINK);
    expect(decodeLink(m!)).toEqual({
      ifindex: 3,
      name: "vx0",
      type: 1,
      flags: IFF_BROADCAST | IFF_MULTICAST,
      up: false,
      running: false,
      lowerUp: false,
      operState: "down",
      mtu: 1500,
      mac: "02:00:00:00:00:01",
      kind: "veth",
      carrier: false,
    });
  });

  it("decodes real IPv4 and IPv6 addresses", () => {
    const addrs = decodeMessages(REAL_ADDRS).map((m) => decodeAddress(m));
    expect(addrs).toEqual([
      {
        ifindex: 1,
        family: "inet",
        address: "127.0.0.1",
        prefixLength: 8,
        cidr: "127.0.0.1/8",
        flags: IFA_F_PERMANENT,
        scope: RT_SCOPE_HOST,
        label: "lo",
      },
      {
        ifindex: 3,
        family: "inet",
        address: "10.9.0.1",
        prefixLength: 24,
        cidr: "10.9.0.1/24",
        flags: IFA_F_PERMANENT,
        scope: 0,
        label: "vx0",
      },
      {
        ifindex: 1,
        family: "inet6",
        address: "::1",
        prefixLength: 128,
        cidr: "::1/128",
        flags: IFA_F_PERMANENT,
        scope: RT_SCOPE_HOST,
      },
      {
        ifindex: 3,
        family: "inet6",
        address: "fd00::1",
        prefixLength: 64,
        cidr: "fd00::1/64",
        flags: IFA_F_PERMANENT | IFA_F_NODAD,
        scope: 0,
      },
    ]);
  });

  it("turns notifications into typed events", () => {
    const [link] = decodeMessages(REAL_LINK);
    const del = { ...link!, header: { ...link!.header, type: RTM_DELLINK } };
    expect(decodeRouteEvent(del)).toMatchObject({ kind: "link", action: "del", link: { name: "vx0" } });
    const [addr] = decodeMessages(REAL_ADDRS);
    expect(decodeRouteEvent(addr!)).toMatchObject({
      kind: "address",
      action: "new",
      address: { address: "127.0.0.1" },
    });
    expect(decodeRouteEvent({ ...addr!, header: { ...addr!.header, type: 24 } })).toBeUndefined();
  });

  it("derives up / running / lower-up from the device flags", () => {
    const m = asKernelMessage({
      type: RTM_NEWLINK,
      payload: [
        encodeIfInfoMsg({ index: 5, flags: IFF_UP | IFF_RUNNING | IFF_LOWER_UP }),
        Buffer.from("0800030065746800", "hex"),
      ],
    });
    expect(decodeLink(m)).toMatchObject({
      ifindex: 5,
      name: "eth",
      up: true,
      running: true,
      lowerUp: true,
      operState: "unknown",
    });
  });

  it("rejects an address attribute of the wrong length", () => {
    const m = asKernelMessage({
      type: RTM_NEWADDR,
      payload: [
        encodeIfAddrMsg({ family: 2, prefixLength: 24, index: 1 }),
        Buffer.from("0700010001020300", "hex"),
      ],
    });
    expectCoded(() => decodeAddress(m), "NETLINK_ATTR_LENGTH");
  });

  it("throws nothing but coded errors on arbitrary link and address payloads", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR),
        fc.uint8Array({ maxLength: 120 }),
        (type, p) => {
          try {
            decodeRouteEvent(asKernelMessage({ type, payload: Buffer.from(p) }));
          } catch (err) {
            return err instanceof VipdError;
          }
          return true;
        },
      ),
    );
  });
});

describe("subscription groups", () => {
  it("maps names to RTMGRP bits", () => {
    expect(routeGroups(["link", "ipv4-addr", "ipv6-addr"])).toBe(0x111);
    expect(routeGroups(["ipv6-addr"])).toBe(0x100);
    expectCoded(() => routeGroups(["route" as "link"]), "NETLINK_BAD_GROUP");
  });
});

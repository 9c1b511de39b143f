import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasCode } from "../../../src/errors.js";
import {
  canonicalDestOptions,
  canonicalServiceOptions,
  decodeDaemon,
  decodeDest,
  decodeService,
  destPayload,
  encodeDaemon,
  encodeDaemonStop,
  encodeDest,
  encodeService,
  IPVS_CMD,
  IPVS_DAEMON_ATTR_NAMES,
  IPVS_DEST_ATTR_NAMES,
  IPVS_SVC_ATTR_NAMES,
  parseDestReply,
  parseInfoReply,
  parseServiceReply,
  SVC_FLAGS_MASK,
  servicePayload,
} from "../../../src/ipvs/codec.js";
import { canonicalDestKey, canonicalServiceKey, type ServiceKey } from "../../../src/ipvs/types.js";
import { AttrMap } from "../../../src/netlink/attr.js";
import { anyDest, anyService } from "./arbitraries.js";

/** Hex with whitespace and `#` comments, for byte vectors written out by hand. */
function hex(s: string): Buffer {
  return Buffer.from(s.replace(/#.*$/gm, "").replace(/\s+/g, ""), "hex");
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

const WEB: ServiceKey = { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.100", port: 80 };

describe("command and attribute numbers", () => {
  it("match linux/ip_vs.h", () => {
    expect(IPVS_CMD).toMatchObject({
      NEW_SERVICE: 1,
      SET_SERVICE: 2,
      DEL_SERVICE: 3,
      GET_SERVICE: 4,
      NEW_DEST: 5,
      SET_DEST: 6,
      DEL_DEST: 7,
      GET_DEST: 8,
      NEW_DAEMON: 9,
      DEL_DAEMON: 10,
      GET_DAEMON: 11,
      GET_INFO: 15,
      ZERO: 16,
      FLUSH: 17,
    });
    expect(IPVS_SVC_ATTR_NAMES[12]).toBe("IPVS_SVC_ATTR_STATS64");
    expect(IPVS_DEST_ATTR_NAMES[15]).toBe("IPVS_DEST_ATTR_TUN_FLAGS");
    expect(IPVS_DAEMON_ATTR_NAMES[8]).toBe("IPVS_DAEMON_ATTR_MCAST_TTL");
  });
});

describe("encodeService", () => {
  // NEW_SERVICE tcp 10.0.0.100:80, wlc, persistence 300 s: the SERVICE nest's contents.
  const webNest = hex(`
    06 00 01 00  02 00 00 00              # AF: len 6, type 1, u16 2 (AF_INET), 2 bytes pad
    06 00 02 00  06 00 00 00              # PROTOCOL: u16 6 (IPPROTO_TCP), pad
    14 00 03 00  0a 00 00 64              # ADDR: len 20, 10.0.0.100 ...
                 00 00 00 00 00 00 00 00
                 00 00 00 00              #   ... zero-filled to 16 bytes (nf_inet_addr)
    06 00 04 00  00 50 00 00              # PORT: be16 80, pad
    08 00 06 00  77 6c 63 00              # SCHED_NAME: "wlc\\0"
    0c 00 07 00  01 00 00 00              # FLAGS: struct ip_vs_flags { flags = PERSISTENT,
                 3d 00 00 00              #   mask = PERSISTENT|ONEPACKET|SCHED1|SCHED2|SCHED3 }
    08 00 08 00  2c 01 00 00              # TIMEOUT: u32 300
    08 00 09 00  ff ff ff ff              # NETMASK: 255.255.255.255 as network-order bytes
  `);

  it("writes NEW_SERVICE attributes byte for byte", () => {
    const w = encodeService(WEB, { scheduler: "wlc", flags: { persistent: true }, timeout: 300 });
    expect(w.toBuffer().toString("hex")).toBe(webNest.toString("hex"));
  });

  it("wraps them in a SERVICE nest (type 1 | NLA_F_NESTED) for the request payload", () => {
    const payload = servicePayload(WEB, { scheduler: "wlc", flags: { persistent: true }, timeout: 300 });
    expect(payload.toString("hex")).toBe(
      Buffer.concat([hex("54 00 01 80  # len 84 = 4 + 80, type 0x8001"), webNest]).toString("hex"),
    );
  });

  it("fills the default persistence timeout (300 s) and netmask", () => {
    const a = encodeService(WEB, { scheduler: "wlc", flags: { persistent: true } }).toBuffer();
    expect(a.equals(webNest)).toBe(true);
  });

  it("writes only AF and identity for DEL/GET", () => {
    expect(encodeService(WEB).toBuffer().toString("hex")).toBe(webNest.subarray(0, 44).toString("hex"));
  });

  it("writes a fwmark identity instead of protocol, address and port", () => {
    const w = encodeService({ kind: "fwmark", af: 10, fwmark: 66 });
    expect(w.toBuffer().toString("hex")).toBe(
      hex(`
        06 00 01 00  0a 00 00 00          # AF: AF_INET6
        08 00 05 00  42 00 00 00          # FWMARK: u32 66
      `).toString("hex"),
    );
  });

  it("writes an IPv6 netmask as a host-order prefix length and IPv6 addresses in full", () => {
    const key: ServiceKey = { kind: "inet", af: 10, protocol: "udp", address: "2001:db8::1", port: 53 };
    const buf = encodeService(key, { scheduler: "rr", netmask: 64 }).toBuffer();
    const m = AttrMap.parse(buf, "svc", IPVS_SVC_ATTR_NAMES);
    expect(m.bytes(3)?.toString("hex")).toBe("20010db8000000000000000000000001");
    expect(m.get(9)?.data.toString("hex")).toBe("40000000");
    expect(m.u16(2)).toBe(17);
    expect(m.get(4)?.data.toString("hex")).toBe("0035");
  });

  it("writes an IPv4 netmask given as a prefix length as mask bytes", () => {
    const m = AttrMap.parse(encodeService(WEB, { scheduler: "sh", netmask: 24 }).toBuffer());
    expect(m.get(9)?.data.toString("hex")).toBe("ffffff00");
  });

  it("maps sh/mh flags to SCHED1/SCHED2 and one-packet to 0x4", () => {
    const flagsOf = (buf: Buffer) => AttrMap.parse(buf).bytes(7, 8)!.readUInt32LE(0);
    expect(
      flagsOf(encodeService(WEB, { scheduler: "sh", flags: { shFallback: true, shPort: true } }).toBuffer()),
    ).toBe(0x18);
    expect(
      flagsOf(encodeService(WEB, { scheduler: "mh", flags: { mhPort: true, onePacket: true } }).toBuffer()),
    ).toBe(0x14);
  });

  it("sends a persistence engine name when one is set", () => {
    const m = AttrMap.parse(encodeService(WEB, { scheduler: "rr", pe: "sip" }).toBuffer());
    expect(m.string(11)).toBe("sip");
  });

  it("rejects what the kernel would refuse, with coded errors", () => {
    expect(
      hasCode(
        thrown(() => encodeService({ ...WEB, address: "10.0.0" })),
        "IPVS_INVALID_ADDRESS",
      ),
    ).toBe(true);
    expect(
      hasCode(
        thrown(() => encodeService({ ...WEB, address: "2001:db8::1" })),
        "IPVS_INVALID_ADDRESS",
      ),
    ).toBe(true);
    expect(
      hasCode(
        thrown(() => encodeService({ ...WEB, port: 65536 })),
        "IPVS_INVALID_SERVICE",
      ),
    ).toBe(true);
    expect(
      hasCode(
        thrown(() => encodeService({ kind: "fwmark", af: 2, fwmark: 0 })),
        "IPVS_INVALID_SERVICE",
      ),
    ).toBe(true);
    const bad = (o: object) => thrown(() => encodeService(WEB, { scheduler: "rr", ...o }));
    expect(hasCode(bad({ scheduler: "a-very-long-scheduler" }), "IPVS_INVALID_SERVICE")).toBe(true);
    expect(hasCode(bad({ timeout: 31 * 86400 + 1 }), "IPVS_INVALID_SERVICE")).toBe(true);
    expect(hasCode(bad({ netmask: "255.255.0" }), "IPVS_INVALID_SERVICE")).toBe(true);
    expect(hasCode(bad({ netmask: 33 }), "IPVS_INVALID_SERVICE")).toBe(true);
    const v6: ServiceKey = { kind: "fwmark", af: 10, fwmark: 1 };
    expect(
      hasCode(
        thrown(() => encodeService(v6, { scheduler: "rr", netmask: 0 })),
        "IPVS_INVALID_SERVICE",
      ),
    ).toBe(true);
  });
});

describe("encodeDest", () => {
  // NEW_DEST 10.0.0.21:80, direct routing, weight 1, into tcp 10.0.0.100:80.
  const drPayload = hex(`
    30 00 01 80                           # SERVICE nest: len 48, type 1 | NLA_F_NESTED
      06 00 01 00  02 00 00 00            #   AF: AF_INET
      06 00 02 00  06 00 00 00            #   PROTOCOL: tcp
      14 00 03 00  0a 00 00 64            #   ADDR: 10.0.0.100 ...
                   00 00 00 00 00 00 00 00
                   00 00 00 00            #     ... 16 bytes
      06 00 04 00  00 50 00 00            #   PORT: be16 80
    48 00 02 80                           # DEST nest: len 72, type 2 | NLA_F_NESTED
      14 00 01 00  0a 00 00 15            #   ADDR: 10.0.0.21 ...
                   00 00 00 00 00 00 00 00
                   00 00 00 00            #     ... 16 bytes
      06 00 02 00  00 50 00 00            #   PORT: be16 80
      08 00 03 00  03 00 00 00            #   FWD_METHOD: IP_VS_CONN_F_DROUTE (3)
      08 00 04 00  01 00 00 00            #   WEIGHT: 1
      08 00 05 00  00 00 00 00            #   U_THRESH: 0 (no limit)
      08 00 06 00  00 00 00 00            #   L_THRESH: 0
      06 00 0b 00  02 00 00 00            #   ADDR_FAMILY: AF_INET
  `);

  it("writes NEW_DEST attributes byte for byte", () => {
    const payload = destPayload(WEB, { address: "10.0.0.21", port: 80 }, { forwarding: "dr", weight: 1 });
    expect(payload.toString("hex")).toBe(drPayload.toString("hex"));
  });

  it("refuses a port mapping under DR and TUN (the kernel would ignore the port), not under NAT", () => {
    for (const forwarding of ["dr", "tun"] as const) {
      expect(() => destPayload(WEB, { address: "10.0.0.21", port: 8080 }, { forwarding, weight: 1 })).toThrow(
        expect.objectContaining({
          code: "IPVS_INVALID_DEST",
          message: `destination 10.0.0.21:8080 of tcp 10.0.0.100:80: ${forwarding} forwarding cannot map ports (destination port 8080, service port 80)`,
        }),
      );
    }
    expect(() =>
      destPayload(WEB, { address: "10.0.0.21", port: 8080 }, { forwarding: "nat", weight: 1 }),
    ).not.toThrow();
    // A fwmark service has no port of its own; deleting needs no options and no check.
    const mark = { kind: "fwmark" as const, af: 2 as const, fwmark: 66 };
    expect(() =>
      destPayload(mark, { address: "10.0.0.21", port: 8080 }, { forwarding: "dr", weight: 1 }),
    ).not.toThrow();
    expect(() => destPayload(WEB, { address: "10.0.0.21", port: 8080 })).not.toThrow();
  });

  it("writes ADDR, PORT and ADDR_FAMILY only for DEL_DEST", () => {
    expect(encodeDest({ address: "10.0.0.21", port: 80 }).toBuffer().toString("hex")).toBe(
      hex(`
        14 00 01 00  0a 00 00 15  00 00 00 00 00 00 00 00 00 00 00 00   # ADDR
        06 00 02 00  00 50 00 00                                        # PORT
        06 00 0b 00  02 00 00 00                                        # ADDR_FAMILY
      `).toString("hex"),
    );
  });

  it("sends tunnel attributes for gue and gre, not for plain ipip", () => {
    const key = { address: "10.0.0.21", port: 80 };
    const gue = AttrMap.parse(
      encodeDest(key, {
        forwarding: "tun",
        weight: 1,
        tunnel: { type: "gue", port: 6080, flags: { remcsum: true } },
      }).toBuffer(),
    );
    expect(gue.get(3)?.data.readUInt32LE(0)).toBe(2); // IP_VS_CONN_F_TUNNEL
    expect(gue.get(13)?.data.toString("hex")).toBe("01"); // TUN_TYPE: u8 GUE
    expect(gue.get(14)?.data.toString("hex")).toBe("17c0"); // TUN_PORT: be16 6080
    expect(gue.get(15)?.data.toString("hex")).toBe("0200"); // TUN_FLAGS: u16 REMCSUM
    const gre = AttrMap.parse(
      encodeDest(key, {
        forwarding: "tun",
        weight: 1,
        tunnel: { type: "gre", flags: { csum: true } },
      }).toBuffer(),
    );
    expect(gre.get(13)?.data.toString("hex")).toBe("02");
    expect(gre.get(15)?.data.toString("hex")).toBe("0100");
    const ipip = AttrMap.parse(encodeDest(key, { forwarding: "tun", weight: 1 }).toBuffer());
    expect([13, 14, 15].map((t) => ipip.has(t))).toEqual([false, false, false]);
    const dr = AttrMap.parse(
      encodeDest(key, { forwarding: "dr", weight: 1, tunnel: { type: "gue", port: 1 } }).toBuffer(),
    );
    expect(dr.has(13)).toBe(false);
  });

  it("writes every forwarding method's code", () => {
    const code = (forwarding: "nat" | "local" | "tun" | "dr" | "bypass") =>
      AttrMap.parse(encodeDest({ address: "10.0.0.21", port: 80 }, { forwarding, weight: 1 }).toBuffer()).u32(
        3,
      );
    expect(["nat", "local", "tun", "dr", "bypass"].map((f) => code(f as "nat"))).toEqual([0, 1, 2, 3, 4]);
  });

  it("rejects what the kernel would refuse", () => {
    const key = { address: "10.0.0.21", port: 80 };
    const bad = (o: object, af?: 2 | 10, k: object = key) =>
      thrown(() => encodeDest({ ...key, ...k }, { forwarding: "dr", weight: 1, ...o }, af));
    expect(hasCode(bad({ weight: -1 }), "IPVS_INVALID_DEST")).toBe(true);
    expect(hasCode(bad({ weight: 1.5 }), "IPVS_INVALID_DEST")).toBe(true);
    expect(hasCode(bad({ lowerThreshold: 10, upperThreshold: 5 }), "IPVS_INVALID_DEST")).toBe(true);
    expect(hasCode(bad({ lowerThreshold: 10 }), "IPVS_INVALID_DEST")).toBe(true);
    expect(hasCode(bad({ forwarding: "tun", tunnel: { type: "gue" } }), "IPVS_INVALID_DEST")).toBe(true);
    expect(
      hasCode(
        bad({ forwarding: "tun", tunnel: { type: "gre", flags: { remcsum: true } } }),
        "IPVS_INVALID_DEST",
      ),
    ).toBe(true);
    expect(hasCode(bad({ forwarding: "magic" }), "IPVS_INVALID_DEST")).toBe(true);
    expect(hasCode(bad({}, 10), "IPVS_INVALID_DEST")).toBe(true); // mixed family needs tun
    expect(() => encodeDest(key, { forwarding: "tun", weight: 1 }, 10)).not.toThrow();
    expect(hasCode(bad({}, undefined, { address: "10.0.0.256" }), "IPVS_INVALID_DEST")).toBe(true);
  });
});

describe("decodeService", () => {
  // A GET_SERVICE reply as the kernel builds it: nests without NLA_F_NESTED, HASHED set,
  // FLAGS mask ~0, STATS (u32 + u64 fields) and STATS64 (all u64, with PAD attributes).
  const reply = hex(`
    54 01 01 00                           # SERVICE nest: len 340, type 1, no NLA_F_NESTED
      06 00 01 00  02 00 00 00            #   AF: AF_INET
      06 00 02 00  06 00 00 00            #   PROTOCOL: tcp
      14 00 03 00  0a 00 00 64            #   ADDR: 10.0.0.100 ...
                   00 00 00 00 00 00 00 00
                   00 00 00 00            #     ... 16 bytes
      06 00 04 00  00 50 00 00            #   PORT: be16 80
      08 00 06 00  77 6c 63 00            #   SCHED_NAME: "wlc"
      0c 00 07 00  03 00 00 00            #   FLAGS: PERSISTENT | HASHED
                   ff ff ff ff            #     mask ~0
      08 00 08 00  2c 01 00 00            #   TIMEOUT: 300
      08 00 09 00  ff ff ff 00            #   NETMASK: 255.255.255.0
      5c 00 0a 00                         #   STATS: len 92, type 10
        08 00 01 00  05 00 00 00          #     CONNS 5
        08 00 02 00  32 00 00 00          #     INPKTS 50
        08 00 03 00  28 00 00 00          #     OUTPKTS 40
        0c 00 04 00  88 13 00 00 00 00 00 00   # INBYTES 5000 (u64)
        0c 00 05 00  a0 0f 00 00 00 00 00 00   # OUTBYTES 4000 (u64)
        08 00 06 00  01 00 00 00          #     CPS 1
        08 00 07 00  02 00 00 00          #     INPPS 2
        08 00 08 00  03 00 00 00          #     OUTPPS 3
        08 00 09 00  04 00 00 00          #     INBPS 4
        08 00 0a 00  05 00 00 00          #     OUTBPS 5
      a4 00 0c 00                         #   STATS64: len 164, type 12
        04 00 0b 00                       #     PAD
        0c 00 01 00  05 00 00 00 01 00 00 00   # CONNS 0x1_0000_0005: past 32 bits
        04 00 0b 00                       #     PAD
        0c 00 02 00  32 00 00 00 00 00 00 00   # INPKTS 50
        04 00 0b 00
        0c 00 03 00  28 00 00 00 00 00 00 00   # OUTPKTS 40
        04 00 0b 00
        0c 00 04 00  88 13 00 00 00 00 00 00   # INBYTES 5000
        04 00 0b 00
        0c 00 05 00  a0 0f 00 00 00 00 00 00   # OUTBYTES 4000
        04 00 0b 00
        0c 00 06 00  01 00 00 00 00 00 00 00   # CPS 1
        04 00 0b 00
        0c 00 07 00  02 00 00 00 00 00 00 00   # INPPS 2
        04 00 0b 00
        0c 00 08 00  03 00 00 00 00 00 00 00   # OUTPPS 3
        04 00 0b 00
        0c 00 09 00  04 00 00 00 00 00 00 00   # INBPS 4
        04 00 0b 00
        0c 00 0a 00  05 00 00 00 00 00 00 00   # OUTBPS 5
  `);

  it("decodes a kernel reply, masking HASHED and preferring STATS64", () => {
    expect(parseServiceReply(reply)).toEqual({
      key: { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.100", port: 80 },
      options: {
        scheduler: "wlc",
        flags: {
          persistent: true,
          onePacket: false,
          shFallback: false,
          shPort: false,
          mhFallback: false,
          mhPort: false,
        },
        timeout: 300,
        netmask: "255.255.255.0",
      },
      stats: {
        conns: 0x100000005n,
        inPkts: 50n,
        outPkts: 40n,
        inBytes: 5000n,
        outBytes: 4000n,
        cps: 1n,
        inPps: 2n,
        outPps: 3n,
        inBps: 4n,
        outBps: 5n,
      },
    });
  });

  it("falls back to STATS on kernels without STATS64", () => {
    // Same reply without the STATS64 nest (164 bytes), service length 340 - 164 = 176.
    const old = Buffer.concat([hex("b0 00 01 00"), reply.subarray(4, reply.length - 164)]);
    expect(parseServiceReply(old).stats?.conns).toBe(5n);
  });

  it("decodes fwmark services and names sh/mh flags after the scheduler", () => {
    const nest = hex(`
      06 00 01 00  0a 00 00 00            # AF: AF_INET6
      08 00 05 00  42 00 00 00            # FWMARK 66
      07 00 06 00  6d 68 00 00            # SCHED_NAME "mh" (len 7, padded)
      0c 00 07 00  3e 00 00 00 ff ff ff ff  # FLAGS: HASHED|ONEPACKET|SCHED1|SCHED2|SCHED3
      08 00 08 00  00 00 00 00            # TIMEOUT 0
      08 00 09 00  80 00 00 00            # NETMASK: prefix 128 (host order)
      08 00 0b 00  73 69 70 00            # PE_NAME "sip"
    `);
    expect(decodeService(AttrMap.parse(nest, "svc", IPVS_SVC_ATTR_NAMES))).toEqual({
      key: { kind: "fwmark", af: 10, fwmark: 66 },
      options: {
        scheduler: "mh",
        flags: {
          persistent: false,
          onePacket: true,
          shFallback: false,
          shPort: false,
          mhFallback: true,
          mhPort: true,
          schedBits: 0x20,
        },
        timeout: 0,
        netmask: 128,
        pe: "sip",
      },
    });
  });

  it("names the missing attribute", () => {
    const nest = hex(`
      06 00 01 00  02 00 00 00            # AF
      06 00 02 00  06 00 00 00            # PROTOCOL
      14 00 03 00  0a 00 00 64 00 00 00 00 00 00 00 00 00 00 00 00   # ADDR
      06 00 04 00  00 50 00 00            # PORT, and no SCHED_NAME
    `);
    const err = thrown(() => decodeService(AttrMap.parse(nest, "IPVS service", IPVS_SVC_ATTR_NAMES)));
    expect(hasCode(err, "NETLINK_ATTR_MISSING")).toBe(true);
    expect((err as Error).message).toContain("IPVS_SVC_ATTR_SCHED_NAME");
  });

  it("reports a protocol it cannot represent", () => {
    const nest = hex(`
      06 00 01 00  02 00 00 00
      06 00 02 00  21 00 00 00            # PROTOCOL 33 (DCCP)
    `);
    expect(
      hasCode(
        thrown(() => decodeService(AttrMap.parse(nest))),
        "IPVS_UNSUPPORTED",
      ),
    ).toBe(true);
  });

  it("rejects a short attribute with a length error naming it", () => {
    const nest = hex(`
      05 00 01 00  02 00 00 00            # AF with 1 byte
    `);
    const err = thrown(() => decodeService(AttrMap.parse(nest, "svc", IPVS_SVC_ATTR_NAMES)));
    expect(hasCode(err, "NETLINK_ATTR_LENGTH")).toBe(true);
    expect((err as Error).message).toContain("IPVS_SVC_ATTR_AF");
  });
});

describe("decodeDest", () => {
  // A GET_DEST dump message as ip_vs_genl_fill_dest builds it.
  const reply = hex(`
    94 00 02 00                           # DEST nest: len 148, type 2, no NLA_F_NESTED
      14 00 01 00  0a 00 00 15            #   ADDR: 10.0.0.21 ...
                   00 00 00 00 00 00 00 00
                   00 00 00 00            #     ... 16 bytes
      06 00 02 00  00 50 00 00            #   PORT: be16 80
      08 00 03 00  03 00 00 00            #   FWD_METHOD: DROUTE
      08 00 04 00  01 00 00 00            #   WEIGHT 1
      05 00 0d 00  00 00 00 00            #   TUN_TYPE: u8 0
      06 00 0e 00  00 00 00 00            #   TUN_PORT: 0
      06 00 0f 00  00 00 00 00            #   TUN_FLAGS: 0
      08 00 05 00  64 00 00 00            #   U_THRESH 100
      08 00 06 00  0a 00 00 00            #   L_THRESH 10
      08 00 07 00  07 00 00 00            #   ACTIVE_CONNS 7
      08 00 08 00  08 00 00 00            #   INACT_CONNS 8
      08 00 09 00  09 00 00 00            #   PERSIST_CONNS 9
      06 00 0b 00  02 00 00 00            #   ADDR_FAMILY: AF_INET
      1c 00 0c 00                         #   STATS64 (only some fields): len 28
        04 00 0b 00                       #     PAD
        0c 00 01 00  2a 00 00 00 00 00 00 00   # CONNS 42
        08 00 0b 00  00 00 00 00          #     a PAD with a payload is skipped too
  `);

  it("decodes a kernel reply", () => {
    expect(parseDestReply(reply, 2)).toEqual({
      key: { address: "10.0.0.21", port: 80, af: 2 },
      options: { forwarding: "dr", weight: 1, upperThreshold: 100, lowerThreshold: 10 },
      activeConns: 7,
      inactConns: 8,
      persistConns: 9,
      stats: {
        conns: 42n,
        inPkts: 0n,
        outPkts: 0n,
        inBytes: 0n,
        outBytes: 0n,
        cps: 0n,
        inPps: 0n,
        outPps: 0n,
        inBps: 0n,
        outBps: 0n,
      },
    });
  });

  it("decodes tunnel options and a destination of the other family", () => {
    const nest = hex(`
      14 00 01 00  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 21   # ADDR 2001:db8::21
      06 00 02 00  00 50 00 00            # PORT 80
      08 00 03 00  02 00 00 00            # FWD_METHOD: TUNNEL
      08 00 04 00  02 00 00 00            # WEIGHT 2
      05 00 0d 00  01 00 00 00            # TUN_TYPE: GUE
      06 00 0e 00  17 c0 00 00            # TUN_PORT: 6080
      06 00 0f 00  01 00 00 00            # TUN_FLAGS: CSUM
      06 00 0b 00  0a 00 00 00            # ADDR_FAMILY: AF_INET6 (service is AF_INET)
    `);
    expect(decodeDest(AttrMap.parse(nest, "dest", IPVS_DEST_ATTR_NAMES), 2)).toEqual({
      key: { address: "2001:db8::21", port: 80, af: 10 },
      options: {
        forwarding: "tun",
        weight: 2,
        upperThreshold: 0,
        lowerThreshold: 0,
        tunnel: { type: "gue", port: 6080, flags: { csum: true, remcsum: false } },
      },
    });
  });

  it("uses the service's family when ADDR_FAMILY is absent (older kernels)", () => {
    const nest = hex(`
      14 00 01 00  0a 00 00 16 00 00 00 00 00 00 00 00 00 00 00 00   # ADDR 10.0.0.22
      06 00 02 00  1f 90 00 00            # PORT 8080
      08 00 03 00  00 00 00 00            # FWD_METHOD: MASQ
      08 00 04 00  00 00 00 00            # WEIGHT 0
    `);
    expect(decodeDest(AttrMap.parse(nest), 2)).toEqual({
      key: { address: "10.0.0.22", port: 8080, af: 2 },
      options: { forwarding: "nat", weight: 0, upperThreshold: 0, lowerThreshold: 0 },
    });
  });
});

describe("flag mask", () => {
  it("makes the kernel's (old & ~mask) | (new & mask) land on exactly our flags", () => {
    // A service with PERSISTENT, HASHED and a bit from some future kernel (0x40) is SET to one-packet.
    const old = 0x1 | 0x2 | 0x40;
    const flags = AttrMap.parse(
      encodeService(WEB, { scheduler: "rr", flags: { onePacket: true } }).toBuffer(),
    ).bytes(7, 8)!;
    const [f, mask] = [flags.readUInt32LE(0), flags.readUInt32LE(4)];
    expect(mask).toBe(SVC_FLAGS_MASK);
    const result = ((old & ~mask) | (f & mask)) >>> 0;
    expect(result).toBe(0x4 | 0x2 | 0x40); // HASHED and the unknown bit kept, PERSISTENT gone
  });
});

describe("daemon and info", () => {
  it("encodes NEW_DAEMON attributes byte for byte", () => {
    expect(encodeDaemon({ state: "master", interface: "eth0", syncId: 51 }).toBuffer().toString("hex")).toBe(
      hex(`
        08 00 01 00  01 00 00 00          # STATE: IP_VS_STATE_MASTER
        09 00 02 00  65 74 68 30 00 00 00 00   # MCAST_IFN "eth0\\0", padded
        08 00 03 00  33 00 00 00          # SYNC_ID 51
      `).toString("hex"),
    );
    expect(encodeDaemonStop("backup").toBuffer().toString("hex")).toBe("0800010002000000");
  });

  it("encodes the optional fields with the kernel policy's types", () => {
    const m = AttrMap.parse(
      encodeDaemon({
        state: "backup",
        interface: "eth1",
        syncId: 1,
        maxLen: 1472,
        group: "224.0.0.81",
        port: 8848,
        ttl: 2,
      }).toBuffer(),
    );
    expect(m.get(4)?.data.toString("hex")).toBe("c005"); // SYNC_MAXLEN u16 1472
    expect(m.get(5)?.data.toString("hex")).toBe("e0000051"); // MCAST_GROUP in_addr
    expect(m.get(7)?.data.toString("hex")).toBe("9022"); // MCAST_PORT u16 host order
    expect(m.get(8)?.data.toString("hex")).toBe("02"); // MCAST_TTL u8
    const m6 = AttrMap.parse(
      encodeDaemon({ state: "master", interface: "eth1", syncId: 1, group: "ff02::1" }).toBuffer(),
    );
    expect(m6.get(6)?.data.toString("hex")).toBe("ff020000000000000000000000000001");
    expect(
      hasCode(
        thrown(() => encodeDaemon({ state: "master", interface: "x".repeat(16), syncId: 1 })),
        "IPVS_INVALID_DAEMON",
      ),
    ).toBe(true);
  });

  it("decodes a GET_DAEMON reply", () => {
    const nest = hex(`
      08 00 01 00  02 00 00 00            # STATE: backup
      09 00 02 00  65 74 68 31 00 00 00 00   # MCAST_IFN "eth1"
      08 00 03 00  07 00 00 00            # SYNC_ID 7
      06 00 04 00  c0 05 00 00            # SYNC_MAXLEN 1472
      06 00 07 00  90 22 00 00            # MCAST_PORT 8848
      05 00 08 00  01 00 00 00            # MCAST_TTL 1
      08 00 05 00  e0 00 00 51            # MCAST_GROUP 224.0.0.81
    `);
    expect(decodeDaemon(AttrMap.parse(nest, "daemon", IPVS_DAEMON_ATTR_NAMES))).toEqual({
      state: "backup",
      interface: "eth1",
      syncId: 7,
      maxLen: 1472,
      port: 8848,
      ttl: 1,
      group: "224.0.0.81",
    });
  });

  it("decodes GET_INFO", () => {
    const payload = hex(`
      08 00 01 00  01 02 01 00            # VERSION 0x010201
      08 00 02 00  00 10 00 00            # CONN_TAB_SIZE 4096
    `);
    expect(parseInfoReply(payload)).toEqual({ version: "1.2.1", versionCode: 0x010201, connTableSize: 4096 });
  });
});

describe("round trips", () => {
  it("decode(encode(service)) is the canonical service", () => {
    fc.assert(
      fc.property(anyService, ({ key, options }) => {
        const buf = encodeService(key, options).toBuffer();
        const decoded = decodeService(AttrMap.parse(buf, "svc", IPVS_SVC_ATTR_NAMES));
        const k = canonicalServiceKey(key);
        expect(decoded).toEqual({ key: k, options: canonicalServiceOptions(k.af, options) });
        // Canonical options encode to the same bytes: canonicalization loses nothing the kernel keeps.
        expect(encodeService(decoded.key, decoded.options).toBuffer().equals(buf)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("decode(encode(dest)) is the canonical destination", () => {
    fc.assert(
      fc.property(anyDest, ({ key, options }) => {
        const buf = encodeDest(key, options).toBuffer();
        const k = canonicalDestKey(key);
        const decoded = decodeDest(AttrMap.parse(buf, "dest", IPVS_DEST_ATTR_NAMES), k.af === 2 ? 10 : 2);
        expect(decoded).toEqual({ key: k, options: canonicalDestOptions(options) });
        expect(encodeDest(decoded.key, decoded.options).toBuffer().equals(buf)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

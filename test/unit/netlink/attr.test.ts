import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { AttrMap, AttrWriter, NLA_F_NESTED, parseAttrs } from "../../../src/netlink/attr.js";

function expectCoded(fn: () => unknown, code: string): VipdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VipdError);
    expect((err as VipdError).code).toBe(code);
    return err as VipdError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe("AttrWriter", () => {
  it("writes TLVs byte by byte with 4-byte padding", () => {
    const b = new AttrWriter()
      .u8(1, 0xab)
      .u16(2, 0x0102)
      .u32be(3, 0x0a000001)
      .string(4, "IPVS")
      .flag(5)
      .toBuffer();
    expect(b.toString("hex")).toBe(
      [
        "05000100ab000000", // u8: len 5, type 1, 0xab, padded to 8
        "0600020002010000", // u16 0x0102 little-endian, padded
        "080003000a000001", // u32 big-endian 10.0.0.1
        "090004004950565300000000", // "IPVS\0": len 9, padded to 12
        "04000500", // flag: header only
      ].join(""),
    );
  });

  it("sets NLA_F_NESTED on nests and the parser masks it", () => {
    const b = new AttrWriter().nested(1, (n) => n.u16(2, 80)).toBuffer();
    expect(b.toString("hex")).toBe("0c000180" + "06000200" + "50000000");
    const [a] = parseAttrs(b);
    expect(a).toMatchObject({ type: 1, nested: true });
    expect(new AttrMap([a!]).nested(1)?.u16(2)).toBe(80);
  });

  it("refuses a payload that cannot fit a u16 length", () => {
    expectCoded(() => new AttrWriter().bytes(1, Buffer.alloc(0x10000)), "NETLINK_ATTR_TOO_LONG");
  });
});

describe("parseAttrs / AttrMap", () => {
  it("round-trips any list of attributes", () => {
    const attr = fc.record({
      type: fc.integer({ min: 0, max: 0x3fff }),
      data: fc.uint8Array({ maxLength: 70 }),
    });
    fc.assert(
      fc.property(fc.array(attr, { maxLength: 12 }), (list) => {
        const w = new AttrWriter();
        for (const a of list) w.bytes(a.type, a.data);
        const out = parseAttrs(w.toBuffer());
        expect(out.map((a) => ({ type: a.type, data: [...a.data] }))).toEqual(
          list.map((a) => ({ type: a.type, data: [...a.data] })),
        );
      }),
    );
  });

  it("round-trips typed values", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.string({ maxLength: 30 }).filter((s) => !s.includes("\0")),
        (u8, u16, u32, u64, s) => {
          const b = new AttrWriter()
            .u8(1, u8)
            .u16(2, u16)
            .u16be(3, u16)
            .u32(4, u32)
            .u32be(5, u32)
            .u64(6, u64)
            .string(7, s)
            .toBuffer();
          const m = AttrMap.parse(b);
          expect([m.u8(1), m.u16(2), m.u16be(3), m.u32(4), m.u32be(5), m.u64(6), m.string(7)]).toEqual([
            u8,
            u16,
            u16,
            u32,
            u32,
            u64,
            s,
          ]);
        },
      ),
    );
  });

  it("rejects an attribute whose length overflows the buffer, with its offset", () => {
    const b = Buffer.from("08000100 01000000 2000 0200 00000000".replace(/ /g, ""), "hex");
    const e = expectCoded(() => parseAttrs(b, "test"), "NETLINK_MALFORMED");
    expect(e.context).toMatchObject({ offset: 8, length: 32, type: 2 });
  });

  it("rejects an attribute length shorter than its header", () => {
    expectCoded(() => parseAttrs(Buffer.from("0200010000000000", "hex")), "NETLINK_MALFORMED");
  });

  it("length-checks typed getters and names missing attributes", () => {
    const m = AttrMap.parse(new AttrWriter().u16(1, 5).toBuffer(), "svc", { 1: "PORT", 2: "ADDR" });
    const e = expectCoded(() => m.u32(1), "NETLINK_ATTR_LENGTH");
    expect(e.message).toContain("PORT");
    expect(m.u32(9)).toBeUndefined();
    expect(expectCoded(() => m.require(2, m.u32), "NETLINK_ATTR_MISSING").message).toContain("ADDR");
  });

  it("typed getters want the exact size: one byte too long is refused as well as one too short", () => {
    const getters = [
      ["u8", 1],
      ["u16", 2],
      ["u16be", 2],
      ["u32", 4],
      ["u32be", 4],
      ["u64", 8],
    ] as const;
    for (const [getter, size] of getters) {
      for (const length of [size - 1, size + 1]) {
        const m = AttrMap.parse(new AttrWriter().bytes(1, Buffer.alloc(length)).toBuffer(), "svc", {
          1: "X",
        });
        const e = expectCoded(() => m[getter](1), "NETLINK_ATTR_LENGTH");
        expect(e.message).toBe(`svc: X has ${length} bytes, expected ${size}`);
      }
      const ok = AttrMap.parse(new AttrWriter().bytes(1, Buffer.alloc(size, 1)).toBuffer(), "svc", {
        1: "X",
      });
      expect(ok[getter](1)).not.toBeUndefined();
    }
  });

  it("throws nothing but coded errors on arbitrary bytes, whatever is asked", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 8 }), (bytes, t) => {
        try {
          const m = AttrMap.parse(Buffer.from(bytes));
          m.u8(t);
          m.u16(t);
          m.u32(t);
          m.u64(t);
          m.string(t);
          m.bytes(t, 4);
          m.nested(t)?.u32(t);
        } catch (err) {
          return err instanceof VipdError;
        }
        return true;
      }),
    );
  });

  it("keeps NESTED and NET_BYTEORDER bits out of the type", () => {
    const b = Buffer.from("08000340" + "00500000", "hex"); // type 3 | NLA_F_NET_BYTEORDER
    const [a] = parseAttrs(b);
    expect(a).toMatchObject({ type: 3, nested: false, netByteOrder: true });
    expect(NLA_F_NESTED).toBe(0x8000);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import {
  decodeDone,
  decodeError,
  decodeExtAck,
  decodeMessages,
  type ExtAck,
  encodeDoneMessage,
  encodeErrorMessage,
  encodeExtAck,
  encodeMessage,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
} from "../../../src/netlink/message.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** Asserts that `fn` throws a VipdError with `code` (and nothing else: no TypeError/RangeError). */
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

/** Either returns or throws a VipdError; anything else fails the property. */
function onlyCoded(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    return err instanceof VipdError;
  }
}

// Captured from this machine's kernel (6.18) inside a throwaway netns, with a bare
// AF_NETLINK socket (NETLINK_EXT_ACK and NETLINK_CAP_ACK set unless noted) sending the
// request described and printing what recv() returned. test/lab/rtnetlink.test.ts checks
// the same behaviour end to end through vipd's own socket.
const REAL = {
  // RTM_NEWADDR 10.0.0.1/24 on ifindex 999: ENODEV with extack "ipv4: Device not found".
  enodev: hex(
    "40000000 0200 0003 01000000 1a1f0000 edffffff" +
      "28000000 1400 0506 01000000 00000000" +
      "1b00 0100 697076343a20446576696365206e6f7420666f756e64 0000",
  ),
  // RTM_NEWADDR with a 2-byte IFA_FLAGS: ERANGE, message, offset 32 and the u32 policy.
  policy: hex(
    "78000000020000030100000043 1f0000 deffffff 2800000014000506010000000000000027000100417474726962757465206661696c656420706f6c6963792076616c69646174696f6e00000800020020000000240004800c00040000000000000000000c000500ffffffff000000000800010004000000",
  ),
  // The same without NETLINK_CAP_ACK: the whole request (40 bytes) is echoed before the TLVs.
  policyUncapped: hex(
    "9000000002000002010000006c1f0000deffffff280000001400050601000000000000000218000001000000080002000a000001060008000100000027000100417474726962757465206661696c656420706f6c6963792076616c69646174696f6e00000800020020000000240004800c00040000000000000000000c000500ffffffff000000000800010004000000",
  ),
  // ACK of a GETFAMILY request (error 0, NLM_F_CAPPED).
  ack: hex("240000000200000101000000c81e00000000000020000000100005000100000000000000"),
  // NLMSG_DONE ending an RTM_GETADDR dump.
  done: hex("1400000003000200070000009f1e000000000000"),
};

describe("nlmsghdr codec", () => {
  it("encodes a header byte by byte, padding the payload to 4 bytes", () => {
    const b = encodeMessage({
      type: 0x10,
      flags: 0x0305,
      seq: 0x01020304,
      pid: 7,
      payload: Buffer.from([1, 2, 3]),
    });
    expect(b.toString("hex")).toBe(
      "13000000" + // nlmsg_len 19 (16 + 3, unpadded)
        "1000" + // type 0x10
        "0503" + // flags 0x0305
        "04030201" + // seq
        "07000000" + // pid
        "010203" +
        "00", // alignment padding
    );
  });

  it("defaults flags to NLM_F_REQUEST and concatenates payload parts", () => {
    const b = encodeMessage({ type: 20, payload: [Buffer.from([1, 2]), Buffer.from([3, 4])] });
    expect(b.toString("hex")).toBe("140000001400010000000000000000000102 0304".replace(" ", ""));
  });

  it("decodes several messages from one datagram", () => {
    const a = encodeMessage({ type: 16, flags: NLM_F_MULTI, seq: 5, pid: 9, payload: Buffer.from("abcde") });
    const b = encodeMessage({
      type: NLMSG_DONE,
      flags: NLM_F_MULTI,
      seq: 5,
      pid: 9,
      payload: Buffer.alloc(4),
    });
    const msgs = decodeMessages(Buffer.concat([a, b]));
    expect(msgs).toHaveLength(2);
    expect(msgs[0]!.header).toEqual({ length: 21, type: 16, flags: NLM_F_MULTI, seq: 5, pid: 9 });
    expect(msgs[0]!.payload.toString()).toBe("abcde");
    expect(msgs[1]!.header.type).toBe(NLMSG_DONE);
  });

  it("accepts a last message without trailing padding", () => {
    const a = encodeMessage({ type: 16, payload: Buffer.from("abc") });
    const msgs = decodeMessages(a.subarray(0, 19));
    expect(msgs[0]!.payload.toString()).toBe("abc");
  });

  it("decodes an empty datagram to no messages", () => {
    expect(decodeMessages(Buffer.alloc(0))).toEqual([]);
  });

  it("rejects a truncated header with its offset", () => {
    const good = encodeMessage({ type: 16, payload: Buffer.alloc(4) });
    const e = expectCoded(() => decodeMessages(Buffer.concat([good, Buffer.alloc(10)])), "NETLINK_MALFORMED");
    expect(e.context.offset).toBe(20);
    expect(e.message).toMatch(/offset 20/);
  });

  it("rejects a zero-length message instead of looping", () => {
    const e = expectCoded(() => decodeMessages(Buffer.alloc(16)), "NETLINK_MALFORMED");
    expect(e.context).toMatchObject({ offset: 0, length: 0 });
  });

  it("rejects a length that runs past the datagram", () => {
    const b = encodeMessage({ type: 16, payload: Buffer.alloc(8) });
    b.writeUInt32LE(100, 0);
    const e = expectCoded(() => decodeMessages(b), "NETLINK_MALFORMED");
    expect(e.context).toMatchObject({ offset: 0, length: 100, remaining: 24 });
  });

  it("round-trips any sequence of messages", () => {
    const msg = fc.record({
      type: fc.integer({ min: 0, max: 0xffff }),
      flags: fc.integer({ min: 0, max: 0xffff }),
      seq: fc.integer({ min: 0, max: 0xffffffff }),
      pid: fc.integer({ min: 0, max: 0xffffffff }),
      payload: fc.uint8Array({ maxLength: 64 }),
    });
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 8 }), (list) => {
        const buf = Buffer.concat(list.map((m) => encodeMessage({ ...m, payload: Buffer.from(m.payload) })));
        const out = decodeMessages(buf);
        expect(out).toHaveLength(list.length);
        out.forEach((o, i) => {
          const m = list[i]!;
          expect(o.header).toEqual({
            length: 16 + m.payload.length,
            type: m.type,
            flags: m.flags,
            seq: m.seq,
            pid: m.pid,
          });
          expect([...o.payload]).toEqual([...m.payload]);
        });
      }),
    );
  });

  it("throws nothing but coded errors on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => onlyCoded(() => decodeMessages(Buffer.from(b)))),
    );
  });
});

describe("NLMSG_ERROR", () => {
  it("decodes a real ENODEV with an extack message (capped)", () => {
    const [m] = decodeMessages(REAL.enodev);
    expect(m!.header).toMatchObject({ type: NLMSG_ERROR, flags: NLM_F_CAPPED | NLM_F_ACK_TLVS, seq: 1 });
    const e = decodeError(m!);
    expect(e.error).toBe(-19);
    expect(e.errno).toBe(19);
    expect(e.original).toEqual({ length: 40, type: 20, flags: 0x0605, seq: 1, pid: 0 });
    expect(e.originalPayload).toBeUndefined();
    expect(e.extack).toEqual({ message: "ipv4: Device not found" });
  });

  it("decodes a real policy violation: message, offset and policy", () => {
    const e = decodeError(decodeMessages(REAL.policy)[0]!);
    expect(e.errno).toBe(34);
    expect(e.extack).toEqual({
      message: "Attribute failed policy validation",
      offset: 32,
      policy: { type: "u32", minValue: 0n, maxValue: 0xffffffffn },
    });
  });

  it("skips the echoed request when the kernel did not cap it", () => {
    const [m] = decodeMessages(REAL.policyUncapped);
    expect(m!.header.flags).toBe(NLM_F_ACK_TLVS);
    const e = decodeError(m!);
    expect(e.errno).toBe(34);
    expect(e.originalPayload?.toString("hex")).toBe("0218000001000000080002000a0000010600080001000000");
    expect(e.extack.message).toBe("Attribute failed policy validation");
    expect(e.extack.offset).toBe(32);
  });

  it("decodes a real ACK", () => {
    const e = decodeError(decodeMessages(REAL.ack)[0]!);
    expect(e.errno).toBe(0);
    expect(e.original).toMatchObject({ type: 0x10, flags: 5, seq: 1 });
    expect(e.extack).toEqual({});
  });

  it("rejects short or impossible error payloads with coded errors", () => {
    const short = decodeMessages(encodeMessage({ type: NLMSG_ERROR, payload: Buffer.alloc(8) }))[0]!;
    expectCoded(() => decodeError(short), "NETLINK_MALFORMED");
    const positive = Buffer.alloc(20);
    positive.writeInt32LE(5, 0);
    expectCoded(
      () => decodeError(decodeMessages(encodeMessage({ type: NLMSG_ERROR, payload: positive }))[0]!),
      "NETLINK_MALFORMED",
    );
    // Not capped, but the echoed length is larger than what follows.
    const lying = Buffer.alloc(24);
    lying.writeInt32LE(-22, 0);
    lying.writeUInt32LE(200, 4);
    expectCoded(
      () => decodeError(decodeMessages(encodeMessage({ type: NLMSG_ERROR, flags: 0, payload: lying }))[0]!),
      "NETLINK_MALFORMED",
    );
    // TLV length overflowing the message.
    const badTlv = Buffer.concat([REAL.ack.subarray(16), Buffer.from([0xff, 0x00, 0x01, 0x00])]);
    expectCoded(
      () =>
        decodeError(
          decodeMessages(
            encodeMessage({ type: NLMSG_ERROR, flags: NLM_F_CAPPED | NLM_F_ACK_TLVS, payload: badTlv }),
          )[0]!,
        ),
      "NETLINK_MALFORMED",
    );
  });

  it("round-trips errors and extended acks through the encoder the fakes use", () => {
    const extack: fc.Arbitrary<ExtAck> = fc.record(
      {
        message: fc.string({ maxLength: 40 }).filter((s) => !s.includes("\0")),
        offset: fc.integer({ min: 0, max: 0xffffffff }),
        cookie: fc.uint8Array({ minLength: 1, maxLength: 20 }).map((u) => Buffer.from(u)),
        missingType: fc.integer({ min: 0, max: 0xffffffff }),
        missingNest: fc.integer({ min: 0, max: 0xffffffff }),
        policy: fc.record(
          {
            type: fc.constantFrom("u8", "u32", "string", "nested"),
            minValue: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
            maxValue: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
            minLength: fc.integer({ min: 0, max: 0xffffffff }),
            maxLength: fc.integer({ min: 0, max: 0xffffffff }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4095 }),
        fc.option(fc.uint8Array({ maxLength: 30 })),
        extack,
        (errno, echo, ext) => {
          const original = { length: 16 + (echo?.length ?? 0), type: 20, flags: 5, seq: 77, pid: 0 };
          const buf = encodeErrorMessage({
            errno,
            original,
            extack: ext,
            ...(echo ? { originalPayload: Buffer.from(echo) } : {}),
          });
          const e = decodeError(decodeMessages(buf)[0]!);
          expect(e.errno).toBe(errno);
          expect(e.original).toEqual(original);
          if (echo) expect([...(e.originalPayload ?? [])]).toEqual([...echo]);
          expect(e.extack).toEqual(ext);
          expect(decodeExtAck(encodeExtAck(ext))).toEqual(ext);
        },
      ),
    );
  });

  it("throws nothing but coded errors on arbitrary error payloads and flags", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 120 }), (flags, p) =>
        onlyCoded(() =>
          decodeError(
            decodeMessages(encodeMessage({ type: NLMSG_ERROR, flags, payload: Buffer.from(p) }))[0]!,
          ),
        ),
      ),
    );
  });
});

describe("NLMSG_DONE", () => {
  it("decodes a real DONE without error", () => {
    const [m] = decodeMessages(REAL.done);
    expect(m!.header).toMatchObject({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: 7 });
    expect(decodeDone(m!)).toEqual({ error: 0, errno: 0, extack: {} });
  });

  it("carries an errno and extack when the dump failed", () => {
    const m = decodeMessages(encodeDoneMessage({ seq: 3, errno: 16, extack: { message: "busy" } }))[0]!;
    expect(m.header.flags).toBe(NLM_F_MULTI | NLM_F_ACK_TLVS);
    expect(decodeDone(m)).toEqual({ error: -16, errno: 16, extack: { message: "busy" } });
  });

  it("treats a DONE without payload as success", () => {
    const m = decodeMessages(encodeMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI }))[0]!;
    expect(decodeDone(m).errno).toBe(0);
  });

  it("throws nothing but coded errors on arbitrary payloads", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 80 }), (flags, p) =>
        onlyCoded(() =>
          decodeDone(decodeMessages(encodeMessage({ type: NLMSG_DONE, flags, payload: Buffer.from(p) }))[0]!),
        ),
      ),
    );
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DnsRecordType } from "../../../src/config/types.js";
import {
  type DnsResponse,
  decodeResponse,
  encodeQuery,
  RECORD_TYPES,
  rcodeName,
} from "../../../src/health/dns-message.js";
import { dnsReply, wireName } from "./checkers/dnsmasq.js";

/** A header: id 0xabcd, QR RD RA, the given rcode and counts. */
function header(counts: { qd?: number; an?: number } = {}, rcode = 0): number[] {
  const { qd = 0, an = 0 } = counts;
  return [0xab, 0xcd, 0x81, 0x80 | rcode, 0, qd, 0, an, 0, 0, 0, 0];
}

const decoded = (bytes: number[] | Buffer) => decodeResponse(Buffer.from(bytes)) as DnsResponse;
const errorOf = (bytes: number[] | Buffer) =>
  (decodeResponse(Buffer.from(bytes)) as { error?: string }).error;

describe("encodeQuery", () => {
  it("writes `example.com A` as RFC 1035 §4.1 lays it out", () => {
    // biome-ignore format: one row per field
    const expected = [
      0x12, 0x34, // ID
      0x01, 0x00, // QR=0 OPCODE=0 AA=0 TC=0 RD=1 | RA=0 Z=0 RCODE=0
      0x00, 0x01, // QDCOUNT
      0x00, 0x00, // ANCOUNT
      0x00, 0x00, // NSCOUNT
      0x00, 0x00, // ARCOUNT
      0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, // 7 "example"
      0x03, 0x63, 0x6f, 0x6d, // 3 "com"
      0x00, // the root
      0x00, 0x01, // QTYPE A
      0x00, 0x01, // QCLASS IN
    ];
    expect([...encodeQuery({ id: 0x1234, name: "example.com", recordType: "A" })]).toEqual(expected);
    expect(encodeQuery({ id: 0x1234, name: "example.com.", recordType: "A" })).toEqual(Buffer.from(expected));
  });

  it("numbers the record types as IANA does", () => {
    const q = (t: DnsRecordType) => encodeQuery({ id: 0, name: "x", recordType: t }).readUInt16BE(15);
    expect([q("A"), q("NS"), q("CNAME"), q("SOA"), q("PTR"), q("MX"), q("TXT"), q("AAAA"), q("SRV")]).toEqual(
      [1, 2, 5, 6, 12, 15, 16, 28, 33],
    );
  });

  it("encodes the root as a single zero byte", () => {
    expect([...encodeQuery({ id: 1, name: ".", recordType: "NS" }).subarray(12)]).toEqual([0, 0, 2, 0, 1]);
  });

  it("refuses names it cannot encode", () => {
    const enc =
      (name: string, id = 1) =>
      () =>
        encodeQuery({ id, name, recordType: "A" });
    expect(enc("a..b")).toThrow(RangeError);
    expect(enc(`${"a".repeat(64)}.test`)).toThrow(/longer than 63/);
    expect(enc(`${"a".repeat(63)}.test`)).not.toThrow();
    expect(enc(Array(128).fill("a").join("."))).toThrow(/longer than 255/); // 128 × 2 + 1 bytes
    expect(enc(Array(127).fill("a").join("."))).not.toThrow(); // 255 bytes
    expect(enc("bücher.test")).toThrow(/ASCII/);
    expect(enc("a b.test")).toThrow(/ASCII/);
    expect(enc("a\\.b.test")).toThrow(/ASCII/);
    expect(enc("x", 65536)).toThrow(/0\.\.65535/);
  });
});

describe("decodeResponse", () => {
  it("round-trips a query turned into a reply", () => {
    const q = encodeQuery({ id: 0xbeef, name: "rs1.example.test", recordType: "AAAA" });
    q[2]! |= 0x80; // QR
    expect(decodeResponse(q)).toEqual({
      id: 0xbeef,
      rcode: "NOERROR",
      truncated: false,
      questions: [{ name: "rs1.example.test", type: 28, class: 1 }],
      answers: [],
    });
  });

  it("decodes answers, following compression pointers", () => {
    const bytes = [
      ...header({ qd: 1, an: 2 }),
      ...wireName("rs1.test"), // offset 12
      0,
      1,
      0,
      1,
      0xc0,
      12, // the question's name
      0,
      5,
      0,
      1,
      0,
      0,
      0x0e,
      0x10,
      0,
      6,
      3,
      0x77,
      0x77,
      0x77,
      0xc0,
      16, // CNAME www.test
      3,
      0x77,
      0x77,
      0x77,
      0xc0,
      16, // www + pointer to "test" in the question
      0,
      1,
      0,
      1,
      0,
      0,
      0,
      60,
      0,
      4,
      192,
      0,
      2,
      10,
    ];
    const r = decoded(bytes);
    expect(r.questions).toEqual([{ name: "rs1.test", type: 1, class: 1 }]);
    expect(r.answers).toEqual([
      { name: "rs1.test", type: 5, class: 1, ttl: 3600, data: Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 16]) },
      { name: "www.test", type: 1, class: 1, ttl: 60, data: Buffer.from([192, 0, 2, 10]) },
    ]);
  });

  it("names the rcodes", () => {
    const rcodes = [0, 1, 2, 3, 4, 5, 9].map((n) => decoded(header({}, n)).rcode);
    expect(rcodes).toEqual(["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "RCODE9"]);
    expect(rcodeName(15)).toBe("RCODE15");
  });

  it("keeps a truncated reply's whole records when its count promises more", () => {
    const reply = dnsReply({
      id: 7,
      truncated: true,
      question: { name: "big.test", type: RECORD_TYPES.TXT },
      answers: [{ name: "big.test", type: RECORD_TYPES.TXT, data: Buffer.from("\x02hi") }],
      extraAnswerCount: 5,
    });
    const r = decoded(reply);
    expect(r.truncated).toBe(true);
    expect(r.answers).toHaveLength(1);
  });

  it("writes bytes that are not printable, and dots inside a label, as \\DDD", () => {
    const bytes = [...header({ qd: 1 }), 3, 0x61, 0x2e, 0x62, 2, 0x00, 0x5c, 0, 0, 1, 0, 1];
    expect(decoded(bytes).questions[0]!.name).toBe("a\\046b.\\000\\092");
  });

  describe("rejects, without throwing", () => {
    const answerA = [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 10];
    const cases: [what: string, bytes: number[], error: RegExp][] = [
      ["an empty datagram", [], /truncated header \(0 bytes\)/],
      ["a truncated header", header().slice(0, 11), /truncated header \(11 bytes\)/],
      ["a query (QR clear)", [0, 1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0], /not a response/],
      ["another opcode", [0, 1, 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0], /opcode 2/],
      ["a pointer to itself", [...header({ qd: 1 }), 0xc0, 12, 0, 1, 0, 1], /does not point backwards/],
      [
        "a pointer back into its own labels",
        [...header({ qd: 1 }), 1, 0x61, 0xc0, 12, 0, 1, 0, 1],
        /does not point backwards/,
      ],
      [
        "two pointers in a loop",
        [...header({ qd: 1, an: 1 }), 1, 0x61, 0xc0, 18, 0, 1, 0, 1, 1, 0x62, 0xc0, 12, ...answerA],
        /does not point backwards/,
      ],
      ["a pointer out of range", [...header({ qd: 1 }), 0xc0, 0xff, 0, 1, 0, 1], /out of range/],
      ["a cut pointer", [...header({ qd: 1 }), 0xc0], /pointer runs past the end/],
      [
        "a label too long",
        [...header({ qd: 1 }), 64, ...Array(64).fill(0x61), 0, 0, 1, 0, 1],
        /label length 64/,
      ],
      ["an extended label type", [...header({ qd: 1 }), 0x41, 0, 0, 0, 1, 0, 1], /label length 65/],
      ["a cut label", [...header({ qd: 1 }), 5, 0x61, 0x62], /label runs past the end/],
      [
        "a name over 255 bytes",
        [
          ...header({ qd: 1 }),
          ...Array(4)
            .fill([63, ...Array(63).fill(0x61)])
            .flat(),
          0,
          0,
          1,
          0,
          1,
        ],
        /name longer than 255/,
      ],
      ["a cut question", [...header({ qd: 1 }), 0, 0, 1], /question 1 of 1 runs past/],
      ["more questions than present", [...header({ qd: 2 }), 0, 0, 1, 0, 1], /name runs past the end/],
      [
        "more answers than present",
        [...header({ qd: 1, an: 3 }), 0, 0, 1, 0, 1, 0, ...answerA],
        /answer count 3, but the message ends after 1/,
      ],
      ["a cut answer", [...header({ an: 1 }), 0, 0, 1, 0, 1, 0, 0], /answer 1 of 1 runs past/],
      [
        "answer data longer than the message",
        [...header({ an: 1 }), 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 9, 192, 0, 2, 10],
        /answer 1 of 1 data runs past/,
      ],
    ];
    it.each(cases)("%s", (_what, bytes, error) => {
      expect(errorOf(bytes)).toMatch(error);
    });
  });

  it("never throws, whatever the bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = decodeResponse(bytes);
        expect("error" in r || typeof r.id === "number").toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on a plausible header followed by random bytes, or on a good reply mutated", () => {
    const good = dnsReply({
      id: 9,
      question: { name: "rs1.test", type: 1 },
      answers: [{ name: "rs1.test", type: 1, data: Buffer.from([192, 0, 2, 10]) }],
    });
    const plausible = fc
      .tuple(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 4 }),
        fc.uint8Array({ maxLength: 300 }),
      )
      .map(([qd, an, rest]) => Buffer.concat([Buffer.from(header({ qd, an })), rest]));
    const mutated = fc
      .tuple(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }))),
        fc.nat(good.length),
      )
      .map(([edits, cut]) => {
        const b = Buffer.from(good);
        for (const [at, value] of edits) b[at] = value;
        return b.subarray(0, cut);
      });
    fc.assert(
      fc.property(fc.oneof(plausible, mutated), (bytes) => {
        const r = decodeResponse(bytes);
        expect("error" in r || Array.isArray(r.answers)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it("accepts a Uint8Array view into a larger buffer", () => {
    const reply = dnsReply({ id: 3, question: { name: "a.test", type: 1 } });
    const backing = new Uint8Array(reply.length + 8);
    backing.set(reply, 4);
    expect(decodeResponse(backing.subarray(4, 4 + reply.length))).toMatchObject({ id: 3 });
  });
});

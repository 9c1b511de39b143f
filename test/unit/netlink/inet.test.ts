import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { formatIp, formatMac, parseCidr, parseIp } from "../../../src/netlink/inet.js";

describe("IP text <-> bytes", () => {
  it("parses and formats IPv4", () => {
    expect(parseIp("10.0.0.1")).toEqual({
      family: "inet",
      bytes: Buffer.from([10, 0, 0, 1]),
      address: "10.0.0.1",
    });
  });

  it("formats IPv6 per RFC 5952", () => {
    const cases: Array<[string, string]> = [
      ["fd00::1", "fd00::1"],
      ["FD00:0:0:0:0:0:0:1", "fd00::1"],
      ["::", "::"],
      ["::1", "::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
      ["::ffff:10.1.2.3", "::ffff:10.1.2.3"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ];
    for (const [input, want] of cases) expect(parseIp(input).address, input).toBe(want);
  });

  it("parses CIDRs and defaults to a host prefix", () => {
    expect(parseCidr("10.0.0.100/24")).toMatchObject({
      family: "inet",
      prefixLength: 24,
      cidr: "10.0.0.100/24",
    });
    expect(parseCidr("fd00::0001/64").cidr).toBe("fd00::1/64");
    expect(parseCidr("10.0.0.1").prefixLength).toBe(32);
    expect(parseCidr("fd00::1").prefixLength).toBe(128);
  });

  it("rejects bad text with a coded error", () => {
    for (const bad of [
      "10.0.0",
      "10.0.0.256",
      "1::2::3",
      "fe80::1%eth0",
      "12345::",
      "10.0.0.1/33",
      "fd00::/129",
      "x",
    ]) {
      let err: unknown;
      try {
        parseCidr(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(VipdError);
      expect((err as VipdError).code).toBe("NETLINK_BAD_ADDRESS");
    }
  });

  it("round-trips any 16 bytes, and agrees with the WHATWG URL parser", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const text = formatIp(b);
        expect([...parseIp(text).bytes]).toEqual([...b]);
        if (!text.includes(".")) expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
      }),
    );
  });

  it("formats link-layer addresses", () => {
    expect(formatMac(Buffer.from([2, 0, 0, 0, 0, 0x1f]))).toBe("02:00:00:00:00:1f");
  });
});

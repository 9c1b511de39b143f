import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatIp, ipFamilyOf, parseIpBytes, parseIpv4, parseIpv6 } from "../../../src/net/ip.js";

describe("IP address text and bytes", () => {
  it("parses dotted quads and refuses leading zeros, which inet_aton would read as octal", () => {
    expect(parseIpv4("10.0.0.100")?.toString("hex")).toBe("0a000064");
    for (const bad of ["010.0.0.1", "1.2.3", "1.2.3.256", "1.2.3.4.5", "a.b.c.d", ""]) {
      expect(parseIpv4(bad)).toBeNull();
    }
  });

  it("parses IPv6 with '::', a dotted-quad tail, and refuses zones and malformed text", () => {
    expect(parseIpv6("2001:db8::1")?.toString("hex")).toBe("20010db8000000000000000000000001");
    expect(parseIpv6("::ffff:192.0.2.1")?.toString("hex")).toBe("00000000000000000000ffffc0000201");
    for (const bad of ["fe80::1%eth0", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "g::1", ""]) {
      expect(parseIpv6(bad)).toBeNull();
    }
  });

  it("formats IPv6 per RFC 5952", () => {
    const f = (t: string) => formatIp(parseIpv6(t)!);
    expect(f("2001:0DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(f("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1"); // one zero group stays
    expect(f("2001:0:0:1:0:0:0:1")).toBe("2001:0:0:1::1"); // the longest run
    expect(f("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1"); // the first of equal runs
    expect(f("::ffff:c000:201")).toBe("::ffff:192.0.2.1");
    expect(() => formatIp(new Uint8Array(5))).toThrow(/4 or 16 bytes/);
  });

  it("round-trips every address: parse(format(bytes)) = bytes", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (bytes) => {
          const parsed = parseIpBytes(formatIp(bytes));
          expect(parsed?.bytes).toEqual(Buffer.from(bytes));
          expect(parsed?.family).toBe(bytes.length === 4 ? "inet" : "inet6");
        },
      ),
    );
  });

  it("tells the family or null", () => {
    expect(ipFamilyOf("192.0.2.1")).toBe("inet");
    expect(ipFamilyOf("fd00::1")).toBe("inet6");
    expect(ipFamilyOf("example.com")).toBeNull();
  });
});

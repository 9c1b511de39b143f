import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasCode } from "../../../src/errors.js";
import {
  canonicalAddress,
  canonicalDestKey,
  canonicalServiceKey,
  destKeyString,
  formatAddress,
  parseAddress,
  serviceKeyString,
} from "../../../src/ipvs/types.js";

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("addresses", () => {
  it.each([
    ["10.0.0.1", "10.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:0db8::0001", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run is
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // on a tie, the first
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["::ffff:c000:0201", "::ffff:192.0.2.1"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ])("canonical form of %s is %s", (input, out) => {
    expect(canonicalAddress(input)).toBe(out);
  });

  it.each([
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.04",
    "1..2.3",
    "1.2.3.4.",
    ".1.2.3",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.-4",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1::2::3",
    "1:2:3:4:5:6:7::8",
    "fe80::1%eth0",
    "1.2.3.4::",
    "1:1.2.3.4::",
    "12345::",
    "g::1",
    "example.com",
  ])("rejects %j with IPVS_INVALID_ADDRESS", (input) => {
    expect(
      hasCode(
        thrown(() => parseAddress(input)),
        "IPVS_INVALID_ADDRESS",
      ),
    ).toBe(true);
  });

  it("checks the family when asked, also for an address it has seen before", () => {
    expect(canonicalAddress("10.0.0.9")).toBe("10.0.0.9");
    expect(
      hasCode(
        thrown(() => canonicalAddress("10.0.0.9", 10)),
        "IPVS_INVALID_ADDRESS",
      ),
    ).toBe(true);
    expect(canonicalAddress("2001:DB8::9", 10)).toBe("2001:db8::9");
    expect(
      hasCode(
        thrown(() => canonicalAddress("2001:DB8::9", 2)),
        "IPVS_INVALID_ADDRESS",
      ),
    ).toBe(true);
  });

  it("checks the family when asked", () => {
    expect(parseAddress("10.0.0.1", 2).bytes.toString("hex")).toBe("0a000001");
    expect(
      hasCode(
        thrown(() => parseAddress("10.0.0.1", 10)),
        "IPVS_INVALID_ADDRESS",
      ),
    ).toBe(true);
    expect(
      hasCode(
        thrown(() => parseAddress("::1", 2)),
        "IPVS_INVALID_ADDRESS",
      ),
    ).toBe(true);
  });

  it("IPv4 round-trips through bytes", () => {
    fc.assert(
      fc.property(fc.ipV4(), (a) => {
        const p = parseAddress(a);
        expect(p.af).toBe(2);
        expect(formatAddress(2, p.bytes)).toBe(a);
      }),
    );
  });

  it("IPv6 canonical form agrees with the WHATWG URL serializer and round-trips", () => {
    fc.assert(
      fc.property(fc.ipV6(), (a) => {
        const p = parseAddress(a);
        expect(p.af).toBe(10);
        const c = formatAddress(10, p.bytes);
        expect(parseAddress(c).bytes.equals(p.bytes)).toBe(true);
        expect(canonicalAddress(c)).toBe(c);
        // URL renders IPv4-mapped addresses in hex; compare the rest.
        if (!c.startsWith("::ffff:") || !c.includes(".")) {
          expect(new URL(`http://[${a}]/`).hostname).toBe(`[${c}]`);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("keys", () => {
  it("spells service keys for humans and maps", () => {
    expect(serviceKeyString({ kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.100", port: 80 })).toBe(
      "tcp 10.0.0.100:80",
    );
    expect(
      serviceKeyString({ kind: "inet", af: 10, protocol: "tcp", address: "2001:DB8::0:1", port: 80 }),
    ).toBe("tcp [2001:db8::1]:80");
    expect(serviceKeyString({ kind: "fwmark", af: 2, fwmark: 66 })).toBe("fwmark 66 (inet)");
    expect(serviceKeyString({ kind: "fwmark", af: 10, fwmark: 66 })).toBe("fwmark 66 (inet6)");
    // A bad address is still described, not thrown on.
    expect(serviceKeyString({ kind: "inet", af: 2, protocol: "udp", address: "bogus", port: 53 })).toBe(
      "udp bogus:53",
    );
  });

  it("spells destination keys", () => {
    expect(destKeyString({ address: "10.0.0.21", port: 80 })).toBe("10.0.0.21:80");
    expect(destKeyString({ address: "2001:db8:0::21", port: 80 })).toBe("[2001:db8::21]:80");
  });

  it("canonicalizes keys and rejects bad ones", () => {
    expect(
      canonicalServiceKey({ kind: "inet", af: 10, protocol: "udp", address: "2001:DB8::1", port: 53 }),
    ).toEqual({
      kind: "inet",
      af: 10,
      protocol: "udp",
      address: "2001:db8::1",
      port: 53,
    });
    expect(canonicalDestKey({ address: "2001:DB8::21", port: 80 })).toEqual({
      address: "2001:db8::21",
      port: 80,
      af: 10,
    });
    const bad = [
      { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.1", port: -1 },
      { kind: "inet", af: 2, protocol: "icmp", address: "10.0.0.1", port: 1 },
      { kind: "inet", af: 7, protocol: "tcp", address: "10.0.0.1", port: 1 },
      { kind: "fwmark", af: 2, fwmark: 0 },
      { kind: "fwmark", af: 2, fwmark: 2 ** 32 },
    ];
    for (const k of bad) {
      expect(
        hasCode(
          thrown(() => canonicalServiceKey(k as never)),
          "IPVS_INVALID_SERVICE",
        ),
      ).toBe(true);
    }
    expect(
      hasCode(
        thrown(() =>
          canonicalServiceKey({ kind: "inet", af: 10, protocol: "tcp", address: "10.0.0.1", port: 1 }),
        ),
        "IPVS_INVALID_ADDRESS",
      ),
    ).toBe(true);
    expect(
      hasCode(
        thrown(() => canonicalDestKey({ address: "10.0.0.1", port: 70000 })),
        "IPVS_INVALID_DEST",
      ),
    ).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import {
  canonicalIp,
  formatEndpoint,
  ipFamily,
  netmaskToPrefix,
  nonUnicastReason,
  parseEndpoint,
  parseIpPrefix,
  parseListenAddress,
} from "../../../src/config/net.js";

describe("ipFamily / canonicalIp", () => {
  it("recognises plain IPv4 and IPv6 literals only", () => {
    expect(ipFamily("10.0.0.1")).toBe(4);
    expect(ipFamily("2001:db8::1")).toBe(6);
    expect(ipFamily("010.0.0.1")).toBe(0);
    expect(ipFamily("fe80::1%eth0")).toBe(0);
    expect(ipFamily("example.com")).toBe(0);
  });

  it("compresses and lower-cases IPv6", () => {
    expect(canonicalIp("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(canonicalIp("10.0.0.1")).toBe("10.0.0.1");
  });
});

describe("parseIpPrefix", () => {
  it("parses CIDRs and gives bare addresses a host prefix", () => {
    expect(parseIpPrefix("10.0.0.100/24")).toEqual({
      ok: true,
      value: { address: "10.0.0.100", prefixLength: 24, family: 4 },
    });
    expect(parseIpPrefix("10.0.0.100")).toMatchObject({ value: { prefixLength: 32 } });
    expect(parseIpPrefix("2001:db8::1")).toMatchObject({ value: { prefixLength: 128, family: 6 } });
  });

  it("keeps host bits (a VIP is a host address with its subnet's prefix)", () => {
    expect(parseIpPrefix("10.0.0.100/8")).toMatchObject({
      value: { address: "10.0.0.100", prefixLength: 8 },
    });
  });

  it("rejects bad prefixes", () => {
    expect(parseIpPrefix("10.0.0.1/0")).toEqual({
      ok: false,
      reason: "'10.0.0.1/0' has prefix length 0; IPv4 allows 1..32",
    });
    expect(parseIpPrefix("2001:db8::1/129")).toMatchObject({ ok: false });
    expect(parseIpPrefix("10.0.0.1/")).toMatchObject({ ok: false });
    expect(parseIpPrefix("10.0.0.1/24/1")).toMatchObject({ ok: false });
  });
});

describe("nonUnicastReason", () => {
  it("refuses special addresses", () => {
    expect(nonUnicastReason("0.0.0.0", 4, true)).toBe("is the unspecified address");
    expect(nonUnicastReason("255.255.255.255", 4, true)).toBe("is the broadcast address");
    expect(nonUnicastReason("239.1.1.1", 4, true)).toBe("is a multicast address");
    expect(nonUnicastReason("127.0.0.1", 4, false)).toBe("is a loopback address");
    expect(nonUnicastReason("127.0.0.1", 4, true)).toBeUndefined();
    expect(nonUnicastReason("ff02::12", 6, true)).toBe("is a multicast address");
    expect(nonUnicastReason("::", 6, true)).toBe("is the unspecified address");
    expect(nonUnicastReason("10.0.0.1", 4, false)).toBeUndefined();
  });
});

describe("parseEndpoint", () => {
  it("parses address:port and [v6]:port", () => {
    expect(parseEndpoint("10.0.0.50:80")).toEqual({
      ok: true,
      value: { address: "10.0.0.50", port: 80, family: 4 },
    });
    expect(parseEndpoint("[2001:DB8::50]:8080")).toEqual({
      ok: true,
      value: { address: "2001:db8::50", port: 8080, family: 6 },
    });
  });

  it("rejects missing ports, bad ports and unbracketed IPv6", () => {
    expect(parseEndpoint("10.0.0.50")).toMatchObject({
      ok: false,
      reason: "'10.0.0.50' has no port (expected address:port)",
    });
    expect(parseEndpoint("10.0.0.50:0")).toMatchObject({
      reason: "'10.0.0.50:0' has port 0; ports are 1..65535",
    });
    expect(parseEndpoint("10.0.0.50:http")).toMatchObject({
      reason: "'10.0.0.50:http' has an invalid port 'http'",
    });
    expect(parseEndpoint("2001:db8::50:80")).toMatchObject({ ok: false });
    expect(parseEndpoint("host:80")).toMatchObject({ reason: "'host:80' does not start with an IP address" });
  });

  it("formats endpoints back", () => {
    expect(formatEndpoint("10.0.0.1", 80)).toBe("10.0.0.1:80");
    expect(formatEndpoint("2001:db8::1", 80)).toBe("[2001:db8::1]:80");
  });
});

describe("parseListenAddress", () => {
  it("accepts IP literals and host names", () => {
    expect(parseListenAddress("127.0.0.1:9717")).toEqual({
      ok: true,
      value: { host: "127.0.0.1", port: 9717 },
    });
    expect(parseListenAddress("[::1]:9717")).toEqual({ ok: true, value: { host: "::1", port: 9717 } });
    expect(parseListenAddress("localhost:9717")).toEqual({
      ok: true,
      value: { host: "localhost", port: 9717 },
    });
    expect(parseListenAddress("bad host:1")).toMatchObject({ ok: false });
  });
});

describe("netmaskToPrefix", () => {
  it("converts contiguous masks only", () => {
    expect(netmaskToPrefix("255.255.255.0")).toBe(24);
    expect(netmaskToPrefix("255.255.255.255")).toBe(32);
    expect(netmaskToPrefix("0.0.0.0")).toBe(0);
    expect(netmaskToPrefix("255.0.255.0")).toBeUndefined();
    expect(netmaskToPrefix("24")).toBeUndefined();
  });
});

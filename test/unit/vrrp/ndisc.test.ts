import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { parseMac } from "../../../src/vrrp/arp.js";
import { ALL_NODES, buildUnsolicitedNa, icmpv6Checksum, NA_LEN } from "../../../src/vrrp/ndisc.js";
import { ipToBytes } from "../../../src/vrrp/packet.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** ICMPv6 checksum computed independently: the one's-complement sum as a sum modulo 0xffff. */
function independentIcmpv6Checksum(msg: Buffer, src: string, dst: string): number {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length);
  const zeroed = Buffer.from(msg);
  zeroed.writeUInt16BE(0, 2);
  const data = Buffer.concat([ipToBytes(src), ipToBytes(dst), len, Buffer.from([0, 0, 0, 58]), zeroed]);
  let total = 0;
  for (let i = 0; i < data.length; i++) total += data[i]! * (i % 2 === 0 ? 256 : 1);
  const m = total % 0xffff;
  return 0xffff - (m === 0 && total !== 0 ? 0xffff : m);
}

describe("buildUnsolicitedNa", () => {
  it("matches the NA keepalived 2.2.7 sends (captured: fd00:99::100 → ff02::1, checksum 0x5762, tcpdump: sum ok)", () => {
    const mac = parseMac("02:00:00:00:00:0a");
    const captured = hex(`
      88 00 5762 20 000000
      fd00 0099 0000 0000 0000 0000 0000 0100
      02 01 02000000000a`);
    expect(buildUnsolicitedNa(mac, "fd00:99::100", { src: "fd00:99::100", dst: ALL_NODES })).toEqual(
      captured,
    );
    expect(independentIcmpv6Checksum(captured, "fd00:99::100", ALL_NODES)).toBe(0x5762);
    // For a raw ICMPv6 socket the kernel computes the checksum: the field is left zero.
    const forKernel = buildUnsolicitedNa(mac, "fd00:99::100");
    expect(forKernel.readUInt16BE(2)).toBe(0);
    expect(Buffer.concat([forKernel.subarray(0, 2), forKernel.subarray(4)])).toEqual(
      Buffer.concat([captured.subarray(0, 2), captured.subarray(4)]),
    );
    expect(forKernel.length).toBe(NA_LEN);
  });

  it("Router flag vector (checksum 0x782a, verified by tcpdump -vv: [icmp6 sum ok])", () => {
    const na = buildUnsolicitedNa(parseMac("02:00:00:00:00:0b"), "2001:db8:5::77", {
      router: true,
      src: "2001:db8:5::77",
    });
    expect(na).toEqual(
      hex("8800 782a a000 0000 2001 0db8 0005 0000 0000 0000 0000 0077 0201 0200 0000 000b"),
    );
  });

  it("Router flag on request (0xa0 = Router + Override), never Solicited", () => {
    const na = buildUnsolicitedNa(parseMac("00:00:5e:00:02:01"), "2001:db8::1", { router: true });
    expect(na[4]).toBe(0xa0);
    expect(buildUnsolicitedNa(parseMac("00:00:5e:00:02:01"), "2001:db8::1")[4]).toBe(0x20);
  });

  it("checksum agrees with an independent computation for any MAC, target, source", () => {
    const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
      const words = [];
      for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
      return words.join(":");
    });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), v6, v6, (mac, target, src) => {
        const na = buildUnsolicitedNa(mac, target, { src });
        expect(na.readUInt16BE(2)).toBe(independentIcmpv6Checksum(na, src, ALL_NODES));
        expect(icmpv6Checksum(na, src, ALL_NODES)).toBe(na.readUInt16BE(2));
        expect(na.subarray(8, 24)).toEqual(ipToBytes(target));
        expect(na.subarray(26, 32)).toEqual(Buffer.from(mac));
      }),
    );
  });

  it("rejects a bad MAC or a non-IPv6 target", () => {
    expect(() => buildUnsolicitedNa(Buffer.alloc(8), "::1")).toThrow(VipdError);
    expect(() => buildUnsolicitedNa(Buffer.alloc(6), "10.0.0.1")).toThrow(VipdError);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { buildGratuitousArp, GARP_FRAME_LEN, parseMac } from "../../../src/vrrp/arp.js";
import { formatIp } from "../../../src/vrrp/packet.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("buildGratuitousArp", () => {
  it("matches the frame keepalived 2.2.7 sends (captured: MAC 02:00:00:00:00:0a, VIP 10.99.0.53)", () => {
    const frame = buildGratuitousArp(parseMac("02:00:00:00:00:0a"), "10.99.0.53");
    expect(frame).toEqual(
      hex(`
        ffffffffffff 02000000000a 0806
        0001 0800 06 04 0001
        02000000000a 0a630035
        ffffffffffff 0a630035`),
    );
    expect(frame.length).toBe(GARP_FRAME_LEN);
  });

  it("can send the reply form (op 2), otherwise identical", () => {
    const req = buildGratuitousArp(parseMac("00-00-5e-00-01-33"), "192.0.2.1");
    const rep = buildGratuitousArp(parseMac("00:00:5e:00:01:33"), "192.0.2.1", { op: "reply" });
    expect(rep.readUInt16BE(20)).toBe(2);
    expect(Buffer.concat([rep.subarray(0, 20), rep.subarray(22)])).toEqual(
      Buffer.concat([req.subarray(0, 20), req.subarray(22)]),
    );
  });

  it("for any MAC and address: broadcast, sender = target = VIP, sender hardware = MAC", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.ipV4(), (mac, ip) => {
        const f = buildGratuitousArp(mac, ip);
        expect(f.subarray(0, 6)).toEqual(Buffer.alloc(6, 0xff));
        expect(f.subarray(6, 12)).toEqual(Buffer.from(mac));
        expect(f.subarray(22, 28)).toEqual(Buffer.from(mac));
        expect(formatIp(f.subarray(28, 32))).toBe(ip);
        expect(formatIp(f.subarray(38, 42))).toBe(ip);
      }),
    );
  });

  it("rejects a bad MAC or a non-IPv4 address", () => {
    expect(() => buildGratuitousArp(Buffer.alloc(5), "10.0.0.1")).toThrow(VipdError);
    expect(() => buildGratuitousArp(Buffer.alloc(6), "::1")).toThrow(VipdError);
    expect(() => parseMac("02:00:00:00:00")).toThrow(VipdError);
    expect(() => parseMac("02:00:00:00:00:zz")).toThrow(VipdError);
  });
});

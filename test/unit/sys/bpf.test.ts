import { describe, expect, it } from "vitest";
import { encodeBpf, vridFilter } from "../../../src/sys/bpf.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("vridFilter", () => {
  it("IPv4: finds the VRRP header from the IHL, compares the VRID, keeps the whole packet (hand-assembled)", () => {
    // { 0xb1, 0, 0, 0 }  ldxb 4*([0]&0xf)
    // { 0x50, 0, 0, 1 }  ldb [x + 1]
    // { 0x15, 2, 0, 51 } jeq #51, accept
    // { 0x15, 1, 0, 52 } jeq #52, accept
    // { 0x06, 0, 0, 0 }  ret #0
    // { 0x06, 0, 0, -1 } ret #0xffffffff
    expect(encodeBpf(vridFilter("inet", [52, 51, 52]))).toEqual(
      hex(`b1000000 00000000  50000000 01000000  15000200 33000000  15000100 34000000
           06000000 00000000  06000000 ffffffff`),
    );
  });

  it("IPv6: the socket sees the VRRP message only, so the VRID is byte 1", () => {
    expect(encodeBpf(vridFilter("inet6", [7]))).toEqual(
      hex("30000000 01000000  15000100 07000000  06000000 00000000  06000000 ffffffff"),
    );
  });

  it("refuses an empty list and VRIDs outside 1..255", () => {
    for (const bad of [[], [0], [256], [1.5]]) {
      expect(() => vridFilter("inet", bad)).toThrow(expect.objectContaining({ code: "BPF_BAD_VRIDS" }));
    }
    // 255 VRIDs still fit the 8-bit jump offsets.
    const all = Array.from({ length: 255 }, (_, i) => i + 1);
    expect(vridFilter("inet", all)[2]).toMatchObject({ k: 1, jt: 255 });
  });
});

import { isIPv6 } from "node:net";
import { endianness } from "node:os";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { inetPton, packIpMreqn, packIpv6Mreq, packPacketMreq } from "../../../src/sys/socket.js";

const LE = endianness() === "LE";
const hostInt32 = (n: number) => {
  const b = Buffer.alloc(4);
  if (LE) b.writeInt32LE(n);
  else b.writeInt32BE(n);
  return b.toString("hex");
};

/** Text forms of eight 16-bit words: full, with the longest zero run compressed, and with an IPv4 tail. */
function forms(words: number[]): string[] {
  const hex = words.map((w) => w.toString(16));
  const out = [hex.join(":")];
  let best = [-1, 0];
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best[1]!) best = [i, j - i];
  }
  if (best[1]! > 0) {
    const [s, n] = best as [number, number];
    out.push(`${hex.slice(0, s).join(":")}::${hex.slice(s + n).join(":")}`);
  }
  const v4 = `${words[6]! >> 8}.${words[6]! & 255}.${words[7]! >> 8}.${words[7]! & 255}`;
  out.push(`${hex.slice(0, 6).join(":")}:${v4}`);
  return out;
}

describe("inetPton", () => {
  it("IPv4", () => {
    expect(inetPton("224.0.0.18").toString("hex")).toBe("e0000012");
  });

  it("IPv6 golden values", () => {
    expect(inetPton("ff02::12").toString("hex")).toBe("ff020000000000000000000000000012");
    expect(inetPton("::").toString("hex")).toBe("0".repeat(32));
    expect(inetPton("::1").toString("hex")).toBe(`${"0".repeat(31)}1`);
    expect(inetPton("fe80::").toString("hex")).toBe(`fe80${"0".repeat(28)}`);
    expect(inetPton("::ffff:192.0.2.1").toString("hex")).toBe("00000000000000000000ffffc0000201");
    expect(inetPton("::192.0.2.1").toString("hex")).toBe("000000000000000000000000c0000201");
    expect(inetPton("1:2:3:4:5:6:7:8").toString("hex")).toBe("00010002000300040005000600070008");
  });

  it("IPv6 round trip over every text form", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
          minLength: 8,
          maxLength: 8,
        }),
        (words) => {
          const want = Buffer.alloc(16);
          words.forEach((w, i) => {
            want.writeUInt16BE(w, i * 2);
          });
          for (const text of forms(words)) {
            expect(isIPv6(text)).toBe(true);
            expect(inetPton(text).toString("hex")).toBe(want.toString("hex"));
          }
        },
      ),
    );
  });

  it("rejects non-addresses and zones", () => {
    expect(() => inetPton("fe80::1%eth0")).toThrow(/not an IP address/);
    expect(() => inetPton("example.com")).toThrow(/not an IP address/);
  });
});

describe("membership structs", () => {
  it("ip_mreqn: group, local address, host-order ifindex", () => {
    const b = packIpMreqn("224.0.0.18", 7, "10.0.0.1");
    expect(b.toString("hex")).toBe(`e00000120a000001${hostInt32(7)}`);
    expect(packIpMreqn("224.0.0.18", 3).toString("hex")).toBe(`e000001200000000${hostInt32(3)}`);
    expect(() => packIpMreqn("ff02::12", 1)).toThrow(/IPv4/);
    expect(() => packIpMreqn("224.0.0.18", -1)).toThrow(RangeError);
  });

  it("ipv6_mreq: group then host-order ifindex", () => {
    expect(packIpv6Mreq("ff02::12", 2).toString("hex")).toBe(
      `ff020000000000000000000000000012${hostInt32(2)}`,
    );
    expect(() => packIpv6Mreq("224.0.0.18", 1)).toThrow(/IPv6/);
    expect(() => packIpv6Mreq("ff02::12", 1.5)).toThrow(RangeError);
  });

  it("packet_mreq: ifindex, type, address length, address", () => {
    const mac = Buffer.from("00005e000133", "hex");
    const b = packPacketMreq(4, 0, mac);
    expect(b.length).toBe(16);
    expect(b.subarray(0, 4).toString("hex")).toBe(hostInt32(4));
    expect(LE ? b.readUInt16LE(6) : b.readUInt16BE(6)).toBe(6);
    expect(b.subarray(8, 14)).toEqual(mac);
    expect(() => packPacketMreq(1, 0, Buffer.alloc(9))).toThrow(RangeError);
  });
});

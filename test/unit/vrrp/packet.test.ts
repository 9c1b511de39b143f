import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { passwordAuthData } from "../../../src/vrrp/auth.js";
import {
  advertIntervalCs,
  compareIp,
  type DecodeResult,
  DROP_REASONS,
  DropCounters,
  decodeAdvert,
  encodeAdvert,
  formatIp,
  type IpFamily,
  internetChecksum,
  ipFamily,
  ipToBytes,
  normalizeIp,
  parseIpv4Header,
  type ValidateExpect,
  type ValidateInput,
  type VrrpAdvert,
  validateAdvert,
  validateIpv4Packet,
  virtualMac,
  vrrpChecksum,
} from "../../../src/vrrp/packet.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/**
 * An Internet checksum computed a different way from the code under test: the one's-complement
 * sum of 16-bit words is the ordinary sum modulo 0xffff (with 0xffff standing for a non-zero
 * multiple of it), so no carry folding is involved.
 */
function independentChecksum(...parts: Buffer[]): number {
  const data = Buffer.concat(parts);
  let total = 0n;
  for (let i = 0; i < data.length; i++) total += BigInt(data[i]!) * (i % 2 === 0 ? 256n : 1n);
  const m = Number(total % 0xffffn);
  const folded = m === 0 && total !== 0n ? 0xffff : m;
  return 0xffff - folded;
}

function v4Pseudo(src: string, dst: string, len: number): Buffer {
  return Buffer.concat([ipToBytes(src), ipToBytes(dst), Buffer.from([0, 112, len >> 8, len & 0xff])]);
}

function v6Pseudo(src: string, dst: string, len: number): Buffer {
  const l = Buffer.alloc(4);
  l.writeUInt32BE(len);
  return Buffer.concat([ipToBytes(src), ipToBytes(dst), l, Buffer.from([0, 0, 0, 112])]);
}

/** The checksum a message should carry, by the independent method, with its checksum field zeroed. */
function expectedChecksum(msg: Buffer, pseudo?: Buffer): number {
  const z = Buffer.from(msg);
  z.writeUInt16BE(0, 6);
  return pseudo ? independentChecksum(pseudo, z) : independentChecksum(z);
}

const v4Expect = (over: Partial<ValidateExpect> = {}): ValidateExpect => ({
  version: 3,
  vrid: 51,
  family: "inet",
  advertIntervalCs: 100,
  ...over,
});

function okAdvert(r: DecodeResult) {
  if (!r.ok) throw new Error(`expected ok, got ${r.reason}: ${r.detail}`);
  return r.advert;
}

describe("golden vectors (RFC layouts, keepalived 2.2.7 captures)", () => {
  it("v3 IPv4 from keepalived 2.2.7 (pseudo-header checksum 0x74ac)", () => {
    const bytes = hex("31 33 64 01 00 64 74 ac 0a 63 00 64");
    const advert: VrrpAdvert = {
      version: 3,
      vrid: 51,
      priority: 100,
      maxAdvertIntervalCs: 100,
      addresses: ["10.99.0.100"],
    };
    const opts = { family: "inet" as const, src: "10.99.0.2", dst: "224.0.0.18" };
    expect(encodeAdvert(advert, opts)).toEqual(bytes);
    expect(encodeAdvert(advert, { ...opts, checksumMode: "pseudo" })).toEqual(bytes);
    expect(bytes.readUInt16BE(6)).toBe(0x74ac);
    expect(expectedChecksum(bytes, v4Pseudo("10.99.0.2", "224.0.0.18", 12))).toBe(0x74ac);
    expect(okAdvert(decodeAdvert(bytes, opts))).toEqual({
      ...advert,
      src: "10.99.0.2",
      checksumMode: "pseudo",
    });
  });

  it("v2 from keepalived 2.2.7 (checksum 0x7003, auth bytes included)", () => {
    const bytes = hex("21 33 64 01 00 01 70 03 0a 63 00 64 00 00 00 00 00 00 00 00");
    const advert: VrrpAdvert = {
      version: 2,
      vrid: 51,
      priority: 100,
      advertIntervalS: 1,
      addresses: ["10.99.0.100"],
    };
    expect(encodeAdvert(advert, { family: "inet" })).toEqual(bytes);
    expect(expectedChecksum(bytes)).toBe(0x7003);
    expect(okAdvert(decodeAdvert(bytes, { family: "inet", src: "10.99.0.2", dst: "224.0.0.18" }))).toEqual({
      ...advert,
      src: "10.99.0.2",
      checksumMode: "message",
    });
  });

  it("v2 with auth_type PASS from keepalived 2.2.7 (password s3cret zero-padded, checksum 0x0136)", () => {
    // VRID 7, priority 150, 1 s, 10.66.0.100: tcpdump on the peer of keepalived's veth.
    const bytes = hex("2107 9601 0101 0136 0a42 0064 7333 6372 6574 0000");
    const advert: VrrpAdvert = {
      version: 2,
      vrid: 7,
      priority: 150,
      advertIntervalS: 1,
      addresses: ["10.66.0.100"],
      authData: passwordAuthData("s3cret"),
    };
    expect(encodeAdvert(advert, { family: "inet" })).toEqual(bytes);
    expect(expectedChecksum(bytes)).toBe(0x0136);
    const expect2 = { version: 2 as const, vrid: 7, family: "inet" as const, advertIntervalCs: 100 };
    const packet = { family: "inet" as const, ttlOrHopLimit: 255, src: "10.66.0.1", dst: "224.0.0.18" };
    expect(
      validateAdvert({ ...packet, payload: bytes }, { ...expect2, authData: passwordAuthData("s3cret") }).ok,
    ).toBe(true);
    expect(
      validateAdvert({ ...packet, payload: bytes }, { ...expect2, authData: passwordAuthData("s3cret!") }),
    ).toEqual({ ok: false, reason: "auth", detail: "the simple password differs from ours" });
    expect(validateAdvert({ ...packet, payload: bytes }, expect2)).toEqual({
      ok: false,
      reason: "auth_type",
      detail: "auth type 1 (simple password), ours is 0 (none)",
    });
  });

  it("v3 IPv4 VRID 51 prio 200: 0x4402 message-only, 0x3935 with the pseudo-header", () => {
    const advert: VrrpAdvert = {
      version: 3,
      vrid: 51,
      priority: 200,
      maxAdvertIntervalCs: 100,
      addresses: ["192.0.2.100"],
    };
    const base = { family: "inet" as const, src: "198.51.100.10", dst: "224.0.0.18" };
    const message = encodeAdvert(advert, { ...base, checksumMode: "message" });
    expect(message).toEqual(hex("31 33 c8 01 00 64 44 02 c0 00 02 64"));
    const pseudo = encodeAdvert(advert, { ...base, checksumMode: "pseudo" });
    expect(pseudo).toEqual(hex("31 33 c8 01 00 64 39 35 c0 00 02 64"));
    expect(expectedChecksum(message)).toBe(0x4402);
    expect(expectedChecksum(pseudo, v4Pseudo(base.src, base.dst, 12))).toBe(0x3935);
    // Receive accepts either form and says which one matched.
    expect(okAdvert(decodeAdvert(message, base)).checksumMode).toBe("message");
    expect(okAdvert(decodeAdvert(pseudo, base)).checksumMode).toBe("pseudo");
  });

  it("v2 VRID 1 prio 100 192.168.0.1 (checksum 0xba52)", () => {
    const bytes = hex("21 01 64 01 00 01 ba 52 c0 a8 00 01 0000000000000000");
    const advert: VrrpAdvert = {
      version: 2,
      vrid: 1,
      priority: 100,
      advertIntervalS: 1,
      addresses: ["192.168.0.1"],
    };
    expect(encodeAdvert(advert, { family: "inet" })).toEqual(bytes);
    expect(expectedChecksum(bytes)).toBe(0xba52);
    expect(
      okAdvert(decodeAdvert(bytes, { family: "inet", src: "192.168.0.2", dst: "224.0.0.18" })),
    ).toMatchObject(advert);
  });
});

/**
 * Captured from keepalived 2.2.7 (Debian package) in a pair of network namespaces:
 * interface MAC 02:00:00:00:00:0a, 10.99.0.2/24 and fe80::ff:fe00:a, vrrp_version 3.
 */
describe("keepalived 2.2.7 captures", () => {
  it("v3 IPv6 VRID 52 prio 100 100cs fd00:99::100 (checksum 0x6ea4) and its priority-0 advert (0xd2a4)", () => {
    const src = "fe80::ff:fe00:a";
    const dst = "ff02::12";
    const running = hex("3134 6401 0064 6ea4 fd00 0099 0000 0000 0000 0000 0000 0100");
    const stopping = hex("3134 0001 0064 d2a4 fd00 0099 0000 0000 0000 0000 0000 0100");
    const advert: VrrpAdvert = {
      version: 3,
      vrid: 52,
      priority: 100,
      maxAdvertIntervalCs: 100,
      addresses: ["fd00:99::100"],
    };
    expect(encodeAdvert(advert, { family: "inet6", src, dst })).toEqual(running);
    expect(encodeAdvert({ ...advert, priority: 0 }, { family: "inet6", src, dst })).toEqual(stopping);
    expect(expectedChecksum(running, v6Pseudo(src, dst, 24))).toBe(0x6ea4);
    expect(expectedChecksum(stopping, v6Pseudo(src, dst, 24))).toBe(0xd2a4);
    const r = validateAdvert(
      { family: "inet6", ttlOrHopLimit: 255, src, dst, payload: running },
      { version: 3, vrid: 52, family: "inet6", advertIntervalCs: 100 },
    );
    expect(okAdvert(r)).toEqual({ ...advert, src, checksumMode: "pseudo" });
  });

  it("v3 IPv4 50cs (pseudo-header 0x430b), priority 0 on stop (0xd90b)", () => {
    // keepalived 2.2.7 rejects `v3_checksum_as_v2` ("Unknown keyword"): it only sends the pseudo-header form.
    const running = hex("3135 9601 0032 430b 0a63 0035");
    const stopping = hex("3135 0001 0032 d90b 0a63 0035");
    const advert: VrrpAdvert = {
      version: 3,
      vrid: 53,
      priority: 150,
      maxAdvertIntervalCs: 50,
      addresses: ["10.99.0.53"],
    };
    const opts = { family: "inet" as const, src: "10.99.0.2", dst: "224.0.0.18" };
    expect(encodeAdvert(advert, opts)).toEqual(running);
    expect(encodeAdvert({ ...advert, priority: 0 }, opts)).toEqual(stopping);
    expect(expectedChecksum(running, v4Pseudo(opts.src, opts.dst, 12))).toBe(0x430b);
    expect(okAdvert(decodeAdvert(stopping, opts))).toMatchObject({ priority: 0, checksumMode: "pseudo" });
  });

  it("the whole IPv4 packet as a raw socket returns it validates (header parsed, TTL 255)", () => {
    const packet = hex("45c0 0020 0001 0000 ff70 d035 0a63 0002 e000 0012 3135 9601 0032 430b 0a63 0035");
    const h = parseIpv4Header(packet);
    expect(h).toEqual({
      ok: true,
      header: {
        headerLength: 20,
        ttl: 255,
        protocol: 112,
        src: "10.99.0.2",
        dst: "224.0.0.18",
        totalLength: 32,
      },
    });
    const r = validateIpv4Packet(packet, { version: 3, vrid: 53, family: "inet", advertIntervalCs: 50 });
    expect(okAdvert(r)).toEqual({
      version: 3,
      vrid: 53,
      priority: 150,
      maxAdvertIntervalCs: 50,
      addresses: ["10.99.0.53"],
      src: "10.99.0.2",
      checksumMode: "pseudo",
    });
  });
});

describe("IPv6 v3 vectors (computed, cross-checked by an independent checksum)", () => {
  const cases: { name: string; src: string; dst: string; advert: VrrpAdvert; bytes: string }[] = [
    {
      name: "multicast, one address",
      src: "fe80::1",
      dst: "ff02::12",
      advert: { version: 3, vrid: 1, priority: 100, maxAdvertIntervalCs: 100, addresses: ["2001:db8::100"] },
      bytes: "3101 6401 0064 ???? 2001 0db8 0000 0000 0000 0000 0000 0100",
    },
    {
      name: "unicast peer, three addresses, 4095 cs, owner priority",
      src: "fe80::250:56ff:fe12:3456",
      dst: "fe80::250:56ff:fe65:4321",
      advert: {
        version: 3,
        vrid: 255,
        priority: 255,
        maxAdvertIntervalCs: 4095,
        addresses: ["2001:db8:1::1", "2001:db8:1::2", "fe80::1"],
      },
      bytes:
        "31ff ff03 0fff ???? 2001 0db8 0001 0000 0000 0000 0000 0001 2001 0db8 0001 0000 0000 0000 0000 0002 fe80 0000 0000 0000 0000 0000 0000 0001",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const encoded = encodeAdvert(c.advert, { family: "inet6", src: c.src, dst: c.dst });
      const template = hex(c.bytes.replace("????", "0000"));
      const want = expectedChecksum(template, v6Pseudo(c.src, c.dst, template.length));
      template.writeUInt16BE(want, 6);
      expect(encoded).toEqual(template);
      expect(okAdvert(decodeAdvert(encoded, { family: "inet6", src: c.src, dst: c.dst }))).toEqual({
        ...c.advert,
        src: normalizeIp(c.src),
        checksumMode: "pseudo",
      });
      // The pseudo-header matters: another destination fails the checksum.
      expect(decodeAdvert(encoded, { family: "inet6", src: c.src, dst: "ff02::1" })).toMatchObject({
        ok: false,
        reason: "checksum",
      });
    });
  }

  it("the IPv6 message-only form is never accepted (only v3 over IPv4 is disputed)", () => {
    const advert: VrrpAdvert = {
      version: 3,
      vrid: 7,
      priority: 9,
      maxAdvertIntervalCs: 100,
      addresses: ["::1"],
    };
    const buf = encodeAdvert(advert, { family: "inet6", src: "fe80::1", dst: "ff02::12" });
    buf.writeUInt16BE(vrrpChecksum(buf, "inet6", "message"), 6);
    expect(decodeAdvert(buf, { family: "inet6", src: "fe80::1", dst: "ff02::12" })).toMatchObject({
      ok: false,
      reason: "checksum",
    });
  });
});

describe("checksums", () => {
  it("internetChecksum agrees with the independent computation, odd lengths and split chunks included", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (data, cut) => {
        const b = Buffer.from(data);
        const k = Math.min(cut, b.length);
        expect(internetChecksum(b)).toBe(independentChecksum(b));
        expect(internetChecksum(b.subarray(0, k), b.subarray(k))).toBe(independentChecksum(b));
      }),
    );
  });

  it("a message with its checksum in place sums to zero", () => {
    const buf = encodeAdvert(
      { version: 2, vrid: 9, priority: 1, advertIntervalS: 3, addresses: ["1.2.3.4", "5.6.7.8"] },
      { family: "inet" },
    );
    expect(internetChecksum(buf)).toBe(0);
  });

  it("a pseudo-header checksum without addresses is a caller error", () => {
    expect(() => vrrpChecksum(Buffer.alloc(12), "inet", "pseudo")).toThrow(VipdError);
  });
});

// ------------------------------------------------------------------------------------------
// Round trips and fuzzing
// ------------------------------------------------------------------------------------------

const v4Addr = fc.ipV4();
const v6Addr = fc.ipV6();

const v2Advert = fc.record({
  version: fc.constant(2 as const),
  vrid: fc.integer({ min: 1, max: 255 }),
  priority: fc.integer({ min: 0, max: 255 }),
  advertIntervalS: fc.integer({ min: 1, max: 255 }),
  addresses: fc.array(v4Addr, { maxLength: 20 }),
});

const v3Advert = (family: IpFamily) =>
  fc.record({
    version: fc.constant(3 as const),
    vrid: fc.integer({ min: 1, max: 255 }),
    priority: fc.integer({ min: 0, max: 255 }),
    maxAdvertIntervalCs: fc.integer({ min: 1, max: 4095 }),
    addresses: fc.array(family === "inet" ? v4Addr : v6Addr, { maxLength: 20 }),
  });

describe("round trips (fast-check)", () => {
  it("v2: decode(encode(a)) = a", () => {
    fc.assert(
      fc.property(v2Advert, v4Addr, (a, src) => {
        const buf = encodeAdvert(a, { family: "inet" });
        expect(buf.length).toBe(16 + 4 * a.addresses.length);
        const r = decodeAdvert(buf, { family: "inet", src, dst: "224.0.0.18" });
        expect(okAdvert(r)).toEqual({
          ...a,
          addresses: a.addresses.map(normalizeIp),
          src,
          checksumMode: "message",
        });
      }),
    );
  });

  it("v3 IPv4, both checksum modes: decode(encode(a)) = a and reports the mode", () => {
    fc.assert(
      fc.property(
        v3Advert("inet"),
        v4Addr,
        v4Addr,
        fc.constantFrom("pseudo" as const, "message" as const),
        (a, src, dst, mode) => {
          const buf = encodeAdvert(a, { family: "inet", src, dst, checksumMode: mode });
          const r = okAdvert(decodeAdvert(buf, { family: "inet", src, dst }));
          expect({ ...r, checksumMode: undefined }).toEqual({ ...a, src, checksumMode: undefined });
          // The two forms coincide only when the pseudo-header sums to zero; otherwise the mode is exact.
          if (vrrpChecksum(buf, "inet", "pseudo", src, dst) !== vrrpChecksum(buf, "inet", "message")) {
            expect(r.checksumMode).toBe(mode);
          }
        },
      ),
    );
  });

  it("v3 IPv6: decode(encode(a)) = a with canonical address text", () => {
    fc.assert(
      fc.property(v3Advert("inet6"), v6Addr, (a, src) => {
        const buf = encodeAdvert(a, { family: "inet6", src, dst: "ff02::12" });
        expect(buf.length).toBe(8 + 16 * a.addresses.length);
        const r = okAdvert(decodeAdvert(buf, { family: "inet6", src, dst: "ff02::12" }));
        expect(r).toEqual({
          ...a,
          addresses: a.addresses.map(normalizeIp),
          src: normalizeIp(src),
          checksumMode: "pseudo",
        });
        expect(advertIntervalCs(r)).toBe(a.maxAdvertIntervalCs);
      }),
    );
  });

  it("decoding random bytes never throws (decodeAdvert, validateAdvert, validateIpv4Packet)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.constantFrom<IpFamily>("inet", "inet6"),
        fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
        (bytes, family, ttl) => {
          const payload = Buffer.from(bytes);
          const src = family === "inet" ? "10.0.0.1" : "fe80::1";
          const dst = family === "inet" ? "224.0.0.18" : "ff02::12";
          const d = decodeAdvert(payload, { family, src, dst });
          expect(typeof d.ok).toBe("boolean");
          for (const version of [2, 3] as const) {
            const v = validateAdvert(
              { family, ttlOrHopLimit: ttl, src, dst, payload },
              { version, vrid: 51, family, advertIntervalCs: 100 },
            );
            if (!v.ok) expect(DROP_REASONS).toContain(v.reason);
          }
          const p = validateIpv4Packet(payload, v4Expect());
          if (!p.ok) expect(DROP_REASONS).toContain(p.reason);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("every single-byte corruption of a valid packet is dropped (except the checksum field landing on the other form)", () => {
    const good = encodeAdvert(
      { version: 3, vrid: 51, priority: 100, maxAdvertIntervalCs: 100, addresses: ["10.99.0.100"] },
      { family: "inet", src: "10.99.0.2", dst: "224.0.0.18" },
    );
    const messageForm = vrrpChecksum(good, "inet", "message");
    for (let pos = 0; pos < good.length; pos++) {
      for (let x = 1; x < 256; x++) {
        const bad = Buffer.from(good);
        bad[pos]! ^= x;
        const r = validateAdvert(
          { family: "inet", ttlOrHopLimit: 255, src: "10.99.0.2", dst: "224.0.0.18", payload: bad },
          v4Expect(),
        );
        if (r.ok) expect({ pos, checksum: bad.readUInt16BE(6) }).toEqual({ pos, checksum: messageForm });
      }
    }
  });
});

// ------------------------------------------------------------------------------------------
// Validation: one test per reason, and the order
// ------------------------------------------------------------------------------------------

describe("validateAdvert reasons", () => {
  const src = "10.99.0.2";
  const dst = "224.0.0.18";
  const v3 = (over: Partial<VrrpAdvert & { version: 3 }> = {}) =>
    encodeAdvert(
      { version: 3, vrid: 51, priority: 100, maxAdvertIntervalCs: 100, addresses: ["10.99.0.100"], ...over },
      { family: "inet", src, dst },
    );
  const v2 = (over: Partial<VrrpAdvert & { version: 2 }> = {}) =>
    encodeAdvert(
      { version: 2, vrid: 51, priority: 100, advertIntervalS: 1, addresses: ["10.99.0.100"], ...over },
      { family: "inet" },
    );
  const input = (payload: Buffer, over: Partial<ValidateInput> = {}): ValidateInput => ({
    family: "inet",
    ttlOrHopLimit: 255,
    src,
    dst,
    payload,
    ...over,
  });
  /** Rewrites bytes then fixes the checksum (message-only for v2, pseudo for v3 IPv4). */
  const patched = (buf: Buffer, edit: (b: Buffer) => void) => {
    const b = Buffer.from(buf);
    edit(b);
    const version = b[0]! >> 4;
    b.writeUInt16BE(vrrpChecksum(b, "inet", version === 2 ? "message" : "pseudo", src, dst), 6);
    return b;
  };
  const reason = (r: DecodeResult) => (r.ok ? "ok" : r.reason);

  it("accepts a good v3 and a good v2 advert", () => {
    expect(reason(validateAdvert(input(v3()), v4Expect()))).toBe("ok");
    expect(reason(validateAdvert(input(v2()), v4Expect({ version: 2 })))).toBe("ok");
  });

  it("ttl: TTL/hop limit other than 255, or unknown", () => {
    expect(validateAdvert(input(v3(), { ttlOrHopLimit: 254 }), v4Expect())).toMatchObject({
      ok: false,
      reason: "ttl",
      detail: "TTL 254, expected 255",
    });
    expect(reason(validateAdvert(input(v3(), { ttlOrHopLimit: undefined }), v4Expect()))).toBe("ttl");
    expect(reason(validateAdvert(input(v3(), { ttlOrHopLimit: 1 }), v4Expect()))).toBe("ttl");
  });

  it("length: shorter than the 8-byte header", () => {
    for (const n of [0, 1, 7]) {
      expect(reason(validateAdvert(input(v3().subarray(0, n)), v4Expect()))).toBe("length");
    }
  });

  it("version: not the instance's version (and v2 over IPv6)", () => {
    expect(reason(validateAdvert(input(v2()), v4Expect({ version: 3 })))).toBe("version");
    expect(reason(validateAdvert(input(v3()), v4Expect({ version: 2 })))).toBe("version");
    const v4hdr = patched(v3(), (b) => {
      b[0] = 0x41;
    });
    expect(reason(validateAdvert(input(v4hdr), v4Expect()))).toBe("version");
    const v2over6 = Buffer.from(v2());
    expect(
      reason(
        validateAdvert(
          { family: "inet6", ttlOrHopLimit: 255, src: "fe80::1", dst: "ff02::12", payload: v2over6 },
          { version: 2, vrid: 51, family: "inet6", advertIntervalCs: 100 },
        ),
      ),
    ).toBe("version");
  });

  it("checksum: wrong checksum for v2 and for v3 (neither form)", () => {
    const b3 = v3();
    b3[6]! ^= 0xff;
    expect(reason(validateAdvert(input(b3), v4Expect()))).toBe("checksum");
    const b2 = v2();
    b2[7]! ^= 0x01;
    expect(reason(validateAdvert(input(b2), v4Expect({ version: 2 })))).toBe("checksum");
    // v2 never takes a pseudo-header checksum.
    const b2p = v2();
    b2p.writeUInt16BE(0, 6);
    b2p.writeUInt16BE(internetChecksum(v4Pseudo(src, dst, b2p.length), b2p), 6);
    expect(reason(validateAdvert(input(b2p), v4Expect({ version: 2 })))).toBe("checksum");
  });

  it("type: anything but 1 (advertisement)", () => {
    for (const t of [0, 2, 15]) {
      const b = patched(v3(), (x) => {
        x[0] = 0x30 | t;
      });
      expect(reason(validateAdvert(input(b), v4Expect()))).toBe("type");
    }
  });

  it("address_count: count disagrees with the remaining length", () => {
    const more = patched(v3(), (b) => {
      b[3] = 2;
    });
    expect(validateAdvert(input(more), v4Expect())).toMatchObject({ ok: false, reason: "address_count" });
    const trailing = patched(Buffer.concat([v3(), Buffer.from([0, 0])]), () => {});
    expect(reason(validateAdvert(input(trailing), v4Expect()))).toBe("address_count");
    // v2 without its 8 auth bytes
    const noAuth = patched(v2().subarray(0, 12), () => {});
    expect(reason(validateAdvert(input(noAuth), v4Expect({ version: 2 })))).toBe("address_count");
    // v3 over IPv6: 16 bytes per address
    const six = encodeAdvert(
      { version: 3, vrid: 51, priority: 1, maxAdvertIntervalCs: 100, addresses: ["2001:db8::1"] },
      { family: "inet6", src: "fe80::1", dst: "ff02::12" },
    );
    const short6 = Buffer.from(six.subarray(0, 20));
    short6.writeUInt16BE(vrrpChecksum(short6, "inet6", "pseudo", "fe80::1", "ff02::12"), 6);
    expect(
      reason(
        validateAdvert(
          { family: "inet6", ttlOrHopLimit: 255, src: "fe80::1", dst: "ff02::12", payload: short6 },
          { version: 3, vrid: 51, family: "inet6", advertIntervalCs: 100 },
        ),
      ),
    ).toBe("address_count");
  });

  it("vrid: another virtual router's advert", () => {
    expect(validateAdvert(input(v3({ vrid: 52 })), v4Expect())).toMatchObject({
      ok: false,
      reason: "vrid",
      detail: "VRID 52 is not ours (51)",
    });
  });

  it("auth_type: v2 whose auth type is not ours (none, simple password, IPsec AH)", () => {
    for (const t of [1, 2, 255]) {
      const b = patched(v2(), (x) => {
        x[4] = t;
      });
      expect(reason(validateAdvert(input(b), v4Expect({ version: 2 })))).toBe("auth_type");
    }
    const withPassword = v4Expect({ version: 2, authData: passwordAuthData("pw") });
    for (const t of [0, 2]) {
      const b = patched(v2({ authData: passwordAuthData("pw") }), (x) => {
        x[4] = t;
      });
      expect(reason(validateAdvert(input(b), withPassword))).toBe("auth_type");
    }
  });

  it("auth: every one of the 8 auth-data bytes counts, and the detail never shows a password", () => {
    const ours = passwordAuthData("12345678");
    const e2 = v4Expect({ version: 2, authData: ours });
    expect(reason(validateAdvert(input(v2({ authData: ours })), e2))).toBe("ok");
    for (let i = 0; i < 8; i++) {
      const theirs = Buffer.from(ours);
      theirs[i]! ^= 0x01;
      const r = validateAdvert(input(v2({ authData: theirs })), e2);
      expect(r).toEqual({ ok: false, reason: "auth", detail: "the simple password differs from ours" });
    }
    // A prefix of ours is another password: "1234567" is padded with a zero.
    expect(reason(validateAdvert(input(v2({ authData: passwordAuthData("1234567") })), e2))).toBe("auth");
    // Without a password of our own the auth data is not looked at (RFC 3768).
    const junk = patched(v2(), (x) => {
      x.fill(0xaa, x.length - 8);
    });
    expect(reason(validateAdvert(input(junk), v4Expect({ version: 2 })))).toBe("ok");
  });

  it("encodes a password as auth type 1 with its 8 bytes, and refuses auth data of another size", () => {
    const b = v2({ authData: passwordAuthData("ab") });
    expect(b[4]).toBe(1);
    expect(b.subarray(b.length - 8)).toEqual(hex("6162 0000 0000 0000"));
    expect(expectedChecksum(b)).toBe(b.readUInt16BE(6));
    expect(() => v2({ authData: Buffer.alloc(7) })).toThrow(/auth data must be 8 bytes, got 7/);
  });

  it("advert_interval: v2 interval differs from ours; v3 interval 0", () => {
    expect(reason(validateAdvert(input(v2({ advertIntervalS: 2 })), v4Expect({ version: 2 })))).toBe(
      "advert_interval",
    );
    expect(
      reason(
        validateAdvert(input(v2({ advertIntervalS: 2 })), v4Expect({ version: 2, advertIntervalCs: 200 })),
      ),
    ).toBe("ok");
    // v3 learns the master's interval, so a different one is fine ...
    expect(reason(validateAdvert(input(v3({ maxAdvertIntervalCs: 300 })), v4Expect()))).toBe("ok");
    // ... but zero would make Master_Down_Interval zero.
    const zero = patched(v3(), (b) => {
      b.writeUInt16BE(0, 4);
    });
    expect(reason(validateAdvert(input(zero), v4Expect()))).toBe("advert_interval");
  });

  it("v3 ignores the 4 reserved bits above the interval", () => {
    const b = patched(v3(), (x) => {
      x[4]! |= 0xf0;
    });
    expect(okAdvert(validateAdvert(input(b), v4Expect())).version).toBe(3);
  });

  it("checks in the fixed order: ttl < length < version < checksum < type < address_count < vrid < auth < interval", () => {
    const allBad = patched(v2({ vrid: 52, advertIntervalS: 9 }), (b) => {
      b[0] = 0x22; // type 2
      b[3] = 3; // count wrong
      b[4] = 1; // auth
    });
    const corrupt = (b: Buffer) => {
      const c = Buffer.from(b);
      c[6]! ^= 0xff;
      return c;
    };
    const e2 = v4Expect({ version: 2 });
    expect(reason(validateAdvert(input(corrupt(allBad).subarray(0, 4), { ttlOrHopLimit: 64 }), e2))).toBe(
      "ttl",
    );
    expect(reason(validateAdvert(input(corrupt(allBad).subarray(0, 4)), e2))).toBe("length");
    expect(reason(validateAdvert(input(corrupt(allBad)), v4Expect({ version: 3 })))).toBe("version");
    expect(reason(validateAdvert(input(corrupt(allBad)), e2))).toBe("checksum");
    expect(reason(validateAdvert(input(allBad), e2))).toBe("type");
    const countBad = patched(allBad, (b) => {
      b[0] = 0x21;
    });
    expect(reason(validateAdvert(input(countBad), e2))).toBe("address_count");
    const vridBad = patched(countBad, (b) => {
      b[3] = 1;
    });
    expect(reason(validateAdvert(input(vridBad), e2))).toBe("vrid");
    const authBad = patched(vridBad, (b) => {
      b[1] = 51;
    });
    expect(reason(validateAdvert(input(authBad), e2))).toBe("auth_type");
    const intervalBad = patched(authBad, (b) => {
      b[4] = 0;
    });
    expect(reason(validateAdvert(input(intervalBad), e2))).toBe("advert_interval");
    const good = patched(intervalBad, (b) => {
      b[5] = 1;
    });
    expect(reason(validateAdvert(input(good), e2))).toBe("ok");
  });

  it("caller mistakes throw: family mismatch, bad local addresses", () => {
    expect(() => validateAdvert(input(v3()), { ...v4Expect(), family: "inet6" })).toThrow(VipdError);
    expect(() => validateAdvert(input(v3(), { src: "fe80::1" }), v4Expect())).toThrow(/not an inet address/);
    expect(() => decodeAdvert(v3(), { family: "inet", src: "nope", dst })).toThrow(VipdError);
  });
});

describe("parseIpv4Header / validateIpv4Packet", () => {
  const payload = encodeAdvert(
    { version: 3, vrid: 51, priority: 100, maxAdvertIntervalCs: 100, addresses: ["10.99.0.100"] },
    { family: "inet", src: "10.99.0.2", dst: "224.0.0.18" },
  );
  const header = (
    over: { ihl?: number; total?: number; ttl?: number; proto?: number; frag?: number } = {},
  ) => {
    const ihl = over.ihl ?? 5;
    const h = Buffer.alloc(Math.max(ihl, 5) * 4);
    h[0] = 0x40 | ihl;
    h.writeUInt16BE(over.total ?? h.length + payload.length, 2);
    h.writeUInt16BE(over.frag ?? 0, 6);
    h[8] = over.ttl ?? 255;
    h[9] = over.proto ?? 112;
    ipToBytes("10.99.0.2").copy(h, 12);
    ipToBytes("224.0.0.18").copy(h, 16);
    return h;
  };
  const reason = (r: DecodeResult) => (r.ok ? "ok" : r.reason);

  it("parses a header with options and validates the advert after it", () => {
    const pkt = Buffer.concat([header({ ihl: 6 }), payload]);
    const h = parseIpv4Header(pkt);
    expect(h).toMatchObject({
      ok: true,
      header: { headerLength: 24, totalLength: 36, ttl: 255, protocol: 112 },
    });
    expect(reason(validateIpv4Packet(pkt, v4Expect()))).toBe("ok");
  });

  it("ignores bytes past the IP total length", () => {
    const pkt = Buffer.concat([header(), payload, Buffer.from([1, 2, 3])]);
    expect(reason(validateIpv4Packet(pkt, v4Expect()))).toBe("ok");
  });

  it("rejects malformed headers with ip_header", () => {
    const cases: [string, Buffer][] = [
      ["short", Buffer.alloc(19)],
      ["version 6", Buffer.concat([Buffer.from([0x65]), header().subarray(1), payload])],
      ["IHL 4", Buffer.concat([header({ ihl: 4 }), payload])],
      ["IHL beyond buffer", header({ ihl: 15 }).subarray(0, 40)],
      ["total length beyond buffer", Buffer.concat([header({ total: 100 }), payload])],
      ["total length below header", Buffer.concat([header({ total: 10 }), payload])],
      ["more fragments", Buffer.concat([header({ frag: 0x2000 }), payload])],
      ["fragment offset", Buffer.concat([header({ frag: 0x0001 }), payload])],
      ["not VRRP", Buffer.concat([header({ proto: 17 }), payload])],
    ];
    for (const [name, pkt] of cases) {
      const r = validateIpv4Packet(pkt, v4Expect());
      expect({ name, reason: reason(r) }).toEqual({ name, reason: "ip_header" });
    }
  });

  it("takes the TTL from the IP header", () => {
    expect(reason(validateIpv4Packet(Buffer.concat([header({ ttl: 64 }), payload]), v4Expect()))).toBe("ttl");
  });
});

describe("DropCounters", () => {
  it("counts per reason, totals, and snapshots are copies", () => {
    const c = new DropCounters();
    expect(c.total()).toBe(0);
    c.count("vrid");
    c.count("vrid");
    c.count("checksum");
    const snap = c.snapshot();
    expect(snap.vrid).toBe(2);
    expect(snap.checksum).toBe(1);
    expect(Object.keys(snap).sort()).toEqual([...DROP_REASONS].sort());
    c.count("ttl");
    expect(snap.ttl).toBe(0);
    expect(c.get("ttl")).toBe(1);
    expect(c.total()).toBe(4);
  });

  it("record() counts drops and passes results through", () => {
    const c = new DropCounters();
    const bad = validateAdvert(
      { family: "inet", ttlOrHopLimit: 1, src: "10.0.0.1", dst: "224.0.0.18", payload: Buffer.alloc(0) },
      v4Expect(),
    );
    expect(c.record(bad)).toBe(bad);
    expect(c.get("ttl")).toBe(1);
    const good = decodeAdvert(
      encodeAdvert(
        { version: 2, vrid: 1, priority: 1, advertIntervalS: 1, addresses: [] },
        { family: "inet" },
      ),
      {
        family: "inet",
        src: "10.0.0.1",
        dst: "224.0.0.18",
      },
    );
    c.record(good);
    expect(c.total()).toBe(1);
  });
});

describe("encodeAdvert rejects out-of-range fields", () => {
  const ok3: VrrpAdvert = { version: 3, vrid: 1, priority: 1, maxAdvertIntervalCs: 1, addresses: [] };
  const o4 = { family: "inet" as const, src: "10.0.0.1", dst: "224.0.0.18" };
  const cases: [string, VrrpAdvert, IpFamily][] = [
    ["vrid 0", { ...ok3, vrid: 0 }, "inet"],
    ["vrid 256", { ...ok3, vrid: 256 }, "inet"],
    ["priority 256", { ...ok3, priority: 256 }, "inet"],
    ["priority 1.5", { ...ok3, priority: 1.5 }, "inet"],
    ["v3 interval 0", { ...ok3, maxAdvertIntervalCs: 0 }, "inet"],
    ["v3 interval 4096", { ...ok3, maxAdvertIntervalCs: 4096 }, "inet"],
    ["v2 interval 0", { version: 2, vrid: 1, priority: 1, advertIntervalS: 0, addresses: [] }, "inet"],
    ["v2 over IPv6", { version: 2, vrid: 1, priority: 1, advertIntervalS: 1, addresses: [] }, "inet6"],
    ["256 addresses", { ...ok3, addresses: new Array(256).fill("10.0.0.1") }, "inet"],
    ["IPv6 address in an IPv4 advert", { ...ok3, addresses: ["::1"] }, "inet"],
  ];
  for (const [name, advert, family] of cases) {
    it(name, () => {
      const opts = family === "inet" ? o4 : { family, src: "fe80::1", dst: "ff02::12" };
      try {
        encodeAdvert(advert, opts);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(VipdError);
        expect((err as VipdError).code).toMatch(/^VRRP_(ADVERT_INVALID|BAD_ADDRESS)$/);
      }
    });
  }

  it("a pseudo-header checksum needs src and dst", () => {
    expect(() => encodeAdvert(ok3, { family: "inet" })).toThrow(/source and destination/);
    // ... but message mode doesn't.
    expect(encodeAdvert(ok3, { family: "inet", checksumMode: "message" })).toHaveLength(8);
  });
});

describe("addresses", () => {
  it("formats IPv6 like the WHATWG URL serializer (RFC 5952 compression)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.array(fc.nat(7), { maxLength: 6 }),
        (raw, zeroWords) => {
          const b = Buffer.from(raw);
          for (const w of zeroWords) b.writeUInt16BE(0, w * 2); // make zero runs likely
          const oracle = new URL(`http://[${formatIp(b)}]/`).hostname.slice(1, -1);
          expect(formatIp(b)).toBe(oracle);
          expect(ipToBytes(formatIp(b))).toEqual(b);
        },
      ),
    );
  });

  it("parses the textual forms fast-check generates to the bytes URL parsing gives", () => {
    fc.assert(
      fc.property(fc.ipV6(), (a) => {
        // The WHATWG serializer writes IPv4-mapped addresses in hex, RFC 5952 in dotted quads:
        // compare what both parse to.
        expect(ipToBytes(a)).toEqual(ipToBytes(new URL(`http://[${a}]/`).hostname.slice(1, -1)));
      }),
    );
  });

  it("known forms", () => {
    expect(normalizeIp("2001:DB8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    expect(normalizeIp("::")).toBe("::");
    // RFC 5952 section 5: IPv4-mapped addresses keep the dotted-quad tail.
    expect(normalizeIp("::ffff:192.0.2.1")).toBe("::ffff:192.0.2.1");
    expect(normalizeIp("fe80::1%eth0")).toBe("fe80::1");
    expect(normalizeIp("1:0:0:0:0:0:0:8")).toBe("1::8");
    expect(normalizeIp("1:2:3:4:5:6:7:0")).toBe("1:2:3:4:5:6:7:0");
    expect(ipFamily("10.0.0.1")).toBe("inet");
    expect(ipFamily("::1")).toBe("inet6");
    for (const bad of [
      "",
      "1.2.3",
      "1.2.3.256",
      "01.2.3.4",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      ":::",
      "1:2:3:4:5:6:7::8",
    ]) {
      expect({ bad, family: ipFamily(bad) }).toEqual({ bad, family: null });
    }
    expect(() => ipToBytes("::1", "inet")).toThrow(VipdError);
  });

  it("compareIp orders addresses as unsigned big-endian bytes (v4 and v6)", () => {
    expect(compareIp("10.0.0.2", "10.0.0.10")).toBeLessThan(0);
    expect(compareIp("200.0.0.1", "10.255.255.255")).toBeGreaterThan(0);
    expect(compareIp("10.0.0.1", "10.0.0.1")).toBe(0);
    expect(compareIp("fe80::2", "fe80::10")).toBeLessThan(0);
    expect(compareIp("fe80::ff:fe00:a", "fe80::1:0:0:0")).toBeLessThan(0);
    expect(compareIp("ff02::1", "2001:db8::1")).toBeGreaterThan(0);
    expect(() => compareIp("10.0.0.1", "::1")).toThrow(VipdError);
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), (a, b) => {
        const num = (s: string) => s.split(".").reduce((n, p) => n * 256 + Number(p), 0);
        expect(Math.sign(compareIp(a, b))).toBe(Math.sign(num(a) - num(b)));
      }),
    );
  });

  it("virtualMac", () => {
    expect(virtualMac(51, "inet")).toEqual(hex("00005e000133"));
    expect(virtualMac(255, "inet6")).toEqual(hex("00005e0002ff"));
    expect(() => virtualMac(0, "inet")).toThrow(VipdError);
  });
});

describe("unicast adverts: TTL and old keepalived's checksum", () => {
  const src = "10.99.0.2";
  const peer = "10.99.0.1";
  const advert: VrrpAdvert = {
    version: 3,
    vrid: 51,
    priority: 100,
    maxAdvertIntervalCs: 100,
    addresses: ["10.99.0.100"],
  };
  const v6advert: VrrpAdvert = { ...advert, addresses: ["fd77::100"] };
  /** A payload whose checksum field holds the independent checksum over the given pseudo-header. */
  const withChecksum = (a: VrrpAdvert, family: IpFamily, pseudo: Buffer) => {
    const b = encodeAdvert(a, {
      family,
      src: family === "inet" ? src : "fd77::2",
      dst: family === "inet" ? peer : "fd77::1",
    });
    b.writeUInt16BE(expectedChecksum(b, pseudo), 6);
    return b;
  };
  const unicast = (payload: Buffer, ttl: number | undefined): ValidateInput => ({
    family: "inet",
    ttlOrHopLimit: ttl,
    src,
    dst: peer,
    payload,
  });
  const ok = encodeAdvert(advert, { family: "inet", src, dst: peer });

  it("accepts any TTL on unicast (keepalived sends IPv6 unicast at hop limit 64), but only 255 on multicast", () => {
    for (const ttl of [64, 1, undefined]) {
      expect(okAdvert(validateAdvert(unicast(ok, ttl), v4Expect({ unicast: true }))).priority).toBe(100);
    }
    const mcast = encodeAdvert(advert, { family: "inet", src, dst: "224.0.0.18" });
    expect(
      validateAdvert({ ...unicast(mcast, 64), dst: "224.0.0.18" }, v4Expect({ unicast: true })),
    ).toMatchObject({
      ok: false,
      reason: "ttl",
      detail: "TTL 64, expected 255",
    });
    // Another multicast group is not unicast either.
    const other = encodeAdvert(advert, { family: "inet", src, dst: "239.1.1.1" });
    expect(
      validateAdvert({ ...unicast(other, 64), dst: "239.1.1.1" }, v4Expect({ unicast: true })),
    ).toMatchObject({
      reason: "ttl",
    });
    const v6 = encodeAdvert(v6advert, { family: "inet6", src: "fd77::2", dst: "fd77::1" });
    const v6in = { family: "inet6" as const, ttlOrHopLimit: 64, src: "fd77::2", dst: "fd77::1", payload: v6 };
    expect(
      okAdvert(validateAdvert(v6in, { ...v4Expect({ unicast: true }), family: "inet6" as const })).addresses,
    ).toEqual(["fd77::100"]);
  });

  it("an instance without unicast peers holds unicast-addressed adverts to TTL 255 and the standard checksum", () => {
    // Off-link senders are what TTL 255 keeps out; only a unicast instance relaxes it.
    expect(validateAdvert(unicast(ok, 64), v4Expect())).toMatchObject({
      ok: false,
      reason: "ttl",
      detail: "TTL 64, expected 255",
    });
    const legacy = withChecksum(advert, "inet", v4Pseudo(src, "224.0.0.18", 12));
    expect(validateAdvert(unicast(legacy, 255), v4Expect())).toMatchObject({ ok: false, reason: "checksum" });
  });

  it("with unicast_ttl's require, a unicast advert must carry exactly that TTL", () => {
    expect(validateAdvert(unicast(ok, 64), v4Expect({ unicast: true, unicastTtl: 255 }))).toMatchObject({
      ok: false,
      reason: "ttl",
      detail: "TTL 64, expected 255 (unicast_ttl)",
    });
    expect(
      okAdvert(validateAdvert(unicast(ok, 255), v4Expect({ unicast: true, unicastTtl: 255 }))).vrid,
    ).toBe(51);
    expect(okAdvert(validateAdvert(unicast(ok, 64), v4Expect({ unicast: true, unicastTtl: 64 }))).vrid).toBe(
      51,
    );
  });

  it("accepts a unicast v3 advert checksummed as if sent to the group (keepalived < 1.3.6), and says so", () => {
    const legacy = withChecksum(advert, "inet", v4Pseudo(src, "224.0.0.18", 12));
    const r = okAdvert(validateAdvert(unicast(legacy, 255), v4Expect({ unicast: true })));
    expect(r).toMatchObject({ checksumMode: "pseudo", groupChecksumOnUnicast: true });
    // The standard forms do not carry the flag.
    expect(okAdvert(validateAdvert(unicast(ok, 255), v4Expect({ unicast: true })))).not.toHaveProperty(
      "groupChecksumOnUnicast",
    );
    // IPv6: the same form with ff02::12.
    const v6legacy = withChecksum(v6advert, "inet6", v6Pseudo("fd77::2", "ff02::12", 24));
    const v6in = {
      family: "inet6" as const,
      ttlOrHopLimit: 64,
      src: "fd77::2",
      dst: "fd77::1",
      payload: v6legacy,
    };
    expect(
      okAdvert(validateAdvert(v6in, { ...v4Expect({ unicast: true }), family: "inet6" as const })),
    ).toMatchObject({
      groupChecksumOnUnicast: true,
    });
  });

  it("the group form is not accepted on a multicast destination, and a wrong checksum names every form tried", () => {
    const toOther = withChecksum(advert, "inet", v4Pseudo(src, "224.0.0.18", 12));
    const onGroup = validateAdvert(
      { ...unicast(toOther, 255), dst: "239.1.1.1" },
      v4Expect({ unicast: true }),
    );
    expect(onGroup).toMatchObject({ ok: false, reason: "checksum" });
    const bad = Buffer.from(ok);
    bad.writeUInt16BE(0x1234, 6);
    const r = validateAdvert(unicast(bad, 255), v4Expect({ unicast: true }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.detail).toMatch(
      /^checksum 0x1234, computed 0x[0-9a-f]{4} \(pseudo-header\) or 0x[0-9a-f]{4} \(message only\) or 0x[0-9a-f]{4} \(pseudo-header to 224\.0\.0\.18, keepalived < 1\.3\.6\)$/,
    );
  });
});

describe("internetChecksum carries", () => {
  it("folds a carry that itself carries: ffff ffff ffff 0002 → 0xfffd (one fold would leave 0x10001)", () => {
    // Sum 0x2FFFF; one fold gives 0x10001, the second 0x0002; the checksum is ~0x0002.
    expect(internetChecksum(hex("ffffffffffff0002"))).toBe(0xfffd);
    expect(internetChecksum(hex("ffffffffffff0002"))).toBe(independentChecksum(hex("ffffffffffff0002")));
  });
});

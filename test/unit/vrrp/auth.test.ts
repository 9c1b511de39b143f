import { describe, expect, it } from "vitest";
import { authTypeName, passwordAuthData, sameAuthData } from "../../../src/vrrp/auth.js";

describe("VRRPv2 simple password", () => {
  it("is the password's UTF-8 bytes, zero-padded to 8", () => {
    expect(passwordAuthData("s3cret")).toEqual(Buffer.from("73336372657400 00".replace(/ /g, ""), "hex"));
    expect(passwordAuthData("12345678")).toEqual(Buffer.from("12345678"));
    expect(passwordAuthData("é")).toEqual(Buffer.from([0xc3, 0xa9, 0, 0, 0, 0, 0, 0]));
  });

  it("refuses what cannot be sent: empty, over 8 bytes (counting UTF-8), a NUL", () => {
    expect(() => passwordAuthData("")).toThrow(/empty/);
    expect(() => passwordAuthData("123456789")).toThrow(/9 bytes; VRRPv2 carries at most 8/);
    expect(() => passwordAuthData("ééééé")).toThrow(/10 bytes/);
    expect(() => passwordAuthData("a\0b")).toThrow(/NUL/);
    const thrown = (() => {
      try {
        passwordAuthData("toolongpassword");
      } catch (err) {
        return err as Error & { code?: string };
      }
      return undefined;
    })();
    expect(thrown?.code).toBe("VRRP_PASSWORD_INVALID");
    expect(thrown?.message).toBe("the password is 15 bytes; VRRPv2 carries at most 8");
  });

  it("compares all bytes and the length", () => {
    const a = passwordAuthData("pw");
    expect(sameAuthData(a, passwordAuthData("pw"))).toBe(true);
    expect(sameAuthData(a, passwordAuthData("pW"))).toBe(false);
    expect(sameAuthData(a, a.subarray(0, 7))).toBe(false);
  });

  it("names auth types as the RFC numbers them", () => {
    expect([0, 1, 2, 9].map(authTypeName)).toEqual([
      "0 (none)",
      "1 (simple password)",
      "2 (IPsec AH)",
      "9 (unknown)",
    ]);
  });
});

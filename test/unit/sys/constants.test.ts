import { describe, expect, it } from "vitest";
import * as constants from "../../../src/sys/constants.js";
import { loadNative } from "../../../src/sys/native.js";

// Numbers with no macro in the C headers the addon includes.
const NOT_IN_HEADERS = new Set(["IPPROTO_VRRP"]);

describe("src/sys/constants.ts", () => {
  it("matches the kernel headers the addon was compiled with", () => {
    const fromC = loadNative().constants;
    for (const [name, value] of Object.entries(constants)) {
      if (NOT_IN_HEADERS.has(name)) continue;
      expect({ name, value: fromC[name] }).toEqual({ name, value });
    }
    expect(constants.IPPROTO_VRRP).toBe(112);
  });
});

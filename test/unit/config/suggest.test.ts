import { describe, expect, it } from "vitest";
import { closest, didYouMean, editDistance } from "../../../src/config/suggest.js";

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and transpositions", () => {
    expect(editDistance("priority", "priority")).toBe(0);
    expect(editDistance("priorty", "priority")).toBe(1);
    expect(editDistance("pirority", "priority")).toBe(1);
    expect(editDistance("wrrr", "wrr")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });
});

describe("closest / didYouMean", () => {
  it("suggests a near match and nothing for far ones", () => {
    expect(closest("priorty", ["name", "priority", "preempt"])).toBe("priority");
    expect(closest("Priority", ["priority"])).toBe("priority");
    expect(closest("colour", ["name", "priority"])).toBeUndefined();
    expect(didYouMean("wrrr", ["rr", "wrr", "wlc"])).toBe(" (did you mean 'wrr'?)");
    expect(didYouMean("zzz", ["rr", "wrr"])).toBe("");
  });
});

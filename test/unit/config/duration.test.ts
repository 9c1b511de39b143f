import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../../src/config/duration.js";

const ms = (text: string) => {
  const r = parseDuration(text);
  return r.ok ? r.ms : r.reason;
};

describe("parseDuration", () => {
  it("parses each unit to milliseconds", () => {
    expect(ms("100ms")).toBe(100);
    expect(ms("1s")).toBe(1000);
    expect(ms("5m")).toBe(300_000);
    expect(ms("1h")).toBe(3_600_000);
    expect(ms("0s")).toBe(0);
  });

  it("parses fractions exactly", () => {
    expect(ms("1.5s")).toBe(1500);
    expect(ms("1.1s")).toBe(1100);
    expect(ms("40.95s")).toBe(40_950);
    expect(ms("0.5h")).toBe(1_800_000);
  });

  it("adds compound durations", () => {
    expect(ms("1m30s")).toBe(90_000);
    expect(ms("1h2m3s4ms")).toBe(3_723_004);
  });

  it("rejects fractions of a millisecond", () => {
    expect(ms("1.0005s")).toBe("duration '1.0005s' is not a whole number of milliseconds");
    expect(ms("1.5ms")).toBe("duration '1.5ms' is not a whole number of milliseconds");
  });

  it("rejects prose, missing units, signs and spaces", () => {
    for (const bad of ["5 minutes", "5", "", "-1s", "1 s", "1s ", "s", "1.s", "1d", "1sec", "ms"]) {
      expect(ms(bad)).toMatch(/^invalid duration/);
    }
  });

  it("round-trips formatDuration for any whole number of milliseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 86_400_000 }), (n) => {
        expect(ms(formatDuration(n))).toBe(n);
      }),
    );
  });
});

describe("formatDuration", () => {
  it("picks the largest exact unit", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(10)).toBe("10ms");
    expect(formatDuration(1500)).toBe("1.5s");
    expect(formatDuration(40_950)).toBe("40.95s");
    expect(formatDuration(300_000)).toBe("5m");
    expect(formatDuration(7_200_000)).toBe("2h");
  });
});

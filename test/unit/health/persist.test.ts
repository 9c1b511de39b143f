import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TcpCheckConfig } from "../../../src/config/types.js";
import {
  decodeHealth,
  encodeHealth,
  MIN_RECENT_MS,
  type PersistedHealth,
  RECENT_INTERVALS,
  seedsFrom,
} from "../../../src/health/persist.js";
import type { ProbeDef } from "../../../src/health/probes.js";

const NOW = 1_700_000_000_000;

const STATE: PersistedHealth = {
  version: 1,
  savedAt: NOW - 2000,
  probes: {
    "http 10.0.0.21:80 #aaaaaaaaaaaa": { health: "up", code: "ok", reason: "ok" },
    "http 10.0.0.22:80 #bbbbbbbbbbbb": { health: "down", code: "status", reason: "status 503" },
    "agent 10.0.0.21:9777 #cccccccccccc": {
      health: "up",
      code: "ok",
      reason: "ok",
      agent: { admin: "drain", health: "up", weight: { percent: 50 }, reason: "deploy" },
    },
    "exec 10.0.0.23:80 #dddddddddddd": { health: "up", code: "ok", reason: "ok", weight: 7 },
  },
  admin: { "web/10.0.0.21:80": "drain", "web/10.0.0.22:80": "disabled" },
};

function probe(id: string, intervalMs = 1000): ProbeDef {
  const spec: TcpCheckConfig = {
    type: "tcp",
    intervalMs,
    fastIntervalMs: intervalMs,
    downIntervalMs: intervalMs,
    timeoutMs: 500,
    rise: 1,
    fall: 1,
    initial: "down",
  };
  return { id, target: { address: "10.0.0.21", port: 80, family: 4 }, spec };
}

describe("encodeHealth / decodeHealth", () => {
  it("round-trips", () => {
    const text = encodeHealth(STATE);
    expect(text.endsWith("\n")).toBe(true);
    expect(decodeHealth(text)).toEqual(STATE);
  });

  const bad: [name: string, text: string, error: RegExp][] = [
    ["not JSON", "{", /^not JSON/],
    ["empty", "", /^not JSON/],
    ["null", "null", /not an object/],
    ["a number", "42", /not an object/],
    ["a string", '"x"', /not an object/],
    ["an array", "[]", /unknown version/],
    ["no version", JSON.stringify({ savedAt: NOW, probes: {}, admin: {} }), /unknown version undefined/],
    ["version 2", JSON.stringify({ version: 2, savedAt: NOW, probes: {}, admin: {} }), /unknown version 2/],
    [
      "version '1'",
      JSON.stringify({ version: "1", savedAt: NOW, probes: {}, admin: {} }),
      /unknown version 1/,
    ],
    ["savedAt a string", JSON.stringify({ version: 1, savedAt: "now", probes: {}, admin: {} }), /savedAt/],
    ["no savedAt", JSON.stringify({ version: 1, probes: {}, admin: {} }), /savedAt/],
    ["no probes", JSON.stringify({ version: 1, savedAt: NOW, admin: {} }), /probes/],
    ["probes null", JSON.stringify({ version: 1, savedAt: NOW, probes: null, admin: {} }), /probes/],
    ["no admin", JSON.stringify({ version: 1, savedAt: NOW, probes: {} }), /admin/],
  ];
  for (const [name, text, error] of bad) {
    it(`rejects ${name} with an error`, () => {
      const r = decodeHealth(text);
      expect("error" in r && r.error).toMatch(error);
    });
  }

  it("drops probe entries and admin states that are not valid", () => {
    const text = JSON.stringify({
      version: 1,
      savedAt: NOW,
      probes: {
        good: { health: "down", code: "timeout", reason: "timeout" },
        sideways: { health: "sideways", code: "ok", reason: "ok" },
        noCode: { health: "up", reason: "ok" },
        numberReason: { health: "up", code: "ok", reason: 5 },
        nothing: null,
        scalar: 7,
        badWeight: { health: "up", code: "ok", reason: "ok", weight: "heavy" },
        negativeWeight: { health: "up", code: "ok", reason: "ok", weight: -1 },
        badAgent: { health: "up", code: "ok", reason: "ok", agent: 5 },
        badAgentWeight: {
          health: "up",
          code: "ok",
          reason: "ok",
          agent: { admin: "ready", health: "up", weight: 5 },
        },
        badAgentAdmin: { health: "up", code: "ok", reason: "ok", agent: { admin: "away", health: "up" } },
      },
      admin: { a: "drain", b: "disabled", c: "enabled", d: 1, e: null },
    });
    const r = decodeHealth(text);
    expect(r).toEqual({
      version: 1,
      savedAt: NOW,
      probes: { good: { health: "down", code: "timeout", reason: "timeout" } },
      admin: { a: "drain", b: "disabled" },
    });
  });

  it("property: never throws, whatever the text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc
            .jsonValue()
            .map((v) => JSON.stringify({ version: 1, savedAt: NOW, probes: { p: v }, admin: { k: v } })),
        ),
        (text) => {
          const r = decodeHealth(text);
          expect(typeof r).toBe("object");
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("seedsFrom", () => {
  const id = "http 10.0.0.22:80 #bbbbbbbbbbbb";
  const state = (ageMs: number): PersistedHealth => ({ ...STATE, savedAt: NOW - ageMs });

  it("restores recent probes as `restored` with their health and reason", () => {
    const seeds = seedsFrom(state(2000), [probe(id), probe("http 10.0.0.99:80 #eeeeeeeeeeee")], NOW);
    expect([...seeds.keys()]).toEqual([id]);
    expect(seeds.get(id)).toEqual({ health: "down", code: "restored", reason: "status 503" });
  });

  it("carries the agent's state and the dynamic weight", () => {
    const seeds = seedsFrom(
      state(0),
      [probe("agent 10.0.0.21:9777 #cccccccccccc"), probe("exec 10.0.0.23:80 #dddddddddddd")],
      NOW,
    );
    expect(seeds.get("agent 10.0.0.21:9777 #cccccccccccc")?.agent).toEqual({
      admin: "drain",
      health: "up",
      weight: { percent: 50 },
      reason: "deploy",
    });
    expect(seeds.get("exec 10.0.0.23:80 #dddddddddddd")?.weight).toBe(7);
  });

  it("uses a state only while age ≤ max(MIN_RECENT_MS, RECENT_INTERVALS × interval)", () => {
    // docs/health.md: 3 × the interval, never less than a floor (MIN_RECENT_MS).
    expect(RECENT_INTERVALS).toBe(3);
    expect(MIN_RECENT_MS).toBeGreaterThanOrEqual(10_000);
    const short = 1000; // 3 × 1 s is under the floor: the floor applies
    expect(seedsFrom(state(MIN_RECENT_MS), [probe(id, short)], NOW).size).toBe(1);
    expect(seedsFrom(state(MIN_RECENT_MS + 1), [probe(id, short)], NOW).size).toBe(0);
    const long = MIN_RECENT_MS; // 3 × the interval is over the floor: it applies
    expect(seedsFrom(state(3 * long), [probe(id, long)], NOW).size).toBe(1);
    expect(seedsFrom(state(3 * long + 1), [probe(id, long)], NOW).size).toBe(0);
    // Each probe by its own interval.
    const mixed = seedsFrom(
      {
        ...state(2 * MIN_RECENT_MS),
        probes: {
          a: { health: "up", code: "ok", reason: "ok" },
          b: { health: "up", code: "ok", reason: "ok" },
        },
      },
      [probe("a", short), probe("b", long)],
      NOW,
    );
    expect([...mixed.keys()]).toEqual(["b"]);
  });

  it("ignores a state saved in the future (a clock that went back)", () => {
    expect(seedsFrom(state(-1), [probe(id)], NOW).size).toBe(0);
    expect(seedsFrom(state(0), [probe(id)], NOW).size).toBe(1);
  });
});

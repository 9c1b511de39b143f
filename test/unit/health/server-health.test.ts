import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MaxDown } from "../../../src/config/types.js";
import type { AgentState } from "../../../src/health/monitor.js";
import type { ServerChecks } from "../../../src/health/probes.js";
import {
  allowedDown,
  type CheckVerdict,
  checkVerdict,
  type GuardCandidate,
  guardHeld,
  type ProbeView,
  slowStartWeight,
} from "../../../src/health/server-health.js";

const UP: ProbeView = { health: "up", code: "ok", reason: "ok" };
const down = (code: string, reason: string): ProbeView => ({ health: "down", code, reason });
const agent = (a: Partial<AgentState>): ProbeView => ({
  ...UP,
  agent: { admin: "ready", health: "up", ...a },
});

function server(probes: string[], agents: string[] = []): ServerChecks {
  return { key: "web/10.0.0.21:80", virtualServer: "web", realServer: "10.0.0.21:80", probes, agents };
}

describe("checkVerdict", () => {
  const table: [
    name: string,
    probes: Record<string, ProbeView>,
    agents: string[],
    weight: number,
    want: CheckVerdict,
  ][] = [
    ["all up", { a: UP, b: UP }, [], 10, { up: true, code: "ok", reason: "ok", weight: 10, maint: false }],
    [
      "one down: its reason",
      { a: UP, b: down("status", "status 503"), c: down("timeout", "timeout") },
      [],
      10,
      { up: false, code: "status", reason: "status 503", weight: 10, maint: false },
    ],
    [
      "the first down in config order",
      { a: down("timeout", "timeout"), b: down("status", "status 503") },
      [],
      10,
      { up: false, code: "timeout", reason: "timeout", weight: 10, maint: false },
    ],
    [
      "agent down",
      { a: UP, ag: agent({ health: "down", reason: "disk full" }) },
      ["ag"],
      10,
      { up: false, code: "agent", reason: "agent: down#disk full", weight: 10, maint: false },
    ],
    [
      "agent maint: out, like disabled",
      { a: UP, ag: agent({ admin: "maint" }) },
      ["ag"],
      10,
      { up: false, code: "agent", reason: "agent: maint", weight: 10, maint: true },
    ],
    [
      "agent drain: up at weight 0",
      { a: UP, ag: agent({ admin: "drain" }) },
      ["ag"],
      10,
      { up: true, code: "ok", reason: "agent: drain", weight: 0, maint: false },
    ],
    [
      "agent weight %",
      { a: UP, ag: agent({ weight: { percent: 50 } }) },
      ["ag"],
      10,
      { up: true, code: "ok", reason: "ok", weight: 5, maint: false },
    ],
    [
      "agent weight % rounds",
      { a: UP, ag: agent({ weight: { percent: 33 } }) },
      ["ag"],
      10,
      { up: true, code: "ok", reason: "ok", weight: 3, maint: false },
    ],
    [
      "agent absolute weight",
      { a: UP, ag: agent({ weight: { absolute: 42 } }) },
      ["ag"],
      10,
      { up: true, code: "ok", reason: "ok", weight: 42, maint: false },
    ],
    [
      "exec dynamic weight",
      { a: { ...UP, weight: 7 } },
      [],
      10,
      { up: true, code: "ok", reason: "ok", weight: 7, maint: false },
    ],
    [
      "the agent's % is of the configured weight, over exec's",
      { a: { ...UP, weight: 7 }, ag: agent({ weight: { percent: 50 } }) },
      ["ag"],
      10,
      { up: true, code: "ok", reason: "ok", weight: 5, maint: false },
    ],
    [
      "clamped to 65535",
      { a: UP, ag: agent({ weight: { absolute: 70_000 } }) },
      ["ag"],
      10,
      { up: true, code: "ok", reason: "ok", weight: 65535, maint: false },
    ],
    [
      "clamped to 0",
      { a: { ...UP, weight: -3 } },
      [],
      10,
      { up: true, code: "ok", reason: "ok", weight: 0, maint: false },
    ],
    [
      "a probe not checked yet counts as down",
      { a: UP },
      [],
      10,
      { up: false, code: "initial", reason: "not checked yet", weight: 10, maint: false },
    ],
    [
      "an agent that has said nothing changes nothing",
      { a: UP, ag: UP },
      ["ag"],
      10,
      { up: true, code: "ok", reason: "ok", weight: 10, maint: false },
    ],
    [
      "a probe down wins over the agent's reason",
      { a: down("refused", "connection refused"), ag: agent({ health: "down" }) },
      ["ag"],
      10,
      { up: false, code: "refused", reason: "connection refused", weight: 10, maint: false },
    ],
  ];
  for (const [name, views, agents, weight, want] of table) {
    it(name, () => {
      const probeIds = Object.keys(views).filter((id) => !agents.includes(id));
      // "not checked yet": a health probe the lookup does not know.
      if (name.startsWith("a probe not checked")) probeIds.push("unknown");
      const map = new Map(Object.entries(views));
      expect(checkVerdict(server(probeIds, agents), (id) => map.get(id), weight)).toEqual(want);
    });
  }
});

describe("allowedDown", () => {
  const table: [MaxDown, number, number][] = [
    [{ count: 1 }, 3, 1],
    [{ count: 0 }, 3, 0],
    [{ count: 10 }, 3, 3],
    [{ percent: 50 }, 5, 2],
    [{ percent: 34 }, 3, 1],
    [{ percent: 33 }, 3, 0],
    [{ percent: 100 }, 7, 7],
    [{ percent: 0 }, 7, 0],
    [{ percent: 25 }, 0, 0],
  ];
  for (const [maxDown, total, want] of table) {
    it(`${JSON.stringify(maxDown)} of ${total} → ${want}`, () => {
      expect(allowedDown(maxDown, total)).toBe(want);
    });
  }
});

describe("guardHeld", () => {
  const c = (key: string, downSince: number, removed = false, isDown = true): GuardCandidate => ({
    key,
    down: isDown,
    downSince,
    removed,
  });
  const sorted = (s: Set<string>) => [...s].sort();

  it("is off when max_down is undefined", () => {
    expect(guardHeld([c("a", 1), c("b", 2), c("c", 3)], undefined, 3).size).toBe(0);
  });

  it("lets the earliest failures go and holds the rest", () => {
    expect(sorted(guardHeld([c("c", 3), c("a", 1), c("b", 2)], { count: 1 }, 3))).toEqual(["b", "c"]);
    expect(sorted(guardHeld([c("c", 3), c("a", 1), c("b", 2)], { count: 2 }, 3))).toEqual(["c"]);
    expect(sorted(guardHeld([c("a", 1), c("b", 2)], { count: 2 }, 3))).toEqual([]);
  });

  it("never holds a server that is up", () => {
    expect(
      sorted(guardHeld([c("a", 1), c("b", 2, false, false), c("c", 3, false, false)], { count: 0 }, 3)),
    ).toEqual(["a"]);
  });

  it("keeps a server already out, out, even when it failed later than others", () => {
    // a went out first (allowed), then recovered and failed again later than b and c.
    expect(sorted(guardHeld([c("a", 50, true), c("b", 10), c("c", 20)], { count: 1 }, 3))).toEqual([
      "b",
      "c",
    ]);
  });

  it("is stable as more fail: the held set only grows", () => {
    const step1 = guardHeld(
      [c("a", 1), c("b", 2, false, false), c("c", 3, false, false), c("d", 4, false, false)],
      { count: 1 },
      4,
    );
    expect(sorted(step1)).toEqual([]);
    const step2 = guardHeld(
      [c("a", 1, true), c("b", 2), c("c", 3, false, false), c("d", 4, false, false)],
      { count: 1 },
      4,
    );
    expect(sorted(step2)).toEqual(["b"]);
    const step3 = guardHeld([c("a", 1, true), c("b", 2), c("c", 3), c("d", 4)], { count: 1 }, 4);
    expect(sorted(step3)).toEqual(["b", "c", "d"]);
  });

  it("breaks ties of downSince by key", () => {
    expect(sorted(guardHeld([c("b", 1), c("a", 1), c("c", 1)], { count: 1 }, 3))).toEqual(["b", "c"]);
  });

  it("counts a percent against the total, rounding down", () => {
    const all = [c("a", 1), c("b", 2), c("c", 3), c("d", 4), c("e", 5)];
    expect(sorted(guardHeld(all, { percent: 50 }, 5))).toEqual(["c", "d", "e"]);
  });

  it("property: the held ones are exactly the down ones beyond the allowed count", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ down: fc.boolean(), downSince: fc.nat(100), removed: fc.boolean() }), {
          maxLength: 12,
        }),
        fc.nat(12),
        (rows, count) => {
          const cands = rows.map((r, i) => ({ key: `s${String(i).padStart(2, "0")}`, ...r }));
          const held = guardHeld(cands, { count }, cands.length);
          const downs = cands.filter((x) => x.down);
          expect(held.size).toBe(Math.max(0, downs.length - Math.min(count, cands.length)));
          for (const k of held) expect(downs.some((d) => d.key === k)).toBe(true);
          // Nobody held failed before someone let go, unless the one let go was already out.
          const out = downs.filter((d) => !held.has(d.key));
          for (const k of held) {
            const h = downs.find((d) => d.key === k) as GuardCandidate;
            for (const o of out) expect(o.removed || !h.removed).toBe(true);
            for (const o of out.filter((x) => x.removed === h.removed))
              expect(o.downSince).toBeLessThanOrEqual(h.downSince);
          }
        },
      ),
    );
  });
});

describe("slowStartWeight", () => {
  it("starts at 1, ramps, and is full at the end", () => {
    expect(slowStartWeight(10, 0, 10_000)).toBe(1);
    expect(slowStartWeight(10, 1000, 10_000)).toBe(1);
    expect(slowStartWeight(10, 5000, 10_000)).toBe(5);
    expect(slowStartWeight(10, 9000, 10_000)).toBe(9);
    expect(slowStartWeight(10, 10_000, 10_000)).toBe(10);
    expect(slowStartWeight(10, 60_000, 10_000)).toBe(10);
    expect(slowStartWeight(10, -5, 10_000)).toBe(1);
  });

  it("leaves weight 0 at 0, and does nothing without a slow start", () => {
    expect(slowStartWeight(0, 0, 10_000)).toBe(0);
    expect(slowStartWeight(0, 5000, 10_000)).toBe(0);
    expect(slowStartWeight(10, 0, 0)).toBe(10);
  });

  it("property: between 1 and the weight, never decreasing in time", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.nat(700_000),
        fc.nat(700_000),
        (w, ms, t1, t2) => {
          const [a, b] = t1 <= t2 ? [t1, t2] : [t2, t1];
          const wa = slowStartWeight(w, a, ms);
          const wb = slowStartWeight(w, b, ms);
          expect(wa).toBeGreaterThanOrEqual(1);
          expect(wb).toBeLessThanOrEqual(w);
          expect(wb).toBeGreaterThanOrEqual(wa);
          expect(Number.isInteger(wa)).toBe(true);
        },
      ),
    );
  });
});

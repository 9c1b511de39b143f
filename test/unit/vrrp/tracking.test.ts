import { describe, expect, it } from "vitest";
import { linkIsUp, type TrackedLink, Tracker } from "../../../src/vrrp/tracking.js";

const link = (name: string, ifindex: number, up = true, running = up): TrackedLink => ({
  name,
  ifindex,
  up,
  running,
});

function tracker(priority = 100, tracks: { name: string; weight: number }[] = []) {
  const t = new Tracker({ interface: "eth0", priority, trackInterfaces: tracks });
  t.setLinks([link("eth0", 2), link("eth1", 3), link("eth2", 4)]);
  return t;
}

describe("linkIsUp", () => {
  it("needs IFF_UP and carrier", () => {
    expect(linkIsUp(link("eth0", 2, true, true))).toBe(true);
    expect(linkIsUp(link("eth0", 2, true, false))).toBe(false);
    expect(linkIsUp(link("eth0", 2, false, false))).toBe(false);
    expect(linkIsUp(undefined)).toBe(false);
  });
});

describe("Tracker", () => {
  it("all up: no fault, configured priority", () => {
    expect(tracker(120, [{ name: "eth1", weight: -50 }]).result()).toEqual({ fault: null, priority: 120 });
  });

  it("the instance's own interface down or missing is a fault", () => {
    const t = tracker();
    t.onLink("new", link("eth0", 2, false));
    expect(t.result().fault).toBe("interface eth0 is down");
    t.onLink("new", link("eth0", 2, true, false));
    expect(t.result().fault).toBe("interface eth0 is down");
    t.onLink("del", link("eth0", 2, false));
    expect(t.result().fault).toBe("interface eth0 does not exist");
    t.onLink("new", link("eth0", 7));
    expect(t.result().fault).toBeNull();
  });

  it("a negative weight is added while the tracked link is down", () => {
    const t = tracker(150, [{ name: "eth1", weight: -60 }]);
    t.onLink("new", link("eth1", 3, true, false));
    expect(t.result()).toEqual({ fault: null, priority: 90 });
    t.onLink("new", link("eth1", 3));
    expect(t.result().priority).toBe(150);
  });

  it("a positive weight is added while the tracked link is up", () => {
    const t = tracker(100, [{ name: "eth1", weight: 20 }]);
    expect(t.result().priority).toBe(120);
    t.onLink("new", link("eth1", 3, false));
    expect(t.result().priority).toBe(100);
  });

  it("weight 0 down is a fault; a missing tracked interface counts as down", () => {
    const t = tracker(100, [
      { name: "eth1", weight: 0 },
      { name: "bond9", weight: -10 },
    ]);
    expect(t.result()).toEqual({ fault: null, priority: 90 });
    t.onLink("new", link("eth1", 3, false));
    expect(t.result().fault).toBe("tracked interface eth1 is down (weight 0)");
  });

  it("keeps the priority within 1..254; an owner stays 255", () => {
    const low = tracker(50, [
      { name: "eth1", weight: -100 },
      { name: "eth2", weight: -100 },
    ]);
    low.onLink("new", link("eth1", 3, false));
    low.onLink("new", link("eth2", 4, false));
    expect(low.result().priority).toBe(1);
    const high = tracker(250, [{ name: "eth1", weight: 100 }]);
    expect(high.result().priority).toBe(254);
    const owner = tracker(255, [{ name: "eth1", weight: -100 }]);
    owner.onLink("new", link("eth1", 3, false));
    expect(owner.result().priority).toBe(255);
  });

  it("a rename forgets the old name", () => {
    const t = tracker();
    t.onLink("new", link("wan0", 2));
    expect(t.result().fault).toBe("interface eth0 does not exist");
  });

  it("reconfigure changes what is tracked", () => {
    const t = tracker(100);
    t.onLink("new", link("eth1", 3, false));
    expect(t.result().priority).toBe(100);
    t.reconfigure({ interface: "eth0", priority: 100, trackInterfaces: [{ name: "eth1", weight: -30 }] });
    expect(t.result().priority).toBe(70);
    expect(t.interfaces()).toEqual(["eth0", "eth1"]);
  });
});

describe("Tracker: scripts and files (keepalived's vrrp_script and vrrp_track_file)", () => {
  function tracked(
    scripts: { name: string; weight: number }[],
    files: { name: string; weight: number }[],
    priority = 100,
    weightsAreFaults = false,
  ) {
    const t = new Tracker({
      interface: "eth0",
      priority,
      trackInterfaces: [],
      trackScripts: scripts,
      trackFiles: files,
      weightsAreFaults,
    });
    t.setLinks([link("eth0", 2)]);
    const set = (s: Record<string, boolean>, f: Record<string, number> = {}) => {
      t.setTracked(new Map(Object.entries(s)), new Map(Object.entries(f)));
      return t.result();
    };
    return set;
  }

  it("scripts: weight 0 down is a fault, > 0 added while up, < 0 added while down; no report yet is a fault", () => {
    const set = tracked(
      [
        { name: "must", weight: 0 },
        { name: "plus", weight: 20 },
        { name: "minus", weight: -30 },
      ],
      [],
    );
    expect(set({ must: true, plus: true })).toEqual({
      fault: "track script minus has not run yet",
      priority: 120,
    });
    expect(set({ must: true, plus: true, minus: true })).toEqual({ fault: null, priority: 120 });
    expect(set({ must: true, plus: false, minus: false })).toEqual({ fault: null, priority: 70 });
    expect(set({ must: false, plus: true, minus: true })).toEqual({
      fault: "track script must failed (weight 0)",
      priority: 120,
    });
  });

  it("files: weight 0 faults on any non-zero value; else value × weight, −254 or less a fault", () => {
    const set = tracked(
      [],
      [
        { name: "maint", weight: 0 },
        { name: "bias", weight: 5 },
      ],
    );
    expect(set({}, {})).toEqual({ fault: null, priority: 100 });
    expect(set({}, { bias: 4 })).toEqual({ fault: null, priority: 120 });
    expect(set({}, { bias: -3 })).toEqual({ fault: null, priority: 85 });
    // The sum is kept in 1..254, as for interfaces.
    expect(set({}, { bias: 40 }).priority).toBe(254);
    expect(set({}, { bias: -50 }).priority).toBe(1);
    expect(set({}, { bias: -51 })).toEqual({
      fault: "track file bias holds -51 (× weight 5 ≤ −254)",
      priority: 100,
    });
    expect(set({}, { maint: 1 }).fault).toBe("track file maint holds 1 (weight 0)");
  });

  it("in a sync group without tracking_weight every weight counts as 0", () => {
    const set = tracked([{ name: "s", weight: -30 }], [{ name: "f", weight: 2 }], 100, true);
    expect(set({ s: false }).fault).toBe("track script s failed (weight -30 counts as 0 in a sync group)");
    expect(set({ s: true }, { f: 3 })).toEqual({
      fault: "track file f holds 3 (weight 2 counts as 0 in a sync group)",
      priority: 100,
    });
  });

  it("an owner keeps 255 whatever the weights", () => {
    const set = tracked([{ name: "s", weight: -30 }], [], 255);
    expect(set({ s: false })).toEqual({ fault: null, priority: 255 });
  });
});

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

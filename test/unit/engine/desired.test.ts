import { describe, expect, it } from "vitest";
import { EventFactory } from "../../../src/alert/events.js";
import { formatIssue } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/parse.js";
import type { VirtualServerConfig } from "../../../src/config/types.js";
import { desiredState, healthKey, quorumEvent, quorumUp, serviceKeyOf } from "../../../src/engine/desired.js";
import { diff, type Op } from "../../../src/ipvs/reconcile.js";
import { destKeyString, type IpvsTable, serviceKeyString } from "../../../src/ipvs/types.js";

function vss(yaml: string): VirtualServerConfig[] {
  const r = parseConfig(`virtual_servers:\n${yaml}`, "test.yaml", { hostname: "lb1" });
  if (!r.ok) throw new Error(r.errors.map(formatIssue).join("\n"));
  return r.config.virtualServers;
}

/** The table as `ops` descriptions from an empty kernel: a readable, exact rendering. */
function render(table: IpvsTable): string[] {
  return diff(table, [], { owned: () => true }).ops.map((op: Op) => op.describe());
}

function dests(table: IpvsTable, i = 0): string[] {
  return (table[i]?.destinations ?? []).map((d) => `${destKeyString(d.key)} w${d.options.weight}`);
}

const EVERY_FEATURE = `
  - name: web
    address: 10.0.0.100
    port: 80
    scheduler: wlc
    forwarding: dr
    persistence: { timeout: 600s, netmask: 255.255.255.0 }
    real_servers:
      - { address: 10.0.0.21, weight: 3, upper_threshold: 100, lower_threshold: 10 }
      - { address: 10.0.0.22 }
  - name: dns
    address: 10.0.0.101
    port: 53
    protocol: udp
    scheduler: rr
    one_packet: true
    forwarding: nat
    real_servers:
      - { address: 10.0.1.31, port: 5353 }
  - name: diameter
    address: 10.0.0.102
    port: 3868
    protocol: sctp
    scheduler: sh
    scheduler_flags: [fallback, port]
    forwarding: nat
    real_servers:
      - { address: 10.0.1.41 }
  - name: web6
    address: 2001:db8::100
    port: 443
    scheduler: lblcr
    forwarding: tun
    tunnel: { type: gue, port: 6080, checksum: csum }
    persistence: { timeout: 300s, netmask: 64 }
    real_servers:
      - { address: 2001:db8::21 }
      - { address: 10.0.2.21 }
  - name: marked
    fwmark: 66
    family: ipv6
    scheduler: mh
    scheduler_flags: [mh-port]
    forwarding: dr
    real_servers:
      - { address: 2001:db8::31, weight: 0 }
`;

describe("desiredState: config → table", () => {
  it("maps every feature of a virtual server to IPVS options", () => {
    const d = desiredState(vss(EVERY_FEATURE));
    expect(render(d.table)).toEqual([
      "add service tcp 10.0.0.100:80: wlc, persistent 600s, netmask 255.255.255.0",
      "add dest 10.0.0.21:80 to tcp 10.0.0.100:80: dr, weight 3, thresholds 10..100",
      "add dest 10.0.0.22:80 to tcp 10.0.0.100:80: dr, weight 1",
      "add service udp 10.0.0.101:53: rr, one-packet",
      "add dest 10.0.1.31:5353 to udp 10.0.0.101:53: nat, weight 1",
      "add service sctp 10.0.0.102:3868: sh, sh-fallback, sh-port",
      "add dest 10.0.1.41:3868 to sctp 10.0.0.102:3868: nat, weight 1",
      "add service tcp [2001:db8::100]:443: lblcr, persistent 300s, netmask 64",
      "add dest [2001:db8::21]:443 to tcp [2001:db8::100]:443: tun gue:6080 csum, weight 1",
      "add dest 10.0.2.21:443 to tcp [2001:db8::100]:443: tun gue:6080 csum, weight 1",
      "add service fwmark 66 (inet6): mh, mh-port",
      "add dest [2001:db8::31]:0 to fwmark 66 (inet6): dr, weight 0",
    ]);
    expect(d.transitions).toEqual([]);
    // Real server weight 0 is configured quiescence: it contributes nothing to the quorum.
    expect(d.virtualServers.map((v) => [v.name, v.healthy, v.healthyWeight, v.quorum])).toEqual([
      ["web", 2, 4, true],
      ["dns", 1, 1, true],
      ["diameter", 1, 1, true],
      ["web6", 2, 2, true],
      ["marked", 1, 0, false],
    ]);
    expect(serviceKeyString(serviceKeyOf(vss(EVERY_FEATURE)[4]!))).toBe("fwmark 66 (inet6)");
  });

  it("counts every server healthy until health is known, and a server without a check always", () => {
    const config = vss(`
  - name: web
    address: 10.0.0.100
    port: 80
    check: { type: tcp }
    real_servers:
      - { address: 10.0.0.21 }
      - { address: 10.0.0.22, check: { type: none } }
`);
    expect(dests(desiredState(config).table)).toEqual(["10.0.0.21:80 w1", "10.0.0.22:80 w1"]);
    const health = new Map([
      [healthKey("web", { address: "10.0.0.21", port: 80 }), false],
      [healthKey("web", { address: "10.0.0.22", port: 80 }), false], // no check: ignored
    ]);
    expect(dests(desiredState(config, health).table)).toEqual(["10.0.0.22:80 w1"]);
    expect(healthKey("web6", { address: "2001:db8::21", port: 80 })).toBe("web6/[2001:db8::21]:80");
  });

  it("removes a failed server, or keeps it with weight 0 (inhibit)", () => {
    const yaml = (onFailure: string) => `
  - name: web
    address: 10.0.0.100
    port: 80
    on_failure: ${onFailure}
    check: { type: tcp }
    real_servers:
      - { address: 10.0.0.21, weight: 5 }
      - { address: 10.0.0.22, weight: 2 }
`;
    const down = new Map([[healthKey("web", { address: "10.0.0.21", port: 80 }), false]]);
    expect(dests(desiredState(vss(yaml("remove")), down).table)).toEqual(["10.0.0.22:80 w2"]);
    expect(dests(desiredState(vss(yaml("inhibit")), down).table)).toEqual([
      "10.0.0.21:80 w0",
      "10.0.0.22:80 w2",
    ]);
  });
});

describe("desiredState: sorry server", () => {
  const config = (onFailure = "remove") =>
    vss(`
  - name: web
    address: 10.0.0.100
    port: 80
    forwarding: dr
    on_failure: ${onFailure}
    sorry_server: 10.0.0.50:80
    check: { type: tcp }
    real_servers:
      - { address: 10.0.0.21 }
      - { address: 10.0.0.22 }
`);
  const h = (a: boolean, b: boolean) =>
    new Map([
      [healthKey("web", { address: "10.0.0.21", port: 80 }), a],
      [healthKey("web", { address: "10.0.0.22", port: 80 }), b],
    ]);

  it("is added when no real server is healthy and removed when one returns", () => {
    const c = config();
    let q = desiredState(c, h(true, true)).quorum;
    expect(dests(desiredState(c, h(true, false), q).table)).toEqual(["10.0.0.21:80 w1"]);
    const none = desiredState(c, h(false, false), q);
    expect(render(none.table)).toEqual([
      "add service tcp 10.0.0.100:80: wlc",
      "add dest 10.0.0.50:80 to tcp 10.0.0.100:80: dr, weight 1",
    ]);
    expect(none.virtualServers[0]).toMatchObject({ healthy: 0, quorum: false, sorryServer: true });
    q = none.quorum;
    const back = desiredState(c, h(false, true), q);
    expect(dests(back.table)).toEqual(["10.0.0.22:80 w1"]);
    expect(back.virtualServers[0]?.sorryServer).toBe(false);
  });

  it("joins inhibited servers (weight 0) and replaces none of them", () => {
    expect(dests(desiredState(config("inhibit"), h(false, false)).table)).toEqual([
      "10.0.0.21:80 w0",
      "10.0.0.22:80 w0",
      "10.0.0.50:80 w1",
    ]);
  });
});

describe("desiredState: quorum with hysteresis", () => {
  it("follows quorumUp: lost below weight − hysteresis, gained at weight + hysteresis", () => {
    const q = { weight: 4, hysteresis: 1 };
    expect([quorumUp(undefined, 4, q), quorumUp(undefined, 3, q)]).toEqual([true, false]);
    expect([quorumUp(true, 3, q), quorumUp(true, 2, q)]).toEqual([true, false]);
    expect([quorumUp(false, 4, q), quorumUp(false, 5, q)]).toEqual([false, true]);
  });

  it("produces quorum.lost / quorum.gained transitions, and alert events for them", () => {
    const c = vss(`
  - name: web
    address: 10.0.0.100
    port: 80
    quorum: { weight: 4, hysteresis: 1 }
    check: { type: tcp }
    real_servers:
      - { address: 10.0.0.21, weight: 2 }
      - { address: 10.0.0.22, weight: 2 }
      - { address: 10.0.0.23, weight: 1 }
`);
    const key = (n: number) => healthKey("web", { address: `10.0.0.${n}`, port: 80 });
    const up = (...ns: number[]) =>
      new Map([21, 22, 23].map((n) => [key(n), ns.includes(n)] as [string, boolean]));
    const steps: Array<[string, Map<string, boolean>]> = [
      ["all up (5)", up(21, 22, 23)],
      ["22 down (3): within hysteresis", up(21, 23)],
      ["23 down (2): lost", up(21)],
      ["22 back (4): not yet", up(21, 22)],
      ["23 back (5): gained", up(21, 22, 23)],
    ];
    let quorum: Map<string, boolean> | undefined;
    const seen: string[] = [];
    const factory = new EventFactory({ node: "lb1", bootId: "b", now: () => Date.UTC(2026, 0, 1) });
    const events = [];
    for (const [label, health] of steps) {
      const d = desiredState(c, health, quorum);
      quorum = d.quorum;
      seen.push(
        `${label}: ${d.transitions.map((t) => `${t.event} ${t.weight}/${t.quorum}`).join(", ") || "-"}`,
      );
      for (const t of d.transitions) events.push(quorumEvent(factory, t));
    }
    expect(seen).toEqual([
      "all up (5): -",
      "22 down (3): within hysteresis: -",
      "23 down (2): lost: quorum.lost 2/4",
      "22 back (4): not yet: -",
      "23 back (5): gained: quorum.gained 5/4",
    ]);
    expect(events).toEqual([
      {
        id: "lb1:b:1",
        event: "quorum.lost",
        node: "lb1",
        timestamp: "2026-01-01T00:00:00.000Z",
        virtual_server: "web",
        weight: 2,
        quorum: 4,
      },
      {
        id: "lb1:b:2",
        event: "quorum.gained",
        node: "lb1",
        timestamp: "2026-01-01T00:00:00.000Z",
        virtual_server: "web",
        weight: 5,
        quorum: 4,
      },
    ]);
  });
});

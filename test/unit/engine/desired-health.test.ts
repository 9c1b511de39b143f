import { describe, expect, it } from "vitest";
import type {
  OnFailure,
  RealServerConfig,
  TcpCheckConfig,
  VirtualServerConfig,
} from "../../../src/config/types.js";
import {
  desiredState,
  type HealthMap,
  type ServerHealth,
  sameHealth,
  serverHealth,
} from "../../../src/engine/desired.js";
import { destKeyString } from "../../../src/ipvs/types.js";

const TCP: TcpCheckConfig = {
  type: "tcp",
  intervalMs: 1000,
  fastIntervalMs: 1000,
  downIntervalMs: 1000,
  timeoutMs: 500,
  rise: 1,
  fall: 1,
  initial: "down",
};

/** A checked real server (the health manager names every checked server in the map). */
function rs(address: string, weight = 10): RealServerConfig {
  return { address, port: 80, family: 4, weight, upperThreshold: 0, lowerThreshold: 0, checks: [TCP] };
}

function vs(onFailure: OnFailure, over: Partial<VirtualServerConfig> = {}): VirtualServerConfig {
  return {
    name: "web",
    family: 4,
    address: "10.0.0.100",
    port: 80,
    protocol: "tcp",
    scheduler: "wlc",
    schedulerFlags: { fallback: false, port: false },
    forwarding: "dr",
    onePacket: false,
    onFailure,
    quorum: { weight: 0, hysteresis: 0 },
    slowStartMs: 0,
    realServers: [rs("10.0.0.21"), rs("10.0.0.22")],
    ...over,
  };
}

const health = (h21: boolean | ServerHealth, h22: boolean | ServerHealth = true): HealthMap =>
  new Map([
    ["web/10.0.0.21:80", h21],
    ["web/10.0.0.22:80", h22],
  ]);

/** "address:port wN" of the first service's destinations. */
function dests(v: VirtualServerConfig, h?: HealthMap): string[] {
  return (desiredState([v], h).table[0]?.destinations ?? []).map(
    (d) => `${destKeyString(d.key)} w${d.options.weight}`,
  );
}

describe("desiredState with ServerHealth", () => {
  it("leaves a disabled server out, even with on_failure: inhibit", () => {
    for (const onFailure of ["remove", "inhibit"] as const) {
      expect(dests(vs(onFailure), health({ up: false, disabled: true }))).toEqual(["10.0.0.22:80 w10"]);
      // Disabled wins over up as well (an agent's maint with the checks passing).
      expect(dests(vs(onFailure), health({ up: true, disabled: true }))).toEqual(["10.0.0.22:80 w10"]);
    }
  });

  it("removes a down server or keeps it at weight 0, per on_failure", () => {
    expect(dests(vs("remove"), health({ up: false }))).toEqual(["10.0.0.22:80 w10"]);
    expect(dests(vs("inhibit"), health({ up: false }))).toEqual(["10.0.0.21:80 w0", "10.0.0.22:80 w10"]);
    expect(dests(vs("inhibit"), health(false))).toEqual(["10.0.0.21:80 w0", "10.0.0.22:80 w10"]);
  });

  it("uses the health's weight while up, else the configured one", () => {
    expect(dests(vs("remove"), health({ up: true, weight: 3 }))).toEqual([
      "10.0.0.21:80 w3",
      "10.0.0.22:80 w10",
    ]);
    expect(dests(vs("remove"), health({ up: true, weight: 0 }))).toEqual([
      "10.0.0.21:80 w0",
      "10.0.0.22:80 w10",
    ]);
    expect(dests(vs("remove"), health({ up: true }))).toEqual(["10.0.0.21:80 w10", "10.0.0.22:80 w10"]);
    // A weight while down is not used.
    expect(dests(vs("inhibit"), health({ up: false, weight: 5 }))).toEqual([
      "10.0.0.21:80 w0",
      "10.0.0.22:80 w10",
    ]);
    // Not named: up with the configured weight.
    expect(dests(vs("remove"), new Map())).toEqual(["10.0.0.21:80 w10", "10.0.0.22:80 w10"]);
  });

  it("does not count a drained server toward quorum, but counts it as healthy", () => {
    const v = vs("remove", { quorum: { weight: 20, hysteresis: 0 } });
    const all = desiredState([v], health(true, true));
    expect(all.virtualServers[0]).toMatchObject({ healthy: 2, healthyWeight: 20, quorum: true });
    const drained = desiredState([v], health({ up: true, weight: 0 }), all.quorum);
    expect(drained.virtualServers[0]).toMatchObject({ healthy: 2, healthyWeight: 10, quorum: false });
    expect(drained.transitions).toEqual([
      { virtualServer: "web", event: "quorum.lost", weight: 10, quorum: 20 },
    ]);
    // A ramping server (slow start) counts with its configured weight.
    const ramping = desiredState([v], health({ up: true, weight: 1 }), all.quorum);
    expect(ramping.virtualServers[0]).toMatchObject({ healthyWeight: 20, quorum: true });
  });

  it("does not count a disabled server as healthy: the sorry server comes in when none is left", () => {
    const v = vs("inhibit", { sorryServer: { address: "10.0.0.50", port: 80, family: 4 } });
    const d = desiredState([v], health({ up: false, disabled: true }, { up: false, disabled: true }));
    expect(d.virtualServers[0]).toMatchObject({ healthy: 0, sorryServer: true });
    expect(d.table[0]?.destinations.map((x) => `${destKeyString(x.key)} w${x.options.weight}`)).toEqual([
      "10.0.0.50:80 w1",
    ]);
  });
});

describe("serverHealth / sameHealth", () => {
  it("reads booleans as short for { up }", () => {
    const v = vs("remove");
    expect(serverHealth(v, rs("10.0.0.21"), health(false))).toEqual({ up: false });
    expect(serverHealth(v, rs("10.0.0.21"), health(true))).toEqual({ up: true });
    expect(serverHealth(v, rs("10.0.0.99"), health(false))).toEqual({ up: true });
  });

  it("compares up, weight and disabled", () => {
    expect(sameHealth(true, { up: true })).toBe(true);
    expect(sameHealth(undefined, { up: true })).toBe(true);
    expect(sameHealth({ up: false }, { up: false, disabled: false })).toBe(true);
    expect(sameHealth({ up: true, weight: 0 }, { up: true })).toBe(false);
    expect(sameHealth({ up: false }, { up: false, disabled: true })).toBe(false);
    expect(sameHealth({ up: true, weight: 2 }, { up: true, weight: 3 })).toBe(false);
  });
});

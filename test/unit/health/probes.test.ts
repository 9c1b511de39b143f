import { describe, expect, it } from "vitest";
import type {
  DnsCheckConfig,
  HttpCheckConfig,
  ProbeCheckConfig,
  RealServerConfig,
  VirtualServerConfig,
} from "../../../src/config/types.js";
import { checkTarget, healthKey, planProbes, probeId } from "../../../src/health/probes.js";

function http(over: Partial<HttpCheckConfig> = {}): HttpCheckConfig {
  return {
    type: "http",
    intervalMs: 1000,
    fastIntervalMs: 1000,
    downIntervalMs: 1000,
    timeoutMs: 500,
    rise: 2,
    fall: 3,
    initial: "down",
    method: "GET",
    path: "/health",
    headers: {},
    status: [{ min: 200, max: 299 }],
    maxBodyBytes: 65536,
    keepalive: false,
    ...over,
  };
}

function dns(over: Partial<DnsCheckConfig> = {}): DnsCheckConfig {
  return {
    type: "dns",
    intervalMs: 1000,
    fastIntervalMs: 1000,
    downIntervalMs: 1000,
    timeoutMs: 500,
    rise: 1,
    fall: 1,
    initial: "down",
    name: "example.com",
    recordType: "A",
    rcode: "NOERROR",
    ...over,
  };
}

function rs(address: string, checks: ProbeCheckConfig[], port = 80): RealServerConfig {
  return {
    address,
    port,
    family: address.includes(":") ? 6 : 4,
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    checks,
  };
}

function vs(name: string, realServers: RealServerConfig[], address = "10.0.0.100"): VirtualServerConfig {
  return {
    name,
    family: 4,
    address,
    port: 80,
    protocol: "tcp",
    scheduler: "wlc",
    schedulerFlags: { fallback: false, port: false },
    forwarding: "dr",
    onePacket: false,
    onFailure: "remove",
    quorum: { weight: 0, hysteresis: 0 },
    slowStartMs: 0,
    realServers,
  };
}

describe("planProbes", () => {
  it("one probe for the same real server checked the same way behind two virtual servers", () => {
    const plan = planProbes([
      vs("web", [rs("10.0.0.21", [http()])]),
      vs("web-alt", [rs("10.0.0.21", [http()])], "10.0.0.101"),
    ]);
    expect(plan.probes).toHaveLength(1);
    expect(plan.subscriptions).toBe(2);
    const id = plan.probes[0]?.id as string;
    expect(plan.servers).toEqual([
      { key: "web/10.0.0.21:80", virtualServer: "web", realServer: "10.0.0.21:80", probes: [id], agents: [] },
      {
        key: "web-alt/10.0.0.21:80",
        virtualServer: "web-alt",
        realServer: "10.0.0.21:80",
        probes: [id],
        agents: [],
      },
    ]);
    expect(plan.probes[0]?.target).toEqual({ address: "10.0.0.21", port: 80, family: 4 });
  });

  it("two probes when anything of the check differs (rise, here)", () => {
    const plan = planProbes([
      vs("web", [rs("10.0.0.21", [http()])]),
      vs("b", [rs("10.0.0.21", [http({ rise: 3 })])]),
    ]);
    expect(plan.probes).toHaveLength(2);
    expect(plan.subscriptions).toBe(2);
    expect(plan.servers[0]?.probes).not.toEqual(plan.servers[1]?.probes);
  });

  it("two probes for two ports of one address", () => {
    const plan = planProbes([vs("web", [rs("10.0.0.21", [http()], 80), rs("10.0.0.21", [http()], 8080)])]);
    expect(plan.probes.map((p) => p.target.port).sort()).toEqual([80, 8080]);
  });

  it("shares a probe when connect_address / connect_port point two servers at one target", () => {
    const admin = http({ connectAddress: "10.0.9.1", connectPort: 9000 });
    const plan = planProbes([vs("web", [rs("10.0.0.21", [admin]), rs("10.0.0.22", [admin])])]);
    expect(plan.probes).toHaveLength(1);
    expect(plan.probes[0]?.target).toEqual({ address: "10.0.9.1", port: 9000, family: 4 });
    expect(plan.servers).toHaveLength(2);
  });

  it("puts agent checks apart, leaves servers with no checks out, keeps config order", () => {
    const agent: ProbeCheckConfig = { ...http(), type: "agent", connectPort: 9777 };
    const tcp: ProbeCheckConfig = { ...http(), type: "tcp" };
    const plan = planProbes([vs("web", [rs("10.0.0.21", [http(), agent, tcp]), rs("10.0.0.22", [])])]);
    expect(plan.servers).toHaveLength(1);
    const s = plan.servers[0];
    expect(s?.probes.map((id) => id.split(" ")[0])).toEqual(["http", "tcp"]);
    expect(s?.agents.map((id) => id.split(" ")[0])).toEqual(["agent"]);
    expect(plan.subscriptions).toBe(3);
  });

  it("names IPv6 servers with brackets", () => {
    const plan = planProbes([vs("web6", [rs("2001:db8::21", [http()])], "2001:db8::100")]);
    expect(plan.servers[0]?.key).toBe("web6/[2001:db8::21]:80");
    expect(plan.probes[0]?.target.family).toBe(6);
    expect(plan.probes[0]?.id).toMatch(/^http \[2001:db8::21\]:80 #[0-9a-f]{12}$/);
  });
});

describe("probeId", () => {
  const target = { address: "10.0.0.21", port: 80, family: 4 as const };

  it("reads as type, endpoint and a digest", () => {
    expect(probeId(target, http())).toMatch(/^http 10\.0\.0\.21:80 #[0-9a-f]{12}$/);
  });

  it("does not depend on the order of object keys", () => {
    const a = http({ headers: { "x-a": "1", "x-b": "2" } });
    // The same spec built in reverse key order, headers included.
    const reversed = Object.fromEntries(Object.entries(a).reverse()) as unknown as HttpCheckConfig;
    reversed.headers = { "x-b": "2", "x-a": "1" };
    expect(Object.keys(reversed)[0]).not.toBe(Object.keys(a)[0]);
    expect(probeId({ family: 4, port: 80, address: "10.0.0.21" }, reversed)).toBe(probeId(target, a));
  });

  it("ignores undefined fields (an absent optional key)", () => {
    expect(probeId(target, { ...http(), expect: undefined })).toBe(probeId(target, http()));
  });

  it("changes with anything of the target or spec", () => {
    const base = probeId(target, http());
    expect(probeId({ ...target, port: 81 }, http())).not.toBe(base);
    expect(probeId({ ...target, address: "10.0.0.22" }, http())).not.toBe(base);
    expect(probeId(target, http({ timeoutMs: 501 }))).not.toBe(base);
    expect(probeId(target, http({ headers: { host: "x" } }))).not.toBe(base);
    expect(probeId(target, http({ status: [{ min: 200, max: 204 }] }))).not.toBe(base);
  });

  it("is stable across plans (the same config planned twice)", () => {
    const config = () => [vs("web", [rs("10.0.0.21", [http()]), rs("10.0.0.22", [http()])])];
    expect(planProbes(config()).probes.map((p) => p.id)).toEqual(
      planProbes(config()).probes.map((p) => p.id),
    );
  });
});

describe("checkTarget", () => {
  it("is the real server by default", () => {
    expect(checkTarget({ address: "10.0.0.21", port: 8080 }, http())).toEqual({
      address: "10.0.0.21",
      port: 8080,
      family: 4,
    });
  });

  it("uses connect_address and connect_port", () => {
    expect(checkTarget({ address: "10.0.0.21", port: 80 }, http({ connectAddress: "10.0.9.1" }))).toEqual({
      address: "10.0.9.1",
      port: 80,
      family: 4,
    });
    expect(checkTarget({ address: "10.0.0.21", port: 80 }, http({ connectPort: 9000 }))).toEqual({
      address: "10.0.0.21",
      port: 9000,
      family: 4,
    });
    expect(checkTarget({ address: "10.0.0.21", port: 80 }, http({ connectAddress: "2001:db8::9" }))).toEqual({
      address: "2001:db8::9",
      port: 80,
      family: 6,
    });
  });

  it("dns on a port-less (fwmark) real server uses 53; a port or connect_port wins", () => {
    expect(checkTarget({ address: "10.0.0.21", port: 0 }, dns()).port).toBe(53);
    expect(checkTarget({ address: "10.0.0.21", port: 5353 }, dns()).port).toBe(5353);
    expect(checkTarget({ address: "10.0.0.21", port: 0 }, dns({ connectPort: 5300 })).port).toBe(5300);
    // Only dns has a default port.
    expect(checkTarget({ address: "10.0.0.21", port: 0 }, http()).port).toBe(0);
  });
});

describe("healthKey", () => {
  it("is the virtual server name and the real server endpoint", () => {
    expect(healthKey("web", { address: "10.0.0.21", port: 80 })).toBe("web/10.0.0.21:80");
    expect(healthKey("web6", { address: "2001:db8::21", port: 443 })).toBe("web6/[2001:db8::21]:443");
  });
});

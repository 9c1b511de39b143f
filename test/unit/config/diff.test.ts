import { describe, expect, it } from "vitest";
import { deepEqual, diff, summarizeDiff } from "../../../src/config/diff.js";
import { formatIssue } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/parse.js";
import type { VipdConfig } from "../../../src/config/types.js";

const BASE = `node: lb1
vrrp:
  instances:
    - { name: web, interface: eth0, vrid: 51, priority: 150, virtual_ips: [10.0.0.100/24] }
    - { name: db, interface: eth0, vrid: 52, virtual_ips: [10.0.0.200/24] }
  sync_groups: [{ name: g, instances: [web, db] }]
virtual_servers:
  - name: web
    address: 10.0.0.100
    port: 80
    forwarding: dr
    check: { type: http, path: /healthz }
    real_servers:
      - { address: 10.0.0.21 }
      - { address: 10.0.0.22 }
`;

function parse(text: string): VipdConfig {
  const result = parseConfig(text, "t.yaml", { hostname: "h" });
  if (!result.ok) throw new Error(result.errors.map(formatIssue).join("\n"));
  return result.config;
}

function edit(change: (c: VipdConfig) => void): VipdConfig {
  const config = parse(BASE);
  change(config);
  return config;
}

const base = parse(BASE);

describe("diff", () => {
  it("reports nothing for equal configs", () => {
    const d = diff(base, parse(BASE));
    expect(d.changed).toBe(false);
    expect(summarizeDiff(d)).toEqual([]);
  });

  it("tells a priority-only change (in place) from an interface/vrid change (restart)", () => {
    const priority = diff(
      base,
      edit((c) => {
        c.vrrp.instances[0]!.priority = 100;
      }),
    );
    expect(priority.changed).toBe(true);
    expect(priority.vrrp.instances.changed).toEqual([{ name: "web", fields: ["priority"], restart: false }]);

    const moved = diff(
      base,
      edit((c) => {
        c.vrrp.instances[0]!.interface = "eth1";
        c.vrrp.instances[0]!.vrid = 61;
        c.vrrp.instances[0]!.preempt = false;
      }),
    );
    expect(moved.vrrp.instances.changed).toEqual([
      { name: "web", fields: ["interface", "vrid", "preempt"], restart: true },
    ]);

    // Becoming the address owner (or ceasing to be) changes how the instance starts: a restart.
    const owner = diff(
      base,
      edit((c) => {
        c.vrrp.instances[0]!.priority = 255;
      }),
    );
    expect(owner.vrrp.instances.changed).toEqual([{ name: "web", fields: ["priority"], restart: true }]);
  });

  it("reports added and removed instances, and sync group changes", () => {
    const d = diff(
      base,
      parse(
        BASE.replace("name: db, interface: eth0, vrid: 52", "name: cache, interface: eth0, vrid: 53").replace(
          "instances: [web, db]",
          "instances: [web, cache]",
        ),
      ),
    );
    expect(d.vrrp.instances).toEqual({ added: ["cache"], removed: ["db"], changed: [] });
    expect(d.vrrp.syncGroups).toEqual({ added: [], removed: [], changed: ["g"] });
  });

  it("reports virtual server field changes, and identity changes as recreate", () => {
    const sched = diff(
      base,
      edit((c) => {
        c.virtualServers[0]!.scheduler = "rr";
      }),
    );
    expect(sched.virtualServers.changed).toEqual([
      {
        name: "web",
        fields: ["scheduler"],
        recreate: false,
        realServers: { added: [], removed: [], changed: [] },
      },
    ]);
    const port = diff(
      base,
      edit((c) => {
        c.virtualServers[0]!.port = 8080;
        for (const rs of c.virtualServers[0]!.realServers) rs.port = 8080;
      }),
    );
    expect(port.virtualServers.changed[0]).toMatchObject({ fields: ["port"], recreate: true });
    expect(port.virtualServers.changed[0]?.realServers).toEqual({
      added: ["10.0.0.21:8080", "10.0.0.22:8080"],
      removed: ["10.0.0.21:80", "10.0.0.22:80"],
      changed: [],
    });
  });

  it("reports real servers added, removed and changed per virtual server", () => {
    const d = diff(
      base,
      parse(
        BASE.replace("      - { address: 10.0.0.22 }\n", "      - { address: 10.0.0.23 }\n").replace(
          "{ address: 10.0.0.21 }",
          "{ address: 10.0.0.21, weight: 5, check: { path: /other } }",
        ),
      ),
    );
    expect(d.virtualServers.changed).toEqual([
      {
        name: "web",
        fields: [],
        recreate: false,
        realServers: {
          added: ["10.0.0.23:80"],
          removed: ["10.0.0.22:80"],
          changed: [{ key: "10.0.0.21:80", fields: ["weight", "checks"] }],
        },
      },
    ]);
  });

  it("a service-level check change shows on the service and on every real server it applies to", () => {
    const d = diff(base, parse(BASE.replace("path: /healthz", "path: /ready")));
    expect(d.virtualServers.changed[0]?.fields).toEqual(["checks"]);
    expect(d.virtualServers.changed[0]?.realServers.changed.map((c) => c.key)).toEqual([
      "10.0.0.21:80",
      "10.0.0.22:80",
    ]);
  });

  it("a change of checks, slow_start or max_down marks the virtual server changed", () => {
    const d = diff(
      base,
      parse(
        BASE.replace(
          "    check: { type: http, path: /healthz }\n",
          "    check: [ { type: http, path: /healthz }, { type: tcp } ]\n    slow_start: 30s\n    max_down: 50%\n",
        ),
      ),
    );
    expect(d.virtualServers.changed[0]?.fields).toEqual(["checks", "slowStartMs", "maxDown"]);
    expect(d.virtualServers.changed[0]?.realServers.changed).toEqual([
      { key: "10.0.0.21:80", fields: ["checks"] },
      { key: "10.0.0.22:80", fields: ["checks"] },
    ]);
    expect(summarizeDiff(d)[0]).toBe("virtual server 'web' changed: checks, slowStartMs, maxDown");
  });

  it("reports a change of the health section", () => {
    const d = diff(base, parse(`${BASE}health: { concurrency: 500 }\n`));
    expect([d.changed, d.health]).toEqual([true, true]);
    expect(summarizeDiff(d)).toEqual(["health changed"]);
    expect(diff(base, parse(`${BASE}health: { state_dir: /var/lib/vipd }\n`)).changed).toBe(false);
  });

  it("reports added/removed virtual servers and the small sections", () => {
    const d = diff(
      base,
      edit((c) => {
        c.virtualServers = [];
        c.log.level = "debug";
        c.metrics = { listen: { host: "127.0.0.1", port: 9717 } };
        c.alerts.webhooks.push({
          url: "https://x.example/",
          events: ["vrrp.state"],
          timeoutMs: 1,
          retries: 0,
          queueSize: 1,
        });
        c.vrrp.heartbeatTimeoutMs = 5000;
      }),
    );
    expect(d.virtualServers.removed).toEqual(["web"]);
    expect([d.node, d.log, d.api, d.metrics, d.ipvs, d.health, d.alerts, d.vrrp.heartbeatTimeout]).toEqual([
      false,
      true,
      false,
      true,
      false,
      false,
      true,
      true,
    ]);
    expect(summarizeDiff(d)).toEqual([
      "log changed",
      "metrics changed",
      "alerts changed",
      "vrrp.heartbeat_timeout changed",
      "virtual server 'web' removed",
    ]);
  });
});

describe("deepEqual", () => {
  it("compares structure and treats undefined properties as absent", () => {
    expect(deepEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(deepEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(deepEqual([1, 2], [2, 1])).toBe(false);
    expect(deepEqual({ a: 1 }, { a: "1" })).toBe(false);
    expect(deepEqual([], {})).toBe(false);
  });
});

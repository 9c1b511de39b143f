import { describe, expect, it } from "vitest";
import { DEFAULTS } from "../../../src/config/defaults.js";
import { formatIssue } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/parse.js";
import { ALERT_EVENTS, type VipdConfig } from "../../../src/config/types.js";

function valid(text: string): VipdConfig {
  const result = parseConfig(text, "t.yaml", { hostname: "test-host" });
  if (!result.ok) throw new Error(result.errors.map(formatIssue).join("\n"));
  return result.config;
}

/** The config contract's example (every documented key), verbatim. */
const CONTRACT_EXAMPLE = `node: lb1                         # optional, default hostname
log: { level: info }
api: { socket: /run/vipd/vipd.sock }   # status/control
metrics: { listen: 127.0.0.1:9717 }    # Prometheus; omit to disable
vrrp:
  instances:
    - name: web
      interface: eth0
      vrid: 51
      priority: 150               # 1..255
      version: 3                  # 2 | 3, default 3
      advert_interval: 100ms      # v3: 10ms..40.95s in 10ms steps; v2: whole seconds
      preempt: true
      preempt_delay: 0s
      virtual_ips: [10.0.0.100/24]
      unicast_peers: []           # optional; multicast when empty
      track_interfaces: [{ name: eth1, weight: -50 }]   # weight 0 = FAULT when down
      garp: { repeat: 5, refresh: 0s }
  sync_groups: [{ name: g1, instances: [web] }]
virtual_servers:
  - name: web
    address: 10.0.0.100           # or: fwmark: 66
    port: 80
    protocol: tcp                 # tcp | udp | sctp
    scheduler: wlc                # rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh
    forwarding: dr                # nat | dr | tun
    persistence: { timeout: 300s }
    on_failure: remove            # remove | inhibit (weight 0)
    quorum: { weight: 1, hysteresis: 0 }
    sorry_server: 10.0.0.50:80
    check: { type: http, path: /healthz, status: [200-299], interval: 2s, timeout: 1s, rise: 2, fall: 3 }
    real_servers:
      - { address: 10.0.0.21, port: 80, weight: 1 }
      - { address: 10.0.0.22, port: 80, weight: 1, check: { type: tcp } }
alerts:
  webhooks:
    - url: https://hooks.example.com/vipd
      events: [vrrp.state, real_server.down, real_server.up, quorum.lost, quorum.gained]
      secret_file: /etc/vipd/webhook.secret   # HMAC-SHA256 signature header
`;

describe("the config contract example", () => {
  it("parses to the expected typed config", () => {
    const config = valid(CONTRACT_EXAMPLE);
    expect(config.node).toBe("lb1");
    expect(config.metrics).toEqual({ listen: { host: "127.0.0.1", port: 9717 } });
    expect(config.vrrp.instances).toEqual([
      {
        name: "web",
        interface: "eth0",
        vrid: 51,
        priority: 150,
        version: 3,
        family: 4,
        advertIntervalMs: 100,
        preempt: true,
        preemptDelayMs: 0,
        virtualIps: [{ address: "10.0.0.100", prefixLength: 24, family: 4 }],
        unicastPeers: [],
        trackInterfaces: [{ name: "eth1", weight: -50 }],
        trackScripts: [],
        trackFiles: [],
        garp: { repeat: 5, delayMs: 5000, refreshMs: 0 },
        checksumMode: "pseudo",
        unicastTtl: { send: 255 },
      },
    ]);
    expect(config.vrrp.syncGroups).toEqual([{ name: "g1", instances: ["web"], trackingWeight: false }]);
    const vs = config.virtualServers[0];
    expect(vs).toMatchObject({
      name: "web",
      family: 4,
      address: "10.0.0.100",
      port: 80,
      protocol: "tcp",
      scheduler: "wlc",
      forwarding: "dr",
      persistence: { timeoutMs: 300_000, netmaskPrefix: 32 },
      onFailure: "remove",
      quorum: { weight: 1, hysteresis: 0 },
      sorryServer: { address: "10.0.0.50", port: 80, family: 4 },
    });
    expect(vs?.realServers[0]?.checks).toEqual([
      {
        type: "http",
        intervalMs: 2000,
        fastIntervalMs: 2000,
        downIntervalMs: 2000,
        timeoutMs: 1000,
        rise: 2,
        fall: 3,
        initial: "down",
        method: "GET",
        path: "/healthz",
        headers: {},
        status: [{ min: 200, max: 299 }],
        maxBodyBytes: 65_536,
        keepalive: false,
      },
    ]);
    // A different type inherits only the timing keys.
    expect(vs?.realServers[1]?.checks).toEqual([
      {
        type: "tcp",
        intervalMs: 2000,
        fastIntervalMs: 2000,
        downIntervalMs: 2000,
        timeoutMs: 1000,
        rise: 2,
        fall: 3,
        initial: "down",
      },
    ]);
    expect(config.alerts.webhooks[0]).toEqual({
      url: "https://hooks.example.com/vipd",
      events: ["vrrp.state", "real_server.down", "real_server.up", "quorum.lost", "quorum.gained"],
      secretFile: "/etc/vipd/webhook.secret",
      timeoutMs: 5000,
      retries: 5,
      queueSize: 1000,
    });
  });
});

describe("defaults", () => {
  it("fills every optional key of a minimal VRRP-only config", () => {
    const config = valid(
      "vrrp:\n  instances:\n    - { name: a, interface: eth0, vrid: 1, virtual_ips: [10.0.0.1] }\n",
    );
    expect(config.node).toBe("test-host");
    expect(config.log).toEqual({ level: "info" });
    expect(config.api).toEqual({ socket: "/run/vipd/vipd.sock" });
    expect(config.metrics).toEqual({});
    expect(config.vrrp.heartbeatTimeoutMs).toBe(2000);
    expect(config.vrrp.syncGroups).toEqual([]);
    expect(config.virtualServers).toEqual([]);
    expect(config.ipvs).toEqual({ flushOnStart: false, resyncIntervalMs: 30_000 });
    expect(config.health).toEqual({ stateDir: "/var/lib/vipd", concurrency: 1000, tlsConcurrency: 64 });
    expect(config.alerts).toEqual({ webhooks: [] });
    expect(config.vrrp.instances[0]).toEqual({
      name: "a",
      interface: "eth0",
      vrid: 1,
      priority: 100,
      version: 3,
      family: 4,
      advertIntervalMs: 1000,
      preempt: true,
      preemptDelayMs: 0,
      virtualIps: [{ address: "10.0.0.1", prefixLength: 32, family: 4 }],
      unicastPeers: [],
      trackInterfaces: [],
      trackScripts: [],
      trackFiles: [],
      garp: { repeat: 5, delayMs: 5000, refreshMs: 0 },
      checksumMode: "pseudo",
      unicastTtl: { send: 255 },
    });
  });

  it("fills every optional key of a minimal IPVS-only config", () => {
    const config = valid(
      "virtual_servers:\n  - { name: w, address: 10.0.0.1, port: 80, real_servers: [{ address: 10.0.1.1 }] }\n",
    );
    expect(config.vrrp.instances).toEqual([]);
    expect(config.virtualServers[0]).toEqual({
      name: "w",
      family: 4,
      address: "10.0.0.1",
      port: 80,
      protocol: "tcp",
      scheduler: "wlc",
      schedulerFlags: { fallback: false, port: false },
      forwarding: "nat",
      onePacket: false,
      onFailure: "remove",
      quorum: { weight: 1, hysteresis: 0 },
      slowStartMs: 0,
      realServers: [
        {
          address: "10.0.1.1",
          port: 80,
          family: 4,
          weight: 1,
          upperThreshold: 0,
          lowerThreshold: 0,
          checks: [],
        },
      ],
    });
  });

  it("applies check defaults", () => {
    const config = valid(
      "virtual_servers:\n  - { name: w, address: 10.0.0.1, port: 80, check: { type: https } }\n",
    );
    expect(config.virtualServers[0]?.checks).toEqual([
      {
        type: "https",
        intervalMs: DEFAULTS.check.intervalMs,
        fastIntervalMs: DEFAULTS.check.intervalMs,
        downIntervalMs: DEFAULTS.check.intervalMs,
        timeoutMs: DEFAULTS.check.timeoutMs,
        rise: DEFAULTS.check.rise,
        fall: DEFAULTS.check.fall,
        initial: "down",
        method: "GET",
        path: "/",
        headers: {},
        status: [{ min: 200, max: 299 }],
        maxBodyBytes: 65_536,
        keepalive: false,
        // Verification is on unless switched off (it used to be off).
        tls: { verify: true },
      },
    ]);
  });

  it("applies webhook defaults: all events, 5s timeout, 5 retries, queue of 1000", () => {
    const config = valid(
      "virtual_servers:\n  - { name: w, address: 10.0.0.1, port: 80 }\nalerts:\n  webhooks:\n    - url: http://127.0.0.1:8080/hook\n",
    );
    expect(config.alerts.webhooks).toEqual([
      {
        url: "http://127.0.0.1:8080/hook",
        events: [...ALERT_EVENTS],
        timeoutMs: 5000,
        retries: 5,
        queueSize: 1000,
      },
    ]);
  });
});

describe("check merging", () => {
  const text = (rsCheck: string) => `virtual_servers:
  - name: w
    address: 10.0.0.1
    port: 80
    check: { type: http, path: /healthz, status: [200, 2xx, "300-302"], interval: 5s, timeout: 2s, rise: 3, host: example.com }
    real_servers:
      - { address: 10.0.1.1, check: ${rsCheck} }
`;

  it("overrides key by key when the type is the same or omitted", () => {
    const checks = valid(text("{ path: /other, fall: 9, port: 8080 }")).virtualServers[0]?.realServers[0]
      ?.checks;
    expect(checks).toEqual([
      {
        type: "http",
        intervalMs: 5000,
        fastIntervalMs: 5000,
        downIntervalMs: 5000,
        timeoutMs: 2000,
        rise: 3,
        fall: 9,
        initial: "down",
        connectPort: 8080,
        method: "GET",
        path: "/other",
        headers: {},
        status: [
          { min: 200, max: 200 },
          { min: 200, max: 299 },
          { min: 300, max: 302 },
        ],
        host: "example.com",
        maxBodyBytes: 65_536,
        keepalive: false,
      },
    ]);
  });

  it("keeps only timing keys when the type changes", () => {
    const checks = valid(text("{ type: https, tls_verify: false }")).virtualServers[0]?.realServers[0]
      ?.checks;
    expect(checks).toEqual([
      {
        type: "https",
        intervalMs: 5000,
        fastIntervalMs: 5000,
        downIntervalMs: 5000,
        timeoutMs: 2000,
        rise: 3,
        fall: 3,
        initial: "down",
        method: "GET",
        path: "/",
        headers: {},
        status: [{ min: 200, max: 299 }],
        maxBodyBytes: 65_536,
        keepalive: false,
        tls: { verify: false },
      },
    ]);
  });

  it("can switch a real server's checking off", () => {
    expect(valid(text("{ type: none }")).virtualServers[0]?.realServers[0]?.checks).toEqual([]);
  });

  it("reports a merged timeout longer than the merged interval at the override", () => {
    const result = parseConfig(text("{ interval: 1s }"), "t.yaml");
    expect(result.ok ? [] : result.errors.map(formatIssue)).toEqual([
      "t.yaml:7:49: timeout 2s is longer than interval 1s",
    ]);
  });
});

describe("sync_groups: tracking_weight", () => {
  const config = (group: string) => `vrrp:
  instances:
    - { name: a, interface: eth0, vrid: 1, priority: 100, virtual_ips: [10.0.0.1/24], track_interfaces: [{ name: eth1, weight: -50 }, { name: eth2, weight: 0 }] }
    - { name: b, interface: eth1, vrid: 2, priority: 100, virtual_ips: [10.0.1.1/24] }
  sync_groups:
${group}
`;

  it("warns, at the member, that a weighted track counts as a FAULT of the group when it is off", () => {
    const r = parseConfig(config("    - { name: g, instances: [a, b] }"), "t.yaml");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.vrrp.syncGroups).toEqual([{ name: "g", instances: ["a", "b"], trackingWeight: false }]);
    expect(r.warnings.map(formatIssue)).toEqual([
      "t.yaml:6:30: instance 'a' tracks eth1 (weight -50): in sync group 'g' a weighted interface that goes down is a FAULT of the group, not a priority change (set tracking_weight: true to apply the weights)",
    ]);
  });

  it("takes tracking_weight: true and then has nothing to warn about; a group of one neither", () => {
    const on = parseConfig(config("    - { name: g, instances: [a, b], tracking_weight: true }"), "t.yaml");
    expect(on.ok && on.config.vrrp.syncGroups[0]?.trackingWeight).toBe(true);
    expect(on.ok && on.warnings).toEqual([]);
    const alone = parseConfig(config("    - { name: g, instances: [a] }"), "t.yaml");
    expect(alone.ok && alone.warnings).toEqual([]);
  });

  it("rejects a tracking_weight that is not a boolean, and suggests the key when misspelt", () => {
    const bad = parseConfig(config("    - { name: g, instances: [a, b], tracking_weight: 3 }"), "t.yaml");
    expect(bad.ok).toBe(false);
    expect(bad.errors.map(formatIssue)).toEqual([expect.stringMatching(/^t\.yaml:6:54: .*true or false/)]);
    const typo = parseConfig(config("    - { name: g, instances: [a, b], tracking_weigth: true }"), "t.yaml");
    expect(typo.errors.map(formatIssue)).toEqual([
      expect.stringMatching(
        /^t\.yaml:6:37: unknown key 'tracking_weigth' \(did you mean 'tracking_weight'\?\)/,
      ),
    ]);
  });
});

describe("vrrp instance: unicast_ttl", () => {
  const cfg = (ttl: string) =>
    `vrrp:\n  instances:\n    - { name: a, interface: eth0, vrid: 1, priority: 100, virtual_ips: [10.0.0.1/24], unicast_peers: [10.0.0.2], unicast_ttl: ${ttl} }\n`;
  const ttlOf = (ttl: string) => {
    const r = parseConfig(cfg(ttl), "t.yaml");
    return r.ok ? r.config.vrrp.instances[0]?.unicastTtl : r.errors.map(formatIssue);
  };

  it("a number sends and requires it; a mapping sets either; the default sends 255 and requires nothing", () => {
    expect(ttlOf("64")).toEqual({ send: 64, require: 64 });
    expect(ttlOf("{ send: 64 }")).toEqual({ send: 64 });
    expect(ttlOf("{ require: 255 }")).toEqual({ send: 255, require: 255 });
    const r = parseConfig(cfg("{}").replace(", unicast_ttl: {}", ""), "t.yaml");
    expect(r.ok && r.config.vrrp.instances[0]?.unicastTtl).toEqual({ send: 255 });
  });

  it("rejects out-of-range TTLs and unknown keys, at their position", () => {
    expect(ttlOf("0")).toEqual([
      expect.stringMatching(/^t\.yaml:3:127: unicast_ttl 0 is out of range \(1\.\.255\)/),
    ]);
    expect(ttlOf("{ send: 300 }")).toEqual([
      expect.stringMatching(/^t\.yaml:3:135: send 300 is out of range \(1\.\.255\)/),
    ]);
    expect(ttlOf("{ requir: 255 }")).toEqual([
      expect.stringMatching(/^t\.yaml:3:129: unknown key 'requir' \(did you mean 'require'\?\)/),
    ]);
  });
});

describe("vrrp instance: authentication", () => {
  const cfg = (auth: string, version = 2) =>
    `vrrp:\n  instances:\n    - name: a\n      interface: eth0\n      vrid: 1\n      version: ${version}\n      virtual_ips: [10.0.0.1/24]\n      authentication: ${auth}\n`;
  const files: Record<string, string> = {
    "/etc/vipd/pw": "s3cret\n",
    "/etc/vipd/crlf": "s3cret\r\n",
    "/etc/vipd/long": "123456789\n",
  };
  const readFile = (path: string): string => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    return text;
  };
  const authOf = (auth: string, version = 2) => {
    const r = parseConfig(cfg(auth, version), "t.yaml", { readFile });
    return r.ok ? r.config.vrrp.instances[0]?.authentication : r.errors.map(formatIssue);
  };

  it("takes a password inline or from a file (one trailing newline dropped), and none by default", () => {
    expect(authOf("{ type: pass, password: s3cret }")).toEqual({ type: "pass", password: "s3cret" });
    expect(authOf("{ type: pass, password: '12345678' }")).toEqual({ type: "pass", password: "12345678" });
    expect(authOf("{ type: pass, password_file: /etc/vipd/pw }")).toEqual({
      type: "pass",
      password: "s3cret",
    });
    expect(authOf("{ type: pass, password_file: /etc/vipd/crlf }")).toEqual({
      type: "pass",
      password: "s3cret",
    });
    const none = parseConfig(cfg("x").replace("      authentication: x\n", ""), "t.yaml");
    expect(none.ok && "authentication" in (none.config.vrrp.instances[0] ?? {})).toBe(false);
  });

  it("rejects what keepalived would truncate or cannot send, naming the field and never the password", () => {
    const long = authOf("{ type: pass, password: toolongsecret }");
    expect(long).toEqual(["t.yaml:8:47: the password is 13 bytes; VRRPv2 carries at most 8"]);
    expect(JSON.stringify(long)).not.toContain("toolongsecret");
    expect(authOf("{ type: pass, password_file: /etc/vipd/long }")).toEqual([
      expect.stringMatching(
        /^t\.yaml:8:52: password_file: the password is 9 bytes; VRRPv2 carries at most 8/,
      ),
    ]);
    expect(authOf("{ type: pass, password_file: /etc/vipd/missing }")).toEqual([
      expect.stringMatching(
        /^t\.yaml:8:52: cannot read password_file \/etc\/vipd\/missing: ENOENT \(no such file\)/,
      ),
    ]);
    expect(authOf("{ type: pass, password_file: pw }")).toEqual([
      expect.stringMatching(/^t\.yaml:8:52: 'pw' must be an absolute path/),
    ]);
    expect(authOf("{ type: pass, password: '' }")).toEqual([
      expect.stringMatching(/^t\.yaml:8:47: expected a password .*got an empty string/),
    ]);
    expect(authOf("{ type: pass, password: 1234 }")).toEqual([
      expect.stringMatching(/^t\.yaml:8:47: expected a password \(quote it if it looks like a number\)/),
    ]);
  });

  it("needs exactly one of password and password_file, and a type", () => {
    expect(authOf("{ type: pass }")).toEqual([
      expect.stringMatching(/^t\.yaml:8:23: give exactly one of password and password_file/),
    ]);
    expect(authOf("{ type: pass, password: a, password_file: /etc/vipd/pw }")).toEqual([
      expect.stringMatching(/^t\.yaml:8:23: give exactly one of password and password_file/),
    ]);
    expect(authOf("{ password: a }")).toEqual([expect.stringMatching(/^t\.yaml:8:23: .*'type'/)]);
  });

  it("rejects IPsec AH, unknown types and any authentication on VRRPv3 with a reason", () => {
    expect(authOf("{ type: ah, password: a }")).toEqual([
      expect.stringMatching(
        /^t\.yaml:8:31: IPsec AH authentication \(keepalived's auth_type AH\) is not supported/,
      ),
    ]);
    expect(authOf("{ type: md5, password: a }")).toEqual([
      expect.stringMatching(/^t\.yaml:8:31: unknown authentication type 'md5'; expected one of: pass/),
    ]);
    expect(authOf("{ type: pass, password: a }", 3)).toEqual([
      expect.stringMatching(/^t\.yaml:8:23: VRRPv3 has no authentication \(RFC 5798 removed it\)/),
    ]);
  });
});

describe("notify hooks", () => {
  const vrrp = (notify: string) =>
    `vrrp:\n  instances:\n    - name: a\n      interface: eth0\n      vrid: 1\n      virtual_ips: [10.0.0.1/24]\n      notify: ${notify}\n`;
  const of = (text: string) => {
    const r = parseConfig(text, "t.yaml");
    return r.ok ? r.config : r.errors.map(formatIssue);
  };

  it("reads each state's argv, `any`, and a timeout (default 30 s)", () => {
    const c = of(vrrp("{ master: [/m, x], any: [/n], timeout: 5s }"));
    expect(typeof c === "object" && !Array.isArray(c) && c.vrrp.instances[0]?.notify).toEqual({
      master: ["/m", "x"],
      any: ["/n"],
      timeoutMs: 5000,
    });
    const d = of(vrrp("{ stop: [/s] }"));
    expect(!Array.isArray(d) && d.vrrp.instances[0]?.notify).toEqual({ stop: ["/s"], timeoutMs: 30_000 });
  });

  it("refuses a shell line, an empty argv, an unknown state and a bad timeout, at the field", () => {
    expect(of(vrrp("{ master: /etc/hook.sh up }"))).toEqual([
      't.yaml:7:25: master is run without a shell, so it is a list of arguments: write ["/etc/hook.sh", "up"]',
    ]);
    expect(of(vrrp("{ backup: [] }"))).toEqual(["t.yaml:7:25: backup needs at least the program to run"]);
    expect(of(vrrp("{ masters: [/m] }"))).toEqual([
      expect.stringMatching(/^t\.yaml:7:17: unknown key 'masters'.*did you mean 'master'/),
    ]);
    expect(of(vrrp("{ any: [/n], timeout: 0s }"))).toEqual([
      "t.yaml:7:37: timeout 0s is out of range (1ms..1h)",
    ]);
  });

  it("a sync group has hooks of its own", () => {
    const text = `${vrrp("{ any: [/n] }")}    - { name: b, interface: eth0, vrid: 2, virtual_ips: [10.0.0.2/24] }\n  sync_groups:\n    - { name: g, instances: [a, b], notify: { fault: [/f] } }\n`;
    const c = of(text);
    expect(!Array.isArray(c) && c.vrrp.syncGroups[0]?.notify).toEqual({ fault: ["/f"], timeoutMs: 30_000 });
    expect(of(text.replace("fault: [/f]", "fault: /f"))).toEqual([
      expect.stringMatching(/^t\.yaml:10:54: fault is run without a shell/),
    ]);
  });

  it("a real server takes its own notify, else its virtual server's", () => {
    const c = of(
      "virtual_servers:\n  - name: www\n    address: 10.0.0.1\n    port: 80\n    notify: { down: [/d] }\n    real_servers:\n      - { address: 10.0.1.1 }\n      - { address: 10.0.1.2, notify: { up: [/u], timeout: 1s } }\n",
    );
    const rs = !Array.isArray(c) ? c.virtualServers[0]?.realServers : undefined;
    expect(rs?.map((r) => r.notify)).toEqual([
      { down: ["/d"], timeoutMs: 30_000 },
      { up: ["/u"], timeoutMs: 1000 },
    ]);
  });
});

describe("tracked scripts and files", () => {
  const cfg = (defs: string, refs: string) =>
    `vrrp:\n${defs}  instances:\n    - name: a\n      interface: eth0\n      vrid: 1\n      virtual_ips: [10.0.0.1/24]\n${refs}`;
  const of = (text: string) => {
    const r = parseConfig(text, "t.yaml");
    return r.ok ? r.config.vrrp : r.errors.map(formatIssue);
  };
  const DEFS =
    "  track_scripts:\n    - { name: chk, command: [/bin/chk], weight: -20 }\n  track_files:\n    - { name: maint, path: /run/vipd/maint }\n";

  it("defaults keepalived's way: interval 1s, timeout = interval, rise/fall 1, script weight 0, file weight 1", () => {
    const v = of(
      cfg(
        "  track_scripts:\n    - { name: s, command: [/s] }\n    - { name: t, command: [/t], interval: 5s }\n  track_files:\n    - { name: f, path: /f }\n",
        "",
      ),
    );
    expect(!Array.isArray(v) && v.trackScripts).toEqual([
      { name: "s", command: ["/s"], intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 1, weight: 0 },
      { name: "t", command: ["/t"], intervalMs: 5000, timeoutMs: 5000, rise: 1, fall: 1, weight: 0 },
    ]);
    expect(!Array.isArray(v) && v.trackFiles).toEqual([{ name: "f", path: "/f", weight: 1 }]);
  });

  it("an instance refers by name, taking the definition's weight unless it gives one", () => {
    const v = of(cfg(DEFS, "      track_scripts: [chk]\n      track_files: [{ name: maint, weight: -5 }]\n"));
    expect(!Array.isArray(v) && v.instances[0]).toMatchObject({
      trackScripts: [{ name: "chk", weight: -20 }],
      trackFiles: [{ name: "maint", weight: -5 }],
    });
  });

  it("refuses unknown and repeated references, duplicate definitions, relative paths and bad weights", () => {
    expect(of(cfg(DEFS, "      track_scripts: [chek]\n"))).toEqual([
      "t.yaml:11:23: unknown track script 'chek' (define it in vrrp.track_scripts) (did you mean 'chk'?)",
    ]);
    expect(of(cfg(DEFS, "      track_scripts: [chk, chk]\n"))).toEqual([
      "t.yaml:11:28: track script 'chk' is tracked twice",
    ]);
    expect(of(cfg(DEFS, "      track_files: [{ name: maint, weight: 300 }]\n"))).toEqual([
      "t.yaml:11:44: weight 300 is out of range (-254..254)",
    ]);
    expect(
      of(
        cfg(
          '  track_scripts:\n    - { name: s, command: [/s] }\n    - { name: s, command: "/s x" }\n  track_files:\n    - { name: f, path: run/f }\n',
          "",
        ),
      ),
    ).toEqual([
      "t.yaml:4:15: duplicate track script 's'",
      't.yaml:4:27: command is run without a shell, so it is a list of arguments: write ["/s", "x"]',
      "t.yaml:6:24: 'run/f' must be an absolute path",
    ]);
  });
});

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CliIo } from "../../../src/cli/command.js";
import { main } from "../../../src/cli/main.js";
import { migrateKeepalived } from "../../../src/cli/migrate.js";
import { loadConfig } from "../../../src/config/load.js";
import { parseConfig } from "../../../src/config/parse.js";
import type { VipdConfig } from "../../../src/config/types.js";

const fixtures = new URL("./fixtures/", import.meta.url).pathname;
/** Fixture paths as a user would type them (relative to the repository, vitest's cwd). */
const fixture = (name: string): string => relative(process.cwd(), join(fixtures, name));
const FIXTURES = readdirSync(fixtures)
  .filter((f) => f.endsWith(".conf"))
  .sort();

const dir = mkdtempSync(join(tmpdir(), "vipd-migrate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}

async function run(...argv: string[]) {
  const c = capture();
  const code = await main(argv, c.io);
  return { code, stdout: c.out(), stderr: c.err() };
}

/** Migrates a fixture; the YAML must load with vipd's own parser. */
function migrated(name: string, configId?: string): { config: VipdConfig; warnings: string[] } {
  const result = migrateKeepalived(fixture(name), configId === undefined ? {} : { configId });
  expect(result.issues, result.yaml).toEqual([]);
  const loaded = parseConfig(result.yaml, "out.yaml");
  expect(loaded.errors).toEqual([]);
  return {
    config: loaded.config as VipdConfig,
    warnings: result.warnings.map((w) => `${relative(fixtures, w.file)}:${w.line}:${w.col} ${w.keyword}`),
  };
}

describe("fixtures round trip: keepalived.conf → YAML → vipd's parseConfig", () => {
  it("has the four kinds of fixture", () => {
    expect(FIXTURES).toEqual(["ipv6-v3.conf", "lvs-dr-pair.conf", "unsupported.conf", "with-includes.conf"]);
  });

  for (const name of FIXTURES) {
    it(`${name} migrates to a config vipd accepts`, () => {
      const { config } = migrated(name);
      expect(config.vrrp.instances.length + config.virtualServers.length).toBeGreaterThan(0);
    });
  }

  it("lvs-dr-pair.conf: two instances in a sync group and two DR services", () => {
    const { config, warnings } = migrated("lvs-dr-pair.conf");
    expect(config.node).toBe("lb1");
    expect(config.ipvs.flushOnStart).toBe(true);
    expect(config.vrrp.instances).toEqual([
      {
        name: "VI_FRONT",
        interface: "eth0",
        vrid: 51,
        priority: 150,
        version: 2,
        family: 4,
        advertIntervalMs: 1000,
        preempt: true,
        preemptDelayMs: 0,
        virtualIps: [
          { address: "10.0.0.100", prefixLength: 24, family: 4 },
          { address: "10.0.0.101", prefixLength: 24, family: 4 },
        ],
        unicastPeers: ["10.0.0.12"],
        sourceAddress: "10.0.0.11",
        trackInterfaces: [{ name: "eth1", weight: -60 }],
        trackScripts: [],
        trackFiles: [],
        garp: { repeat: 3, delayMs: 5000, refreshMs: 60_000 },
        checksumMode: "pseudo",
        unicastTtl: { send: 255 },
      },
      {
        name: "VI_BACK",
        interface: "eth1",
        vrid: 52,
        priority: 150,
        version: 2,
        family: 4,
        advertIntervalMs: 1000,
        preempt: true,
        preemptDelayMs: 5000,
        virtualIps: [{ address: "192.168.10.1", prefixLength: 24, family: 4 }],
        unicastPeers: [],
        trackInterfaces: [{ name: "eth0", weight: 0 }],
        trackScripts: [],
        trackFiles: [],
        garp: { repeat: 5, delayMs: 5000, refreshMs: 60_000 },
        checksumMode: "pseudo",
        unicastTtl: { send: 255 },
      },
    ]);
    expect(config.vrrp.syncGroups).toEqual([
      { name: "VG_LVS", instances: ["VI_FRONT", "VI_BACK"], trackingWeight: false },
    ]);

    const [web, tls] = config.virtualServers;
    expect(web).toMatchObject({
      address: "10.0.0.100",
      port: 80,
      protocol: "tcp",
      scheduler: "wlc",
      forwarding: "dr",
      onFailure: "remove",
      quorum: { weight: 2, hysteresis: 1 },
      sorryServer: { address: "10.0.0.50", port: 80, family: 4 },
    });
    expect(web?.realServers.map((r) => [r.address, r.port, r.weight])).toEqual([
      ["192.168.10.21", 80, 1],
      ["192.168.10.22", 80, 2],
    ]);
    for (const rs of web?.realServers ?? []) {
      expect(rs.checks).toEqual([
        {
          type: "http",
          intervalMs: 6000,
          // keepalived's delay_before_retry 3: the retries come 3 s apart.
          fastIntervalMs: 3000,
          downIntervalMs: 6000,
          timeoutMs: 3000,
          rise: 1,
          fall: 4,
          initial: "down",
          method: "GET",
          path: "/healthz",
          headers: {},
          status: [{ min: 200, max: 200 }],
          maxBodyBytes: 65_536,
          keepalive: false,
        },
      ]);
    }
    expect(tls).toMatchObject({
      port: 443,
      scheduler: "sh",
      schedulerFlags: { fallback: true, port: false },
      forwarding: "dr",
      persistence: { timeoutMs: 300_000, netmaskPrefix: 24 },
      onFailure: "inhibit",
    });
    const tcp = { type: "tcp", intervalMs: 10_000, timeoutMs: 2000, rise: 1, fall: 2 };
    expect(tls?.realServers.map((r) => r.checks)).toMatchObject([
      [{ ...tcp, connectPort: 443 }],
      [{ ...tcp, connectPort: 8443 }],
    ]);
    expect(warnings).toEqual([
      "lvs-dr-pair.conf:6:5 notification_email",
      "lvs-dr-pair.conf:9:5 notification_email_from",
      "lvs-dr-pair.conf:10:5 smtp_server",
      "lvs-dr-pair.conf:11:5 smtp_connect_timeout",
      "lvs-dr-pair.conf:24:5 state MASTER",
      "lvs-dr-pair.conf:44:5 state MASTER",
    ]);
  });

  it("ipv6-v3.conf: VRRPv3 with sub-second adverts, an IPv6 UDP service and an IPv6 fwmark tunnel", () => {
    const { config, warnings } = migrated("ipv6-v3.conf");
    expect(warnings).toEqual([]);
    expect(config.node).toBe("lb6-a");
    expect(
      config.vrrp.instances.map((i) => [i.name, i.family, i.version, i.advertIntervalMs, i.preempt]),
    ).toEqual([
      ["VI6", 6, 3, 500, false],
      ["VI4", 4, 3, 250, true],
    ]);
    expect(config.vrrp.instances[0]?.virtualIps.map((v) => v.address)).toEqual([
      "2001:db8:0:1::100",
      "2001:db8:0:1::101",
    ]);
    expect(config.vrrp.instances[0]?.unicastPeers).toEqual(["2001:db8:0:1::12"]);
    const [dns, mark] = config.virtualServers;
    expect(dns).toMatchObject({
      family: 6,
      address: "2001:db8:0:1::100",
      port: 53,
      protocol: "udp",
      scheduler: "rr",
      forwarding: "nat",
      onePacket: true,
    });
    const tcp53 = { type: "tcp", connectPort: 53, intervalMs: 5000, timeoutMs: 1000, rise: 1, fall: 3 };
    expect(dns?.realServers.map((r) => [r.address, r.port, r.weight, r.checks])).toMatchObject([
      ["2001:db8:0:2::21", 5353, 10, [tcp53]],
      ["2001:db8:0:2::22", 5353, 10, [tcp53]],
    ]);
    expect(mark).toMatchObject({
      fwmark: 66,
      family: 6,
      scheduler: "wrr",
      forwarding: "tun",
      tunnel: { type: "ipip", checksum: "none" },
      persistence: { timeoutMs: 600_000, netmaskPrefix: 64 },
    });
    expect(mark?.realServers[0]?.checks[0]).toMatchObject({
      type: "https",
      // keepalived's SSL_GET does not verify the certificate, so the translation does not either.
      tls: { verify: false },
      path: "/status",
      host: "www.example.com",
      status: [
        { min: 200, max: 299 },
        { min: 301, max: 301 },
      ],
    });
  });

  it("with-includes.conf: parameters, includes and conditionals (with and without a config-id)", () => {
    const other = migrated("with-includes.conf");
    expect(other.config.node).toBe("lb-other");
    expect(other.config.vrrp.instances[0]).toMatchObject({
      name: "VI_WEB",
      interface: "eth0",
      priority: 120,
    });
    expect(other.config.vrrp.instances[0]?.virtualIps[0]?.address).toBe("10.20.30.100");
    expect(other.warnings).toEqual([
      "with-includes.conf:11:5 @lb1",
      "with-includes.conf:12:5 @^lb1",
      "conf.d/vrrp-web.conf:4:5 @lb1",
      "conf.d/vrrp-web.conf:5:5 @^lb1",
    ]);
    const [svc] = other.config.virtualServers;
    expect(svc).toMatchObject({ address: "10.20.30.100", port: 8080, forwarding: "nat" });
    const tcp = { type: "tcp", intervalMs: 4000, timeoutMs: 2000, rise: 1, fall: 2 };
    expect(svc?.realServers.map((r) => [r.address, r.port, r.checks])).toMatchObject([
      ["10.20.40.1", 8080, [tcp]],
      ["10.20.40.2", 8081, [tcp]],
    ]);

    const lb1 = migrated("with-includes.conf", "lb1");
    expect(lb1.config.node).toBe("lb1");
    expect(lb1.config.vrrp.instances[0]?.priority).toBe(150);
    expect(lb1.warnings).toEqual([]);
  });

  it("unsupported.conf: warns about each feature vipd lacks, at its keyword, and keeps the rest", () => {
    const { config, warnings } = migrated("unsupported.conf");
    expect(warnings).toEqual([
      "unsupported.conf:4:5 enable_script_security",
      "unsupported.conf:5:5 script_user",
      "unsupported.conf:6:5 vrrp_strict",
      "unsupported.conf:7:5 vrrp_garp_interval",
      "unsupported.conf:27:33 virtual_ipaddress",
      "unsupported.conf:28:24 virtual_ipaddress",
      "unsupported.conf:30:5 virtual_ipaddress_excluded",
      "unsupported.conf:32:9 virtual_ipaddress_excluded",
      "unsupported.conf:40:5 use_vmac",
      "unsupported.conf:62:5 lb_algo",
      "unsupported.conf:64:5 alpha",
      "unsupported.conf:65:5 omega",
      "unsupported.conf:66:5 quorum_up",
      "unsupported.conf:67:5 quorum_down",
      "unsupported.conf:76:5 real_server",
      "unsupported.conf:77:9 SMTP_CHECK",
      "unsupported.conf:83:9 HTTP_GET",
      "unsupported.conf:92:13 warmup",
    ]);
    expect(config.vrrp.instances[0]).toMatchObject({
      name: "VI_1",
      priority: 100,
      trackInterfaces: [{ name: "eth1", weight: 20 }],
      trackScripts: [{ name: "chk_haproxy", weight: -20 }],
      authentication: { type: "pass", password: "s3cret" },
      notify: {
        master: ["/etc/keepalived/notify.sh", "MASTER"],
        backup: ["/etc/keepalived/notify.sh"],
        timeoutMs: 30_000,
      },
    });
    expect(config.vrrp.instances[0]?.virtualIps.map((v) => v.address)).toEqual([
      "172.16.0.10",
      "172.16.0.11",
      "172.16.0.12",
    ]);
    // The virtual_server_group becomes one service per address, sharing the real server and check.
    expect(config.virtualServers.map((v) => [v.address, v.port, v.scheduler, v.forwarding])).toEqual([
      ["172.16.0.10", 80, "wlc", "dr"],
      ["172.16.0.11", 80, "wlc", "dr"],
      ["172.16.0.10", 25, "wlc", "nat"],
    ]);
    const [g1, g2] = config.virtualServers;
    expect(g1?.realServers.map((r) => `${r.address}:${r.port}`)).toEqual(["172.16.1.5:80"]);
    expect(g2?.realServers).toEqual(g1?.realServers);
    // MISC_CHECK becomes exec; every checker and every url of a real server is kept.
    const servers = config.virtualServers[2]?.realServers ?? [];
    expect(servers[0]?.notify).toEqual({ down: ["/etc/keepalived/rs.sh", "down"], timeoutMs: 30_000 });
    expect(servers.map((r) => r.checks.map((c) => c.type))).toEqual([["exec"], [], ["http", "http", "tcp"]]);
    expect(servers[0]?.checks[0]).toMatchObject({
      command: ["/usr/local/bin/check_smtp", "172.16.1.1"],
      timeoutMs: 5000,
      fall: 1,
    });
    expect(servers[2]?.checks).toMatchObject([
      {
        path: "/health",
        digest: { algorithm: "md5", hex: "9b3a0c85a887a256d6939da88aabd8cd" },
        intervalMs: 20_000,
        timeoutMs: 20_000,
      },
      { path: "/other", intervalMs: 20_000, timeoutMs: 20_000 },
      { type: "tcp", timeoutMs: 3000 },
    ]);
  });
});

describe("vipd migrate (through main)", () => {
  it("writes the YAML to stdout, warnings and a summary to stderr, and exits 0", async () => {
    const file = fixture("lvs-dr-pair.conf");
    const result = await run("migrate", file);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(migrateKeepalived(file).yaml);
    expect(result.stdout.split("\n")[0]).toBe(`# Generated by \`vipd migrate\` from ${file}.`);
    expect(result.stdout).toContain(`#   ${file}:24:5: state MASTER: a start-up hint only`);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe(
      `${file}:6:5: warning: notification_email: e-mail alerts are not supported; use alerts.webhooks instead`,
    );
    expect(lines[6]).toBe("vipd migrate: converted 2 instances, 2 virtual servers, 6 warnings");
    expect(parseConfig(result.stdout, "stdout.yaml").ok).toBe(true);
  });

  it("writes to -o OUT, which vipd check accepts", async () => {
    const out = join(dir, "vipd.yaml");
    const result = await run("migrate", fixture("ipv6-v3.conf"), "-o", out);
    expect(result).toEqual({
      code: 0,
      stdout: "",
      stderr: `vipd migrate: wrote ${out}: 2 instances, 2 virtual servers, 0 warnings\n`,
    });
    expect(loadConfig(out).ok).toBe(true);
    expect(await run("check", "-c", out)).toMatchObject({
      code: 0,
      stdout: `${out}: OK (2 instances, 2 virtual servers)\n`,
    });
  });

  it("passes --config-id / -i to the conditionals", async () => {
    const file = fixture("with-includes.conf");
    const result = await run("migrate", "-i", "lb1", file);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("node: lb1\n");
    expect(result.stderr).toBe("vipd migrate: converted 1 instance, 1 virtual server, 0 warnings\n");
    expect((await run("migrate", "--config-id", "lb2", file)).stdout).toContain("node: lb-other\n");
  });

  it("exits 1 with FILE:LINE:COL: message on a parse error, writing nothing to stdout", async () => {
    const file = join(dir, "broken.conf");
    writeFileSync(
      file,
      "vrrp_instance VI_1 {\n    interface eth0\n    virtual_ipaddress {\n        10.0.0.1\n}\n",
    );
    expect(await run("migrate", file)).toEqual({
      code: 1,
      stdout: "",
      stderr: `${file}:1:20: '{' is never closed\n`,
    });
    const cycle = join(dir, "cycle.conf");
    writeFileSync(cycle, "\n  include cycle.conf\n");
    expect(await run("migrate", cycle)).toEqual({
      code: 1,
      stdout: "",
      stderr: `${cycle}:2:3: include cycle: ${cycle} -> ${cycle}\n`,
    });
  });

  it("exits 1 with FILE:1:1 for an unreadable file", async () => {
    const file = join(dir, "absent.conf");
    expect(await run("migrate", file)).toEqual({
      code: 1,
      stdout: "",
      stderr: `${file}:1:1: cannot read ${file}: no such file\n`,
    });
  });

  it("exits 1, writing nothing, when nothing could be translated (an empty or comment-only file too)", async () => {
    for (const [name, text] of [
      ["globals.conf", "global_defs {\n    router_id lb9\n}\n"],
      ["empty.conf", ""],
      ["comments.conf", "! keepalived.conf\n# nothing here\n"],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const result = await run("migrate", file);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(
        `vipd migrate: ${file} has no vrrp_instance or virtual_server that could be translated; nothing written\n`,
      );
    }
  });

  it("writes control characters of the input as \\xNN, on stderr and in the YAML's comments", async () => {
    const file = join(dir, "control.conf");
    writeFileSync(
      file,
      `vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    frob\u001b[31mred\u0000\n    virtual_ipaddress {\n        10.0.0.100/24\n    }\n}\n`,
    );
    const result = await run("migrate", file);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("frob\\x1b[31mred\\x00: keepalived does not know this keyword");
    expect(result.stderr).not.toMatch(/[\u0000\u001b]/);
    expect(result.stdout).toContain("frob\\x1b[31mred\\x00");
    expect(result.stdout).not.toMatch(/[\u0000\u001b]/);
  });

  it("prints usage for --help and exits 2 for a bad command line", async () => {
    const help = await run("migrate", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: vipd migrate KEEPALIVED_CONF \[-o OUT\] \[-i CONFIG_ID\]/);
    expect((await run("help", "migrate")).stdout).toBe(help.stdout);
    const none = await run("migrate");
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /^vipd migrate: give the keepalived config file to convert\n\nUsage: vipd migrate/,
    );
    expect((await run("migrate", "a.conf", "b.conf")).code).toBe(2);
    expect((await run("migrate", "--frob", "a.conf")).code).toBe(2);
  });

  it("exits 1 when OUT cannot be written", async () => {
    const result = await run("migrate", fixture("ipv6-v3.conf"), "-o", join(dir, "no/such/dir/out.yaml"));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/vipd migrate: cannot write .*no\/such\/dir\/out\.yaml: ENOENT/);
  });

  it("every fixture's YAML on stdout equals the library's and loads", async () => {
    for (const name of FIXTURES) {
      const result = await run("migrate", fixture(name));
      expect(result.code, name).toBe(0);
      expect(parseConfig(result.stdout, name).errors).toEqual([]);
      expect(readFileSync(join(fixtures, name), "utf8").length).toBeGreaterThan(0);
    }
  });
});

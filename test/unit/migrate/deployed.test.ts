/**
 * A dozen keepalived.conf files written the way deployments write them, each exercising what
 * migrate must translate as keepalived 2.2.7 runs it (or warn about, at the position). The lab
 * test test/lab/migrate-keepalived.test.ts runs keepalived's own `keepalived -t` on the same
 * files and checks that every line keepalived complains about is a line migrate warns about.
 */
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import type { VipdConfig } from "../../../src/config/types.js";
import { convertKeepalived } from "../../../src/migrate/convert.js";
import { emitYaml } from "../../../src/migrate/emit.js";
import { parseKeepalivedFile } from "../../../src/migrate/parse.js";

const DEPLOYED_DIR = fileURLToPath(new URL("./fixtures/deployed/", import.meta.url));

/** Where migrate warns, per file: LINE:COL keyword. */
const WARNINGS: Record<string, string[]> = {
  "01-auth-pass.conf": ["7:5 state MASTER", "14:19 auth_pass"],
  "02-auth-variants.conf": ["5:19 auth_type", "17:19 auth_type"],
  "03-notify.conf": ["10:48 notify_fault"],
  "04-track-script.conf": ["23:9 chk_missing"],
  "05-sync-group-notify.conf": [],
  "06-inline-blocks.conf": ["7:18 unicast_peer"],
  "07-case-and-protocol.conf": ["1:1 virtual_server", "2:5 lb_algo", "3:5 lb_kind"],
  "08-checks.conf": ["10:13 nb_get_retry"],
  "09-misc-check.conf": ["12:5 real_server", "13:9 HTTP_GET"],
  "10-vs-group.conf": [],
  "11-typos.conf": ["3:5 lvs_sync_daemon_inteface", "9:5 priorty", "18:9 weigth"],
  "12-old-syntax.conf": ["2:5 VI_A", "3:5 VI_B"],
};

function migrated(file: string): { config: VipdConfig; warnings: string[] } {
  const { config, warnings } = convertKeepalived(parseKeepalivedFile(`${DEPLOYED_DIR}${file}`));
  const result = parseConfig(emitYaml(config, warnings, { source: file }), "out.yaml", { hostname: "lb" });
  expect(result.errors).toEqual([]);
  return {
    config: result.config as VipdConfig,
    warnings: warnings.map((w) => `${w.line}:${w.col} ${w.keyword}`),
  };
}

describe("deployed keepalived.conf files: warnings at their positions, and vipd's parser accepts the result", () => {
  it("covers every fixture", () => {
    expect(
      readdirSync(DEPLOYED_DIR)
        .filter((f) => f.endsWith(".conf"))
        .sort(),
    ).toEqual(Object.keys(WARNINGS));
  });

  for (const [file, expected] of Object.entries(WARNINGS)) {
    it(file, () => {
      expect(migrated(file).warnings).toEqual(expected);
    });
  }
});

describe("deployed keepalived.conf files: what each becomes", () => {
  it("a password is cut to 8 bytes; a lower-case PASS and AH leave the instance without one", () => {
    expect(migrated("01-auth-pass.conf").config.vrrp.instances[0]?.authentication).toEqual({
      type: "pass",
      password: "s3cretpa",
    });
    expect(migrated("02-auth-variants.conf").config.vrrp.instances.map((i) => i.authentication)).toEqual([
      undefined,
      undefined,
    ]);
  });

  it("notify scripts become argv; the script user is left out", () => {
    expect(migrated("03-notify.conf").config.vrrp.instances[0]?.notify).toEqual({
      master: ["/etc/keepalived/to-master.sh", "web"],
      backup: ["/etc/keepalived/to-backup.sh"],
      fault: ["/etc/keepalived/to-fault.sh"],
      any: ["/etc/keepalived/notify.sh"],
      timeoutMs: 30_000,
    });
  });

  it("tracking: a script and a file, with the script's weight and rise/fall", () => {
    const { vrrp } = migrated("04-track-script.conf").config;
    expect(vrrp.trackScripts).toEqual([
      {
        name: "chk_haproxy",
        command: ["/usr/bin/pgrep", "-x", "haproxy"],
        intervalMs: 2000,
        timeoutMs: 2000,
        rise: 2,
        fall: 2,
        weight: -20,
      },
    ]);
    expect(vrrp.instances[0]).toMatchObject({
      trackScripts: [{ name: "chk_haproxy", weight: -20 }],
      trackFiles: [{ name: "maint", weight: 0 }],
    });
  });

  it("a sync group's notify and tracking weight; the old member syntax still makes a group", () => {
    expect(migrated("05-sync-group-notify.conf").config.vrrp.syncGroups).toEqual([
      {
        name: "G1",
        instances: ["VI_OUT", "VI_IN"],
        trackingWeight: true,
        notify: { any: ["/etc/keepalived/group.sh"], timeoutMs: 30_000 },
      },
    ]);
    expect(migrated("12-old-syntax.conf").config.vrrp.syncGroups[0]?.instances).toEqual(["VI_A", "VI_B"]);
  });

  it("what keepalived runs: UDP, wlc and NAT for the careless service; TCP, rr and DR for the other", () => {
    const [careless, careful] = migrated("07-case-and-protocol.conf").config.virtualServers;
    expect(careless).toMatchObject({ protocol: "udp", scheduler: "wlc", forwarding: "nat" });
    expect(careless?.realServers[0]?.port).toBe(8080);
    expect(careful).toMatchObject({ protocol: "tcp", scheduler: "rr", forwarding: "dr" });
  });

  it("checks: keepalived's retry counts (nb_get_retry counts only in HTTP_GET) and inhibit_on_failure", () => {
    const vs = migrated("08-checks.conf").config.virtualServers[0];
    expect(vs?.onFailure).toBe("inhibit");
    expect(vs?.realServers.map((r) => [r.checks[0]?.type, r.checks[0]?.fall])).toEqual([
      ["tcp", 2],
      ["http", 3],
    ]);
  });

  it("MISC_CHECK becomes exec with misc_dynamic; an HTTP_GET without url is no check", () => {
    const [smtp, web] = migrated("09-misc-check.conf").config.virtualServers[0]?.realServers ?? [];
    expect(smtp?.checks[0]).toMatchObject({
      type: "exec",
      command: ["/usr/local/bin/check_smtp", "10.0.0.21"],
      dynamicWeight: true,
      timeoutMs: 5000,
    });
    expect(web?.checks).toEqual([]);
  });

  it("a virtual_server_group becomes one service per address, with the same real servers", () => {
    const services = migrated("10-vs-group.conf").config.virtualServers;
    expect(services.map((v) => `${v.address}:${v.port}`)).toEqual([
      "10.0.0.100:80",
      "10.0.0.110:80",
      "10.0.0.111:80",
      "10.0.0.112:80",
    ]);
    expect(new Set(services.map((v) => JSON.stringify(v.realServers))).size).toBe(1);
  });

  it("misspelt keywords are skipped, as keepalived skips them", () => {
    const { config } = migrated("11-typos.conf");
    expect(config.vrrp.instances[0]?.priority).toBe(100);
    expect(config.virtualServers[0]?.realServers[0]?.weight).toBe(1);
  });
});

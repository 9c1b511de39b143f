import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import type { VipdConfig } from "../../../src/config/types.js";
import { shellWords } from "../../../src/migrate/checkers.js";
import { type ConvertResult, convertKeepalived, parseSecondsUs } from "../../../src/migrate/convert.js";
import { emitYaml } from "../../../src/migrate/emit.js";
import { formatWarning } from "../../../src/migrate/lexer.js";
import { type ParseOptions, parseKeepalived } from "../../../src/migrate/parse.js";

function convert(text: string, options: ParseOptions = {}): ConvertResult {
  return convertKeepalived(parseKeepalived(text, "k.conf", options));
}

function warnings(result: ConvertResult): string[] {
  return result.warnings.map((w) => formatWarning(w));
}

/** The conversion emitted as YAML and loaded by vipd's own parser, which must accept it. */
function validated(result: ConvertResult): VipdConfig {
  const yaml = emitYaml(result.config, result.warnings, { source: "k.conf" });
  const loaded = parseConfig(yaml, "out.yaml", { hostname: "test-host" });
  expect(loaded.errors, yaml).toEqual([]);
  return loaded.config as VipdConfig;
}

/** A minimal valid instance around `body`. */
function instance(body: string, name = "VI_1"): string {
  return `vrrp_instance ${name} {\n    interface eth0\n    virtual_router_id 51\n${body}\n}\n`;
}

const VIP = "    virtual_ipaddress {\n        10.0.0.100/24\n    }";

describe("global_defs", () => {
  it("router_id becomes node; e-mail settings and unknown keywords are warned about at their position", () => {
    const result = convert(`global_defs {
    router_id lb1
    notification_email {
        ops@example.com
    }
    smtp_server 192.0.2.1
    vrrp_skip_check_adv_addr
}
${instance(VIP)}`);
    expect(result.config.node).toBe("lb1");
    expect(warnings(result)).toEqual([
      "k.conf:3:5: notification_email: e-mail alerts are not supported; use alerts.webhooks instead",
      "k.conf:6:5: smtp_server: e-mail alerts are not supported; use alerts.webhooks instead",
      "k.conf:7:5: vrrp_skip_check_adv_addr: not translated (vipd has no equivalent)",
    ]);
    expect(validated(result).node).toBe("lb1");
  });

  it("ignores a router_id vipd cannot use as a node name (the default host name applies)", () => {
    const result = convert(`global_defs {\n    router_id "lb 1"\n}\n${instance(VIP)}`);
    expect(result.config.node).toBeUndefined();
    expect(warnings(result)).toEqual([
      "k.conf:2:5: router_id: 'lb 1' cannot be a vipd node name (whitespace); ignored",
    ]);
    expect(validated(result).node).toBe("test-host");
  });

  it("vrrp_version sets the default version; keepalived's own default is 2 (written out: vipd's is 3)", () => {
    expect(convert(instance(VIP)).config.vrrp?.instances[0]?.version).toBe(2);
    const v3 = convert(`global_defs {\n  vrrp_version 3\n}\n${instance(VIP)}`);
    expect(v3.config.vrrp?.instances[0]?.version).toBe(3);
    const own = convert(`global_defs {\n  vrrp_version 3\n}\n${instance(`    version 2\n${VIP}`)}`);
    expect(own.config.vrrp?.instances[0]?.version).toBe(2);
    expect(validated(own).vrrp.instances[0]?.version).toBe(2);
  });

  it("vrrp_garp_master_* become every instance's garp defaults; an instance's garp_master_* win", () => {
    const result = convert(`global_defs {
    vrrp_garp_master_delay 10
    vrrp_garp_master_repeat 2
    vrrp_garp_master_refresh 60
}
${instance(VIP, "A")}
vrrp_instance B {
    interface eth0
    virtual_router_id 52
    garp_master_repeat 8
    garp_master_refresh 0
    virtual_ipaddress {
        10.0.0.101/24
    }
}`);
    expect(result.config.vrrp?.instances.map((i) => i.garp)).toEqual([
      { repeat: 2, delay: "10s", refresh: "1m" },
      { repeat: 8, delay: "10s", refresh: "0s" },
    ]);
    expect(validated(result).vrrp.instances.map((i) => i.garp)).toEqual([
      { repeat: 2, delayMs: 10_000, refreshMs: 60_000 },
      { repeat: 8, delayMs: 10_000, refreshMs: 0 },
    ]);
  });

  it("vrrp_min_garp sends one GARP and no second burst", () => {
    const result = convert(`global_defs {\n  vrrp_min_garp\n}\n${instance(VIP)}`);
    expect(result.config.vrrp?.instances[0]?.garp).toEqual({ repeat: 1, delay: "0s" });
  });

  it("lvs_flush and lvs_sync_daemon become ipvs settings (sync id defaults to the instance's VRID)", () => {
    const result = convert(`global_defs {
    lvs_flush
    lvs_sync_daemon eth1 VI_1 maxlen 1400
}
${instance(VIP)}`);
    expect(result.config.ipvs).toEqual({
      flush_on_start: true,
      sync_daemon: { interface: "eth1", sync_id: 51, instance: "VI_1" },
    });
    expect(warnings(result)).toEqual([
      "k.conf:3:31: lvs_sync_daemon maxlen: not supported by vipd's sync_daemon; dropped",
    ]);
    expect(validated(result).ipvs).toEqual({
      flushOnStart: true,
      resyncIntervalMs: 30_000,
      syncDaemon: { interface: "eth1", syncId: 51, instance: "VI_1" },
    });
    const explicit = convert(`global_defs {\n  lvs_sync_daemon eth1 inst VI_1 id 7\n}\n${instance(VIP)}`);
    expect(explicit.config.ipvs?.sync_daemon).toEqual({ interface: "eth1", sync_id: 7, instance: "VI_1" });
    const unknown = convert(`global_defs {\n  lvs_sync_daemon eth1 NOPE\n}\n${instance(VIP)}`);
    expect(unknown.config.ipvs?.sync_daemon).toEqual({ interface: "eth1" });
    expect(warnings(unknown)[0]).toMatch(/instance 'NOPE' was not translated; the sync daemon runs as both/);
  });
});

describe("vrrp_instance", () => {
  it("translates the core keywords", () => {
    const result = convert(`vrrp_instance VI_WEB {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 3
    nopreempt
    preempt_delay 2.5
    unicast_src_ip 10.0.0.11
    unicast_peer {
        10.0.0.12
        10.0.0.13 min_ttl 250
    }
    virtual_ipaddress {
        10.0.0.100/24
        10.0.0.101
    }
}`);
    expect(result.config.vrrp?.instances).toEqual([
      {
        name: "VI_WEB",
        interface: "eth0",
        vrid: 51,
        priority: 150,
        version: 2,
        advert_interval: "3s",
        preempt: false,
        preempt_delay: "2.5s",
        virtual_ips: ["10.0.0.100/24", "10.0.0.101/32"],
        unicast_peers: ["10.0.0.12", "10.0.0.13"],
        source_address: "10.0.0.11",
      },
    ]);
    expect(warnings(result)).toEqual(["k.conf:12:19: unicast_peer: 'min_ttl' not supported; dropped"]);
    const typed = validated(result).vrrp.instances[0];
    expect(typed).toMatchObject({
      advertIntervalMs: 3000,
      preempt: false,
      preemptDelayMs: 2500,
      unicastPeers: ["10.0.0.12", "10.0.0.13"],
      sourceAddress: "10.0.0.11",
    });
    expect(typed?.virtualIps).toEqual([
      { address: "10.0.0.100", prefixLength: 24, family: 4 },
      { address: "10.0.0.101", prefixLength: 32, family: 4 },
    ]);
  });

  it("rounds advert_int to what the version can carry, with a warning", () => {
    const interval = (version: number, value: string) => {
      const r = convert(instance(`    version ${version}\n    advert_int ${value}\n${VIP}`));
      return { interval: r.config.vrrp?.instances[0]?.advert_interval, warnings: warnings(r) };
    };
    expect(interval(3, "0.92")).toEqual({ interval: "920ms", warnings: [] });
    expect(interval(3, "0.015")).toEqual({
      interval: "20ms",
      warnings: [
        "k.conf:5:5: advert_int: 0.015s is not a VRRPv3 interval (10ms steps, 10ms..40.95s); using 20ms",
      ],
    });
    expect(interval(3, "60").interval).toBe("40.95s");
    expect(interval(2, "1.5")).toEqual({
      interval: "2s",
      warnings: ["k.conf:5:5: advert_int: 1.5s is not a VRRPv2 interval (whole seconds, 1..255); using 2s"],
    });
    expect(interval(2, "0.2").interval).toBe("1s");
    expect(interval(2, "abc")).toEqual({
      interval: "1s",
      warnings: ["k.conf:5:5: advert_int: 'abc' is not a time in seconds; ignored"],
    });
  });

  it("IPv6 instances run VRRPv3 (a version 2 is warned about)", () => {
    const result = convert(
      instance(
        "    version 2\n    advert_int 0.1\n    virtual_ipaddress {\n        2001:DB8::0100/64\n    }",
      ),
    );
    const out = result.config.vrrp?.instances[0];
    expect(out).toMatchObject({ version: 3, advert_interval: "100ms", virtual_ips: ["2001:db8::100/64"] });
    expect(warnings(result)).toEqual([
      "k.conf:4:5: version: VRRPv2 is IPv4 only; IPv6 instances use version 3",
    ]);
    expect(validated(result).vrrp.instances[0]).toMatchObject({
      version: 3,
      family: 6,
      advertIntervalMs: 100,
    });
  });

  it("notes that state MASTER is only a hint, and that keepalived ignores nopreempt with it", () => {
    const result = convert(instance(`    state MASTER\n    priority 200\n    nopreempt\n${VIP}`));
    expect(warnings(result)).toEqual([
      "k.conf:4:5: state MASTER: a start-up hint only: vipd starts as backup and elects the master by priority (here 200); give the intended master the highest priority",
      "k.conf:6:5: nopreempt: keepalived ignores nopreempt with state MASTER; vipd honours it (preempt: false)",
    ]);
    expect(result.config.vrrp?.instances[0]?.preempt).toBe(false);
  });

  it("warns about VIP options vipd does not apply, and drops bad or duplicate addresses", () => {
    const result = convert(
      `${instance(`    virtual_ipaddress {
        10.0.0.100/24 dev eth0 label eth0:1
        10.0.0.101/24 dev eth1 scope global
        10.0.0.102/33
        2001:db8::1/64
        10.0.0.100/24
        224.0.0.5
        10.0.0.103 10.0.0.104 brd 10.0.0.255
    }`)}${instance(
        `    virtual_ipaddress {
        10.0.0.104/24
        10.0.0.200/24
    }`,
        "VI_2",
      ).replace("virtual_router_id 51", "virtual_router_id 52")}`,
    );
    expect(result.config.vrrp?.instances.map((i) => i.virtual_ips)).toEqual([
      ["10.0.0.100/24", "10.0.0.101/24", "10.0.0.103/32", "10.0.0.104/32"],
      ["10.0.0.200/24"],
    ]);
    expect(warnings(result)).toEqual([
      "k.conf:5:32: virtual_ipaddress: label eth0:1 dropped (vipd adds addresses without labels)",
      "k.conf:6:23: virtual_ipaddress: dev eth1: vipd adds every virtual IP on the instance's interface (eth0)",
      "k.conf:6:32: virtual_ipaddress: address option 'scope global' not supported; dropped",
      "k.conf:7:9: virtual_ipaddress: '10.0.0.102/33' has prefix length 33; IPv4 allows 1..32; dropped",
      "k.conf:8:9: virtual_ipaddress: 2001:db8::1 is IPv6 but instance 'VI_1' is IPv4; dropped (vipd needs one address family per instance: add another instance)",
      "k.conf:9:9: virtual_ipaddress: 10.0.0.100 is listed twice; dropped",
      "k.conf:10:9: virtual_ipaddress: 224.0.0.5 is a multicast address; dropped",
      "k.conf:11:31: virtual_ipaddress: address option 'brd 10.0.0.255' not supported; dropped",
      "k.conf:18:9: virtual_ipaddress: 10.0.0.104 is already in instance 'VI_1'; dropped",
    ]);
    validated(result);
  });

  it("does not mistake words such as 'constructor' for address options", () => {
    const result = convert(
      instance("    virtual_ipaddress {\n        10.0.0.100/24 constructor toString\n    }"),
    );
    expect(result.config.vrrp?.instances[0]?.virtual_ips).toEqual(["10.0.0.100/24"]);
    expect(warnings(result)).toEqual([
      "k.conf:5:23: virtual_ipaddress: unknown address option 'constructor'; ignored",
      "k.conf:5:35: virtual_ipaddress: unknown address option 'toString'; ignored",
    ]);
  });

  it("merges virtual_ipaddress_excluded of the same family into virtual_ips, with a warning", () => {
    const result = convert(
      instance(`${VIP}
    virtual_ipaddress_excluded {
        10.0.0.150/24
        fd00::1/64
    }`),
    );
    expect(result.config.vrrp?.instances[0]?.virtual_ips).toEqual(["10.0.0.100/24", "10.0.0.150/24"]);
    expect(warnings(result)).toEqual([
      "k.conf:7:5: virtual_ipaddress_excluded: merged into virtual_ips: vipd lists every address in its adverts (a keepalived peer still running this file sees a different address list)",
      "k.conf:9:9: virtual_ipaddress_excluded: fd00::1 is IPv6 but instance 'VI_1' is IPv4; dropped (vipd needs one address family per instance: add another instance)",
    ]);
  });

  it("drops unicast peers and source addresses of the wrong family", () => {
    const result = convert(
      instance(
        `${VIP}\n    mcast_src_ip 2001:db8::1\n    unicast_peer {\n        10.0.0.2 fd00::2\n        10.0.0.2\n    }`,
      ),
    );
    const out = result.config.vrrp?.instances[0];
    expect(out?.unicast_peers).toEqual(["10.0.0.2"]);
    expect(out?.source_address).toBeUndefined();
    expect(warnings(result)).toEqual([
      "k.conf:7:5: mcast_src_ip: source address 2001:db8::1 is IPv6 but the instance's virtual IPs are IPv4; ignored",
      "k.conf:9:18: fd00::2: unicast peer fd00::2 is IPv6 but the instance's virtual IPs are IPv4; ignored",
      "k.conf:10:9: unicast_peer: 10.0.0.2 is listed twice; dropped",
    ]);
  });

  it("tracks interfaces: no weight = FAULT (0), negative weights as they are", () => {
    const result = convert(
      instance(`${VIP}\n    track_interface {\n        eth1\n        eth2 weight -50\n    }`),
    );
    expect(result.config.vrrp?.instances[0]?.track_interfaces).toEqual([
      { name: "eth1", weight: 0 },
      { name: "eth2", weight: -50 },
    ]);
    expect(warnings(result)).toEqual([]);
    expect(validated(result).vrrp.instances[0]?.trackInterfaces).toEqual([
      { name: "eth1", weight: 0 },
      { name: "eth2", weight: -50 },
    ]);
  });

  it("keeps track_interface weights as they are: vipd adds positive ones while up and negative ones while down, as keepalived does", () => {
    const result = convert(
      instance(
        `    priority 100\n${VIP}\n    track_interface {\n        eth1 weight 20\n        eth2 weight -10\n    }`,
      ),
    );
    const out = result.config.vrrp?.instances[0];
    expect(out?.priority).toBe(100);
    expect(out?.track_interfaces).toEqual([
      { name: "eth1", weight: 20 },
      { name: "eth2", weight: -10 },
    ]);
    expect(warnings(result)).toEqual([]);
    validated(result);
  });

  it("drops tracked interfaces it cannot translate: reverse, priority 255", () => {
    const reverse = convert(instance(`${VIP}\n    track_interface {\n        eth1 weight -5 reverse\n    }`));
    expect(reverse.config.vrrp?.instances[0]?.track_interfaces).toBeUndefined();
    expect(warnings(reverse)).toEqual([
      "k.conf:8:24: track_interface: reverse is not supported; interface eth1 is not tracked",
    ]);
    const owner = convert(
      instance(
        `    priority 255\n${VIP}\n    track_interface {\n        eth1 weight -10\n        eth2\n    }`,
      ),
    );
    expect(owner.config.vrrp?.instances[0]?.track_interfaces).toEqual([{ name: "eth2", weight: 0 }]);
    expect(warnings(owner)[0]).toMatch(/priority 255 \(address owner\) is not changed by tracking/);
  });

  it("translates notify scripts, and warns about an undefined tracking script, e-mail and anything unknown", () => {
    const result = convert(
      instance(`${VIP}
    track_script {
        chk
    }
    notify_master "/bin/notify master"
    notify /bin/notify
    smtp_alert
    use_vmac`),
    );
    expect(result.warnings.map((w) => `${w.line}:${w.col} ${w.keyword}`)).toEqual([
      "8:9 chk",
      "12:5 smtp_alert",
      "13:5 use_vmac",
    ]);
    expect(result.warnings[0]?.message).toBe("vrrp_script 'chk' was not translated; not tracked");
    expect(result.config.vrrp?.instances[0]?.notify).toEqual({
      master: ["/bin/notify", "master"],
      any: ["/bin/notify"],
    });
    expect(validated(result).vrrp.instances[0]?.notify).toEqual({
      master: ["/bin/notify", "master"],
      any: ["/bin/notify"],
      timeoutMs: 30_000,
    });
  });

  describe("notify scripts, as keepalived 2.2.7 reads them", () => {
    const notifyOf = (lines: string) => convert(instance(`${VIP}\n${lines}`));
    const at = (r: ConvertResult) => r.warnings.map((w) => `${w.line}:${w.col} ${w.keyword}: ${w.message}`);

    it("splits the quoted command into argv, quotes grouping words, each state to its key", () => {
      const r = notifyOf(
        `    notify_backup "/usr/bin/logger -t 'ka notify' backup"\n    notify_fault /f\n    notify_stop "/s x"`,
      );
      expect(r.config.vrrp?.instances[0]?.notify).toEqual({
        backup: ["/usr/bin/logger", "-t", "ka notify", "backup"],
        fault: ["/f"],
        stop: ["/s", "x"],
      });
      expect(r.warnings).toEqual([]);
      validated(r);
    });

    it("a second word is keepalived's script user: kept out of argv, with a warning at it", () => {
      const r = notifyOf("    notify_master /bin/to-master web");
      expect(r.config.vrrp?.instances[0]?.notify).toEqual({ master: ["/bin/to-master"] });
      expect(at(r)).toEqual([
        "7:34 notify_master: keepalived runs this script as user 'web'; vipd runs hooks as itself: quote the whole command if 'web' was meant as an argument, or switch user inside the script",
      ]);
    });

    it("warns about a repeated keyword, a missing or broken script, and the hooks vipd does not have", () => {
      const r = notifyOf(
        '    notify /a\n    notify /b\n    notify_master\n    notify_fault "/x \'y"\n    notify_deleted /d\n    notify_master_rx_lower_pri /l',
      );
      expect(r.config.vrrp?.instances[0]?.notify).toEqual({ any: ["/a"] });
      expect(at(r)).toEqual([
        "8:5 notify: notify is given twice; keepalived keeps the first, so does this config",
        "9:5 notify_master: notify_master needs a script; dropped",
        "10:18 notify_fault: the script has an unterminated quote; dropped",
        expect.stringMatching(/^11:5 notify_deleted: not translated: vipd runs the instance's `stop` hook/),
        expect.stringMatching(/^12:5 notify_master_rx_lower_pri: not translated/),
      ]);
      validated(r);
    });
  });

  describe("authentication, as keepalived 2.2.7 reads it", () => {
    const auth = (body: string, extra = "") =>
      convert(instance(`${VIP}\n${extra}    authentication {\n${body}\n    }`));
    const authOf = (r: ConvertResult) => r.config.vrrp?.instances[0]?.authentication;
    const at = (r: ConvertResult) => r.warnings.map((w) => `${w.line}:${w.col} ${w.keyword}: ${w.message}`);

    it("auth_type PASS becomes a password that vipd's parser accepts, with no warning", () => {
      const r = auth("        auth_type PASS\n        auth_pass s3cret");
      expect(authOf(r)).toEqual({ type: "pass", password: "s3cret" });
      expect(r.warnings).toEqual([]);
      expect(validated(r).vrrp.instances[0]?.authentication).toEqual({ type: "pass", password: "s3cret" });
    });

    it("a password over 8 bytes is cut to 8, as keepalived sends it, with a warning at auth_pass", () => {
      const r = auth("        auth_type PASS\n        auth_pass 1234567890");
      expect(authOf(r)).toEqual({ type: "pass", password: "12345678" });
      expect(at(r)).toEqual([
        "9:19 auth_pass: longer than 8 bytes: keepalived sends only its first 8, and so does this config",
      ]);
      validated(r);
      const split = auth("        auth_type PASS\n        auth_pass abcdefgé");
      expect(authOf(split)).toBeUndefined();
      expect(at(split)).toEqual([expect.stringMatching(/^9:19 auth_pass: .*end inside a UTF-8 character/)]);
    });

    it("what keepalived runs without authentication gives none, each with a warning at its keyword", () => {
      const lower = auth("        auth_type pass\n        auth_pass s3cret");
      expect(authOf(lower)).toBeUndefined();
      expect(at(lower)).toEqual([
        "8:19 auth_type: keepalived rejects auth_type 'pass' (it compares case: only PASS means a password) and runs without authentication; so does this config",
      ]);
      const noPass = auth("        auth_type PASS");
      expect(authOf(noPass)).toBeUndefined();
      expect(at(noPass)).toEqual([
        "8:19 auth_type: keepalived ignores auth_type PASS without auth_pass; dropped",
      ]);
      const noType = auth("        auth_pass s3cret");
      expect(authOf(noType)).toBeUndefined();
      expect(at(noType)).toEqual([
        "8:19 auth_pass: auth_pass without auth_type: keepalived sends no authentication; dropped",
      ]);
      const v3 = auth("        auth_type PASS\n        auth_pass s3cret", "    version 3\n");
      expect(authOf(v3)).toBeUndefined();
      expect(at(v3)).toEqual([
        "8:5 authentication: keepalived ignores authentication on VRRPv3 (the RFC has none); dropped",
      ]);
      for (const r of [lower, noPass, noType, v3]) validated(r);
    });

    it("IPsec AH is not translated, and the warning says what the peers must do first", () => {
      const r = auth("        auth_type AH\n        auth_pass s3cret");
      expect(authOf(r)).toBeUndefined();
      expect(at(r)).toEqual([
        expect.stringMatching(/^8:19 auth_type: IPsec AH .* switch the pair to auth_type PASS/),
      ]);
      validated(r);
    });
  });

  it("skips instances vipd could not run, saying why", () => {
    const result = convert(`vrrp_instance NOIF {
    virtual_router_id 1
${VIP}
}
vrrp_instance NOVRID {
    interface eth0
${VIP}
}
vrrp_instance NOVIP {
    interface eth0
    virtual_router_id 3
}
${instance(VIP, "OK")}
vrrp_instance SAMEVRID {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.9/24
    }
}
${instance("    virtual_ipaddress {\n        10.0.0.8/24\n    }", "OK")}`);
    expect(result.config.vrrp?.instances.map((i) => i.name)).toEqual(["OK"]);
    expect(warnings(result)).toEqual([
      "k.conf:1:1: vrrp_instance: instance 'NOIF' has no interface; skipped (vipd needs one per instance)",
      "k.conf:7:1: vrrp_instance: instance 'NOVRID' has no valid virtual_router_id; skipped",
      "k.conf:13:1: vrrp_instance: instance 'NOVIP' has no usable virtual IP; skipped",
      "k.conf:25:1: vrrp_instance: VRID 51 is already used on eth0 (IPv4) by instance 'OK'; skipped",
      "k.conf:32:1: vrrp_instance: duplicate instance 'OK'; skipped",
    ]);
  });

  it("warns about out-of-range numbers and keeps the default", () => {
    const result = convert(instance(`    priority 300\n${VIP}`));
    expect(result.config.vrrp?.instances[0]?.priority).toBe(100);
    expect(warnings(result)).toEqual(["k.conf:4:5: priority: 300 is out of range (1..255); ignored"]);
  });
});

describe("vrrp_sync_group", () => {
  it("becomes sync_groups, leaving out instances that were not translated", () => {
    const result = convert(`vrrp_sync_group G {
    group {
        A B
        GONE
    }
    notify_master "/bin/x group"
}
${instance(VIP, "A")}
vrrp_instance B {
    interface eth1
    virtual_router_id 52
    virtual_ipaddress {
        10.1.0.1/24
    }
}
vrrp_sync_group EMPTY {
    group {
        GONE
    }
}`);
    expect(result.config.vrrp?.sync_groups).toEqual([
      { name: "G", instances: ["A", "B"], notify: { master: ["/bin/x", "group"] } },
    ]);
    expect(warnings(result)).toEqual([
      "k.conf:4:9: group: instance 'GONE' was not translated; left out of sync group 'G'",
      "k.conf:23:1: vrrp_sync_group: sync group 'EMPTY' has no translated instance; skipped",
      "k.conf:25:9: group: instance 'GONE' was not translated; left out of sync group 'EMPTY'",
    ]);
    expect(validated(result).vrrp.syncGroups).toEqual([
      {
        name: "G",
        instances: ["A", "B"],
        trackingWeight: false,
        notify: { master: ["/bin/x", "group"], timeoutMs: 30_000 },
      },
    ]);
  });
});

describe("vrrp_sync_group sync_group_tracking_weight", () => {
  it("becomes tracking_weight: true", () => {
    const result = convert(`vrrp_sync_group G {
    group {
        A
        B
    }
    sync_group_tracking_weight
}
${instance(VIP, "A")}
vrrp_instance B {
    interface eth1
    virtual_router_id 52
    virtual_ipaddress {
        10.1.0.1/24
    }
}`);
    expect(result.config.vrrp?.sync_groups).toEqual([
      { name: "G", instances: ["A", "B"], tracking_weight: true },
    ]);
    expect(warnings(result)).toEqual([]);
    expect(validated(result).vrrp.syncGroups).toEqual([
      { name: "G", instances: ["A", "B"], trackingWeight: true },
    ]);
  });
});

describe("older keepalived syntax", () => {
  it("takes instances listed directly in a sync group (without a group block) as members, warning that keepalived 2.x does not", () => {
    const result = convert(`vrrp_sync_group G {\n    VI_1\n    VI_1\n}\n${instance(VIP)}`);
    expect(result.config.vrrp?.sync_groups).toEqual([{ name: "G", instances: ["VI_1"] }]);
    expect(warnings(result)).toEqual([
      `k.conf:2:5: VI_1: keepalived 2.x does not take members outside a group { } block ("Unknown keyword"; a group left empty is removed); vipd takes 'VI_1' as a member, as keepalived 1.x did: move it into group { }`,
      "k.conf:3:5: VI_1: instance 'VI_1' is listed twice or in another sync group; dropped",
    ]);
  });

  it("translates a vrrp_instance's lvs_sync_daemon_interface (sync id = VRID); global_defs lvs_sync_daemon wins", () => {
    const legacy = convert(instance(`    lvs_sync_daemon_interface eth1\n${VIP}`));
    expect(legacy.config.ipvs).toEqual({ sync_daemon: { interface: "eth1", instance: "VI_1", sync_id: 51 } });
    expect(legacy.warnings).toEqual([]);
    expect(validated(legacy).ipvs.syncDaemon).toEqual({ interface: "eth1", syncId: 51, instance: "VI_1" });
    const both = convert(
      `global_defs {\n    lvs_sync_daemon eth2\n}\n${instance(`    lvs_sync_daemon_interface eth1\n${VIP}`)}`,
    );
    expect(both.config.ipvs).toEqual({ sync_daemon: { interface: "eth2" } });
    expect(warnings(both)).toEqual([
      "k.conf:7:5: lvs_sync_daemon_interface: ignored: global_defs lvs_sync_daemon sets the sync daemon",
    ]);
  });
});

describe("vrrp_script and track_file, as keepalived 2.2.7 reads them", () => {
  const at = (r: ConvertResult) => r.warnings.map((w) => `${w.line}:${w.col} ${w.keyword}: ${w.message}`);

  it("becomes vrrp.track_scripts and track_files, referred to by the instance with keepalived's defaults made explicit", () => {
    const r = convert(`vrrp_script chk {
    script "/usr/bin/pgrep -x haproxy"
    interval 2
    timeout 1
    weight -20
    rise 3
    fall 2
    init_fail
}
vrrp_track_file maint {
    file "/run/maint"
    weight 0
}
track_file bias {
    file /run/bias
}
${instance(`${VIP}
    track_script {
        chk
    }
    track_file {
        maint
        bias weight -5
    }`)}`);
    expect(r.warnings).toEqual([]);
    expect(r.config.vrrp?.track_scripts).toEqual([
      {
        name: "chk",
        command: ["/usr/bin/pgrep", "-x", "haproxy"],
        interval: "2s",
        timeout: "1s",
        weight: -20,
        rise: 3,
        fall: 2,
        initial: "down",
      },
    ]);
    expect(r.config.vrrp?.track_files).toEqual([
      { name: "maint", path: "/run/maint", weight: 0 },
      { name: "bias", path: "/run/bias" },
    ]);
    const v = validated(r).vrrp;
    expect(v.instances[0]).toMatchObject({
      trackScripts: [{ name: "chk", weight: -20 }],
      trackFiles: [
        { name: "maint", weight: 0 },
        { name: "bias", weight: -5 },
      ],
    });
    expect(v.trackScripts[0]).toMatchObject({ intervalMs: 2000, timeoutMs: 1000, initial: "down" });
    expect(v.trackFiles[1]).toEqual({ name: "bias", path: "/run/bias", weight: 1 });
  });

  it("warns, at the word, about reverse, users, init_file and references to what was not translated", () => {
    const r = convert(`vrrp_script rev {
    script /bin/a
    weight 10 reverse
}
vrrp_script ok {
    script /bin/b
    user nobody
}
vrrp_script none {
    interval 2
}
vrrp_track_file f {
    file /run/f
    init_file 0
}
${instance(`${VIP}
    track_script {
        rev
        ok weight 5 reverse
        none
        ok
        missing
    }
    track_file {
        f weight 300
    }`)}`);
    expect(at(r)).toEqual([
      "3:15 weight: vipd has no reverse tracking; dropped, and not tracked by any instance",
      "7:5 user: vipd runs tracking scripts as itself; switch user inside the script if needed",
      "9:1 vrrp_script: vrrp_script 'none' has no script; dropped",
      "14:5 init_file: not translated: vipd does not create track files (a missing file counts as 0, as here)",
      "23:9 rev: vrrp_script 'rev' was not translated; not tracked",
      "24:21 ok: vipd has no reverse tracking; not tracked",
      "25:9 none: vrrp_script 'none' was not translated; not tracked",
      "27:9 missing: vrrp_script 'missing' was not translated; not tracked",
      "30:18 f: '300' is not a weight (-253..253); ignored",
    ]);
    expect(r.config.vrrp?.instances[0]?.track_scripts).toEqual(["ok"]);
    expect(r.config.vrrp?.instances[0]?.track_files).toEqual(["f"]);
    validated(r);
  });
});

describe("virtual_server", () => {
  it("translates an HTTP_GET service: scheduler, forwarding, check timing from delay_loop/connect_timeout/retry", () => {
    const result = convert(`virtual_server 10.0.0.100 80 {
    delay_loop 6
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.0.21 80 {
        weight 3
        HTTP_GET {
            url {
                path /healthz
                status_code 200-299 301
            }
            connect_timeout 3
            nb_get_retry 3
        }
    }
}`);
    expect(result.config.virtual_servers).toEqual([
      {
        name: "10.0.0.100:80",
        address: "10.0.0.100",
        port: 80,
        protocol: "tcp",
        scheduler: "rr",
        forwarding: "dr",
        check: {
          type: "http",
          path: "/healthz",
          status: ["200-299", 301],
          interval: "6s",
          fast_interval: "3s",
          timeout: "3s",
          rise: 1,
          fall: 4,
        },
        real_servers: [{ address: "10.0.0.21", port: 80, weight: 3 }],
      },
    ]);
    expect(warnings(result)).toEqual([]);
    const vs = validated(result).virtualServers[0];
    expect(vs?.realServers[0]?.checks).toEqual([
      {
        type: "http",
        intervalMs: 6000,
        fastIntervalMs: 3000,
        downIntervalMs: 6000,
        timeoutMs: 3000,
        rise: 1,
        fall: 4,
        initial: "down",
        method: "GET",
        path: "/healthz",
        headers: {},
        status: [
          { min: 200, max: 299 },
          { min: 301, max: 301 },
        ],
        maxBodyBytes: 65_536,
        keepalive: false,
      },
    ]);
  });

  it("uses keepalived's check defaults: delay_loop 60s, connect_timeout 5s, retry 1 (fall 2)", () => {
    const result = convert(`virtual_server 10.0.0.1 22 {
    lvs_sched lc
    real_server 10.0.0.2 22 {
        TCP_CHECK {
        }
    }
    protocol TCP
}`);
    expect(result.config.virtual_servers?.[0]?.check).toEqual({
      type: "tcp",
      interval: "1m",
      fast_interval: "5s",
      timeout: "5s",
      rise: 1,
      fall: 2,
    });
    expect(result.config.virtual_servers?.[0]).toMatchObject({ scheduler: "lc", forwarding: "nat" });
  });

  it("passes settings down: virtual server → real server → checker", () => {
    const result = convert(`virtual_server 10.0.0.1 80 {
    delay_loop 10
    connect_timeout 4
    retry 0
    virtualhost www.example.com
    real_server 10.0.0.2 80 {
        connect_timeout 2
        SSL_GET {
            url {
                path /
            }
        }
    }
    real_server 10.0.0.3 80 {
        SSL_GET {
            delay_loop 20
            url {
                path /
                virtualhost other.example.com
            }
        }
    }
    protocol TCP
}`);
    const [a, b] = result.config.virtual_servers?.[0]?.real_servers ?? [];
    // keepalived does not verify certificates: the translation says so, since vipd does by default.
    expect(a?.check).toEqual({
      type: "https",
      tls_verify: false,
      path: "/",
      host: "www.example.com",
      interval: "10s",
      timeout: "2s",
      rise: 1,
      fall: 1,
    });
    expect(b?.check).toEqual({
      type: "https",
      tls_verify: false,
      path: "/",
      host: "other.example.com",
      interval: "20s",
      timeout: "4s",
      rise: 1,
      fall: 1,
    });
    expect(validated(result).virtualServers[0]?.realServers[0]?.checks[0]).toMatchObject({
      type: "https",
      tls: { verify: false },
    });
  });

  it("shortens a connect_timeout longer than the interval and explains delay_before_retry", () => {
    const result = convert(`virtual_server 10.0.0.1 80 {
    delay_loop 2
    real_server 10.0.0.2 80 {
        TCP_CHECK {
            connect_port 8080
            retry 2
            delay_before_retry 1
        }
    }
    protocol TCP
}`);
    expect(result.config.virtual_servers?.[0]?.check).toMatchObject({
      connect_port: 8080,
      interval: "2s",
      timeout: "2s",
      fall: 3,
    });
    expect(warnings(result)).toEqual([
      "k.conf:4:9: TCP_CHECK: connect_timeout 5s is longer than delay_loop 2s; vipd needs timeout <= interval, so the timeout is 2s",
      "k.conf:7:13: delay_before_retry: keepalived retries 1s after a failed check; vipd's fast_interval runs from check start to check start and must cover the 2s timeout, so it is 2s: a server that stops answering is down after about 6s (keepalived: 8s when each check times out, 4s when refused)",
    ]);
    validated(result);
  });

  it("translates url details: a literal regex becomes expect, a real one expect_regex, digest md5:<hex>", () => {
    const result = convert(`virtual_server 10.0.0.1 80 {
    real_server 10.0.0.2 80 {
        HTTP_GET {
            url {
                path /a
                regex "ready"
            }
        }
    }
    real_server 10.0.0.3 80 {
        HTTP_GET {
            url {
                path /b
                digest 9B3A0C85A887A256D6939DA88AABD8CD
                regex "^ok.*"
            }
            url {
                path /c
                regex "(?<=x)y"
            }
            url {
                path /d
                digest 0123456789abcdef
                regex "a(b"
            }
        }
    }
    protocol TCP
}`);
    const [a, b] = result.config.virtual_servers?.[0]?.real_servers ?? [];
    expect(a?.check).toMatchObject({ type: "http", path: "/a", expect: "ready" });
    // Every url of a checker must pass in keepalived: each becomes a check of its own.
    expect(b?.check).toEqual([
      {
        type: "http",
        path: "/b",
        digest: "md5:9b3a0c85a887a256d6939da88aabd8cd",
        expect_regex: "^ok.*",
        interval: "1m",
        fast_interval: "5s",
        timeout: "5s",
        rise: 1,
        fall: 2,
      },
      {
        type: "http",
        path: "/c",
        expect_regex: "(?<=x)y",
        interval: "1m",
        fast_interval: "5s",
        timeout: "5s",
        rise: 1,
        fall: 2,
      },
      { type: "http", path: "/d", interval: "1m", fast_interval: "5s", timeout: "5s", rise: 1, fall: 2 },
    ]);
    expect(warnings(result)).toEqual([
      "k.conf:23:17: digest: '0123456789abcdef' is not an MD5 digest (32 hex digits); dropped",
      "k.conf:24:17: regex: not supported: this PCRE pattern is not a valid JavaScript regular expression; dropped",
    ]);
    const typed = validated(result).virtualServers[0]?.realServers[1]?.checks;
    expect(typed?.map((c) => c.type === "http" && [c.path, c.digest, c.expectRegex])).toEqual([
      ["/b", { algorithm: "md5", hex: "9b3a0c85a887a256d6939da88aabd8cd" }, "^ok.*"],
      ["/c", undefined, "(?<=x)y"],
      ["/d", undefined, undefined],
    ]);
  });

  it("keeps real servers' own checks when they differ, and moves a common check up to the service", () => {
    const text = (portA: number, portB: number) => `virtual_server 10.0.0.1 443 {
    real_server 10.0.0.2 443 {
        TCP_CHECK {
            connect_port ${portA}
        }
    }
    real_server 10.0.0.3 443 {
        TCP_CHECK {
            connect_port ${portB}
        }
    }
    protocol TCP
}`;
    const same = convert(text(443, 443)).config.virtual_servers?.[0];
    expect(same?.check).toMatchObject({ type: "tcp", connect_port: 443 });
    expect(same?.real_servers.map((r) => r.check)).toEqual([undefined, undefined]);
    const differ = convert(text(443, 8443));
    const vs = differ.config.virtual_servers?.[0];
    expect(vs?.check).toBeUndefined();
    expect(vs?.real_servers.map((r) => r.check)).toMatchObject([
      { connect_port: 443 },
      { connect_port: 8443 },
    ]);
    expect(validated(differ).virtualServers[0]?.realServers.map((r) => r.checks)).toMatchObject([
      [{ type: "tcp", connectPort: 443 }],
      [{ type: "tcp", connectPort: 8443 }],
    ]);
  });

  it("keeps every checker of a real server as a list, and marks servers with only unsupported checkers 'none'", () => {
    const result = convert(`virtual_server 10.0.0.1 25 {
    real_server 10.0.0.2 25 {
        SMTP_CHECK {
        }
    }
    real_server 10.0.0.3 25 {
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /health
            }
        }
    }
    real_server 10.0.0.4 25 {
    }
    protocol TCP
}`);
    const servers = result.config.virtual_servers?.[0]?.real_servers ?? [];
    expect(servers.map((r) => r.check)).toEqual([
      { type: "none" },
      [
        { type: "tcp", interval: "1m", fast_interval: "5s", timeout: "5s", rise: 1, fall: 2 },
        {
          type: "http",
          path: "/health",
          interval: "1m",
          fast_interval: "5s",
          timeout: "5s",
          rise: 1,
          fall: 2,
        },
      ],
      undefined,
    ]);
    expect(warnings(result)).toEqual([
      "k.conf:2:5: real_server: real server 10.0.0.2 keeps no check (always up) until one is configured",
      "k.conf:3:9: SMTP_CHECK: not supported: vipd checks with HTTP, HTTPS, TCP, exec (MISC_CHECK) and DNS; dropped",
    ]);
    expect(validated(result).virtualServers[0]?.realServers.map((r) => r.checks.map((c) => c.type))).toEqual([
      [],
      ["tcp", "http"],
      [],
    ]);
  });

  it("translates MISC_CHECK to an exec check: misc_path split into argv, misc_dynamic, misc_timeout", () => {
    const result = convert(`virtual_server 10.0.0.1 25 {
    delay_loop 10
    real_server 10.0.0.2 25 {
        MISC_CHECK {
            misc_path "/usr/local/bin/check_smtp --host '10.0.0.2 a' \\"x y\\""
            misc_timeout 4
            misc_dynamic
        }
    }
    real_server 10.0.0.3 25 {
        MISC_CHECK {
            misc_path /bin/check 10.0.0.3
            user nobody
            retry 2
        }
    }
    protocol TCP
}`);
    const [a, b] = result.config.virtual_servers?.[0]?.real_servers ?? [];
    expect(a?.check).toEqual({
      type: "exec",
      command: ["/usr/local/bin/check_smtp", "--host", "10.0.0.2 a", "x y"],
      dynamic_weight: true,
      interval: "10s",
      timeout: "4s",
      rise: 1,
      // keepalived's MISC_CHECK retries no failure by default.
      fall: 1,
    });
    // misc_timeout defaults to the delay_loop.
    expect(b?.check).toEqual({
      type: "exec",
      command: ["/bin/check", "10.0.0.3"],
      interval: "10s",
      timeout: "10s",
      rise: 1,
      fall: 3,
    });
    expect(warnings(result)).toEqual([
      "k.conf:13:13: user: not translated: vipd runs exec checks as the user it runs as",
    ]);
    expect(validated(result).virtualServers[0]?.realServers.map((r) => r.checks[0])).toMatchObject([
      {
        type: "exec",
        command: ["/usr/local/bin/check_smtp", "--host", "10.0.0.2 a", "x y"],
        dynamicWeight: true,
      },
      { type: "exec", command: ["/bin/check", "10.0.0.3"], dynamicWeight: false, timeoutMs: 10_000 },
    ]);
  });

  it("warns about MISC_CHECK without a program, with an unterminated quote, or with shell syntax", () => {
    const result = convert(`virtual_server 10.0.0.1 25 {
    delay_loop 5
    real_server 10.0.0.2 25 {
        MISC_CHECK {
            misc_timeout 30
            misc_path "/bin/check | grep ok"
        }
    }
    real_server 10.0.0.3 25 {
        MISC_CHECK {
            misc_path "/bin/check 'oops"
        }
    }
    protocol TCP
}`);
    const [a, b] = result.config.virtual_servers?.[0]?.real_servers ?? [];
    expect(a?.check).toMatchObject({ command: ["/bin/check", "|", "grep", "ok"], timeout: "5s" });
    expect(b?.check).toEqual({ type: "none" });
    expect(warnings(result)).toEqual([
      "k.conf:4:9: MISC_CHECK: misc_timeout 30s is longer than delay_loop 5s; vipd needs timeout <= interval, so the timeout is 5s",
      "k.conf:6:13: misc_path: uses shell syntax, but vipd (like keepalived 2) runs the program without a shell; wrap it in [/bin/sh, -c, ...] if it needs one",
      "k.conf:9:5: real_server: real server 10.0.0.3 keeps no check (always up) until one is configured",
      "k.conf:10:9: MISC_CHECK: has no usable misc_path; dropped",
      "k.conf:11:13: misc_path: cannot split '/bin/check 'oops' into arguments (an unterminated quote); ignored",
    ]);
    validated(result);
  });

  it("translates DNS_CHECK to a dns check (keepalived's defaults: SOA of '.', retry 3)", () => {
    const result = convert(`virtual_server 10.0.0.1 53 {
    protocol UDP
    delay_loop 5
    real_server 10.0.0.2 53 {
        DNS_CHECK {
            type aaaa
            name www.example.com
            connect_timeout 2
        }
    }
    real_server 10.0.0.3 53 {
        DNS_CHECK {
            connect_ip 10.0.9.3
            connect_port 5353
        }
    }
    real_server 10.0.0.4 53 {
        DNS_CHECK {
            type RRSIG
            connect_ip 2001:db8::4
        }
    }
}`);
    const [a, b, c] = result.config.virtual_servers?.[0]?.real_servers ?? [];
    expect(a?.check).toEqual({
      type: "dns",
      name: "www.example.com",
      record: "AAAA",
      interval: "5s",
      fast_interval: "2s",
      timeout: "2s",
      rise: 1,
      fall: 4,
    });
    expect(b?.check).toEqual({
      type: "dns",
      connect_address: "10.0.9.3",
      connect_port: 5353,
      name: ".",
      record: "SOA",
      interval: "5s",
      timeout: "5s",
      rise: 1,
      fall: 4,
    });
    expect(c?.check).toMatchObject({ type: "dns", name: ".", record: "SOA" });
    expect(c?.check).not.toHaveProperty("connect_address");
    const answer = (record: string) =>
      `translated as a dns check; with rcode NOERROR vipd also needs an answer of type ${record}, where keepalived accepts any NOERROR reply`;
    expect(warnings(result)).toEqual([
      `k.conf:5:9: DNS_CHECK: ${answer("AAAA")}`,
      `k.conf:12:9: DNS_CHECK: ${answer("SOA")}`,
      `k.conf:18:9: DNS_CHECK: ${answer("SOA")}`,
      "k.conf:19:13: type: 'RRSIG' is not a record type keepalived checks; using SOA, as keepalived does",
      "k.conf:20:13: connect_ip: 2001:db8::4 is IPv6 but the real server is IPv4; dropped",
    ]);
    expect(validated(result).virtualServers[0]?.realServers.map((r) => r.checks[0])).toMatchObject([
      { type: "dns", name: "www.example.com", recordType: "AAAA", rcode: "NOERROR", fall: 4 },
      { type: "dns", name: ".", recordType: "SOA", connectAddress: "10.0.9.3", connectPort: 5353 },
      { type: "dns", name: ".", recordType: "SOA" },
    ]);
  });

  it("translates persistence, quorum, hysteresis, sorry_server and inhibit_on_failure", () => {
    const result = convert(`virtual_server 10.0.0.1 443 {
    lb_kind NAT
    persistence_timeout
    persistence_granularity 255.255.255.0
    quorum 3
    hysteresis 1
    sorry_server 10.0.0.50
    inhibit_on_failure
    real_server 10.0.0.2 8443 {
        weight 2
        uthreshold 100
        lthreshold 10
    }
    protocol TCP
}`);
    expect(result.config.virtual_servers?.[0]).toEqual({
      name: "10.0.0.1:443",
      address: "10.0.0.1",
      port: 443,
      protocol: "tcp",
      scheduler: "wlc",
      forwarding: "nat",
      persistence: { timeout: "6m", netmask: "255.255.255.0" },
      on_failure: "inhibit",
      quorum: { weight: 3, hysteresis: 1 },
      sorry_server: "10.0.0.50:443",
      real_servers: [
        { address: "10.0.0.2", port: 8443, weight: 2, upper_threshold: 100, lower_threshold: 10 },
      ],
    });
    expect(warnings(result)).toEqual([]);
    const typed = validated(result).virtualServers[0];
    expect(typed).toMatchObject({
      persistence: { timeoutMs: 360_000, netmaskPrefix: 24 },
      onFailure: "inhibit",
      quorum: { weight: 3, hysteresis: 1 },
      sorryServer: { address: "10.0.0.50", port: 443, family: 4 },
    });
  });

  it("keeps DR real servers and sorry servers on the service port, checking the port keepalived checked", () => {
    const result = convert(`virtual_server 10.0.0.1 80 {
    lb_kind DR
    sorry_server 10.0.0.50 8080
    real_server 10.0.0.2 8080 {
        TCP_CHECK {
        }
    }
    protocol TCP
}`);
    const vs = result.config.virtual_servers?.[0];
    expect(vs?.sorry_server).toBe("10.0.0.50:80");
    expect(vs?.real_servers[0]).toEqual({ address: "10.0.0.2", port: 80, weight: 1 });
    expect(vs?.check).toMatchObject({ type: "tcp", connect_port: 8080 });
    expect(warnings(result)).toEqual([
      "k.conf:3:5: sorry_server: port 8080 differs from the service port 80; dr forwarding cannot map ports, so 80 is used",
      "k.conf:4:5: real_server: port 8080 differs from the service port 80; dr forwarding cannot map ports, so the real server gets 80 (its check keeps port 8080)",
    ]);
    validated(result);
  });

  it("translates TUN with its tunnel options, UDP with ops, and sh/mh scheduler flags", () => {
    const result = convert(`virtual_server 10.0.0.1 53 {
    protocol UDP
    ops
    lvs_sched mh
    mh-port
    flag-1
    lvs_method TUN type gue port 6080 csum
    real_server 192.0.2.1 53 {
    }
}
virtual_server 10.0.0.1 80 {
    lvs_sched rr
    sh-port
    ops
    lb_kind TUN type gre
    real_server 192.0.2.1 80 {
    }
    protocol TCP
}`);
    const [udp, tcp] = result.config.virtual_servers ?? [];
    expect(udp).toMatchObject({
      name: "10.0.0.1:53/udp",
      protocol: "udp",
      scheduler: "mh",
      scheduler_flags: ["fallback", "port"],
      forwarding: "tun",
      tunnel: { type: "gue", port: 6080, checksum: "csum" },
      one_packet: true,
    });
    expect(tcp).toMatchObject({ forwarding: "tun", tunnel: { type: "gre" } });
    expect(tcp?.scheduler_flags).toBeUndefined();
    expect(tcp?.one_packet).toBeUndefined();
    expect(warnings(result)).toEqual([
      "k.conf:13:5: sh-port: applies only to the sh and mh schedulers (this service uses rr); dropped",
      "k.conf:14:5: ops: one-packet scheduling needs protocol UDP; dropped",
    ]);
    expect(validated(result).virtualServers[0]).toMatchObject({
      schedulerFlags: { fallback: true, port: true },
      tunnel: { type: "gue", port: 6080, checksum: "csum" },
      onePacket: true,
    });
  });

  it("translates fwmark services (family from ip_family or the real servers)", () => {
    const result = convert(`virtual_server fwmark 66 {
    lb_kind DR
    persistence_timeout 600
    real_server 10.0.0.2 80 {
        TCP_CHECK {
        }
    }
    protocol TCP
}
virtual_server fwmark 67 {
    ip_family inet6
    real_server 2001:db8::2 {
        TCP_CHECK {
        }
    }
    protocol TCP
}`);
    const [v4, v6] = result.config.virtual_servers ?? [];
    expect(v4).toMatchObject({ name: "fwmark-66", fwmark: 66, persistence: { timeout: "10m" } });
    expect(v4?.real_servers).toEqual([{ address: "10.0.0.2", port: 80, weight: 1 }]);
    expect(v6).toMatchObject({ name: "fwmark-67", fwmark: 67, family: "ipv6", check: { type: "none" } });
    expect(v6?.real_servers).toEqual([{ address: "2001:db8::2", weight: 1 }]);
    expect(warnings(result)).toEqual([
      "k.conf:12:5: real_server: real server 2001:db8::2 has no port to check (fwmark service); its check is dropped",
    ]);
    const typed = validated(result).virtualServers;
    expect(typed.map((v) => [v.fwmark, v.family])).toEqual([
      [66, 4],
      [67, 6],
    ]);
  });

  it("skips what vipd cannot express: port-less services, ranges outside a group, and duplicates", () => {
    const result = convert(`virtual_server 10.0.0.1 {
    persistence_timeout 60
    protocol TCP
}
virtual_server 10.0.0.1-10 80 {
    protocol TCP
}
virtual_server 10.0.0.1 80 {
    real_server 10.0.0.2 80 {
    }
    protocol TCP
}
virtual_server 10.0.0.1 80 {
    protocol TCP
}`);
    expect(result.config.virtual_servers?.map((v) => v.name)).toEqual(["10.0.0.1:80"]);
    expect(warnings(result)).toEqual([
      "k.conf:1:1: virtual_server: has no port (a port-less persistent service); vipd needs a port or a fwmark: skipped",
      "k.conf:5:1: virtual_server: '10.0.0.1-10' is not an IP address (keepalived takes address ranges only in a virtual_server_group); skipped",
      "k.conf:13:1: virtual_server: the same service as '10.0.0.1:80'; skipped",
    ]);
  });

  it("warns about alpha, omega, quorum scripts, unknown schedulers and unknown keywords", () => {
    const result = convert(`virtual_server 10.0.0.1 80 {
    lb_algo loadbalance
    alpha
    omega
    quorum_up /bin/up
    quorum_down /bin/down
    net_mask 255.255.255.0
    real_server 10.0.0.2 80 {
        notify_up /bin/up
        snmp_name web1
    }
    protocol TCP
}`);
    expect(result.config.virtual_servers?.[0]?.scheduler).toBe("wlc");
    expect(result.warnings.map((w) => `${w.line}:${w.col} ${w.keyword}`)).toEqual([
      "2:5 lb_algo",
      "3:5 alpha",
      "4:5 omega",
      "5:5 quorum_up",
      "6:5 quorum_down",
      "7:5 net_mask",
      "10:9 snmp_name",
    ]);
    expect(result.warnings[3]?.message).toMatch(/events quorum\.gained, quorum\.lost/);
    expect(result.config.virtual_servers?.[0]?.real_servers[0]?.notify).toEqual({ up: ["/bin/up"] });
  });

  it("names services by address:port, protocol when not tcp, and keeps names unique", () => {
    const result = convert(`virtual_server 2001:db8::1 80 {
    protocol TCP
}
virtual_server 2001:db8::1 80 {
    protocol SCTP
}`);
    expect(result.config.virtual_servers?.map((v) => v.name)).toEqual([
      "[2001:db8::1]:80",
      "[2001:db8::1]:80/sctp",
    ]);
  });
});

describe("top level", () => {
  it("warns about blocks vipd does not translate", () => {
    const result = convert(`static_ipaddress {
    10.9.9.9/24 dev eth0
}
garp_group {
    garp_interval 0.1
}
${instance(VIP)}`);
    expect(result.warnings.map((w) => `${w.line}:${w.col} ${w.keyword}`)).toEqual([
      "1:1 static_ipaddress",
      "4:1 garp_group",
    ]);
  });

  it("lists the parser's warnings (conditionals) with the conversion's, in source order", () => {
    const result = convert(`global_defs {\n    @lb1 router_id lb1\n    vrrp_strict\n}\n${instance(VIP)}`);
    expect(result.warnings.map((w) => `${w.line}:${w.col} ${w.keyword}`)).toEqual([
      "2:5 @lb1",
      "3:5 vrrp_strict",
    ]);
    expect(
      convert(`global_defs {\n    @lb1 router_id lb1\n}\n${instance(VIP)}`, { configId: "lb1" }).config.node,
    ).toBe("lb1");
  });
});

describe("parseSecondsUs", () => {
  it("reads keepalived timers to the microsecond", () => {
    expect(parseSecondsUs("3")).toBe(3_000_000);
    expect(parseSecondsUs("0.5")).toBe(500_000);
    expect(parseSecondsUs("2.71828")).toBe(2_718_280);
    expect(parseSecondsUs("0.0000019")).toBe(1);
    expect(parseSecondsUs("-1")).toBeUndefined();
    expect(parseSecondsUs("1s")).toBeUndefined();
    expect(parseSecondsUs(".5")).toBeUndefined();
  });
});

describe("shellWords", () => {
  it("splits at blanks and honours quotes and backslashes like a POSIX shell, expanding nothing", () => {
    expect(shellWords("/bin/check  -p 80")).toEqual(["/bin/check", "-p", "80"]);
    expect(shellWords(`a 'b c' "d \\"e\\" $HOME" f\\ g ''`)).toEqual(["a", "b c", 'd "e" $HOME', "f g", ""]);
    expect(shellWords(`x'y'"z"`)).toEqual(["xyz"]);
    expect(shellWords("'open")).toBeUndefined();
    expect(shellWords('"open')).toBeUndefined();
    expect(shellWords("   ")).toEqual([]);
  });
});

describe("keywords keepalived does not know either", () => {
  it("are told apart from keepalived features vipd lacks, at their position", () => {
    const r = convert(`vrrp_sync_group G {
    group {
        VI_1
    }
    sgroup_tracking_weight
}
${instance(`${VIP}
    lvs_sync_daemon_inteface eth1
    use_vmac
<<<<<<< HEAD
    priority 120
=======
    priority 110
>>>>>>> other`)}`);
    expect(warnings(r)).toEqual([
      'k.conf:5:5: sgroup_tracking_weight: keepalived does not know this keyword either (misspelt? another version\'s?): it skips it ("Unknown keyword"), and so does this config',
      'k.conf:13:5: lvs_sync_daemon_inteface: keepalived does not know this keyword either (misspelt? another version\'s?): it skips it ("Unknown keyword"), and so does this config',
      "k.conf:14:5: use_vmac: not translated (vipd has no equivalent)",
      expect.stringMatching(/^k\.conf:15:1: <<<<<<<: a merge conflict marker/),
      expect.stringMatching(/^k\.conf:17:1: =======: a merge conflict marker/),
      expect.stringMatching(/^k\.conf:19:1: >>>>>>>: a merge conflict marker/),
    ]);
  });

  it("a misspelt real server keyword (weigth) is one too", () => {
    const r = convert(
      "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.0.2 80 {\n        weigth 3\n    }\n}\n",
    );
    expect(warnings(r)).toEqual([
      'k.conf:4:9: weigth: keepalived does not know this keyword either (misspelt? another version\'s?): it skips it ("Unknown keyword"), and so does this config',
    ]);
    expect(r.config.virtual_servers?.[0]?.real_servers[0]?.weight).toBe(1);
  });
});

describe("virtual_server: what keepalived 2.2.7 actually runs (checked with keepalived -t)", () => {
  it("lb_algo and lb_kind are compared exactly: RR is rejected (wlc) and dr is unknown (NAT)", () => {
    const r = convert(`virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_algo RR
    lb_kind dr
    real_server 10.0.0.2 8080 {
        weight 1
    }
}`);
    const vs = r.config.virtual_servers?.[0];
    expect(vs).toMatchObject({ scheduler: "wlc", forwarding: "nat" });
    // NAT keeps the real server's own port (DR would have forced the service's).
    expect(vs?.real_servers[0]?.port).toBe(8080);
    expect(warnings(r)).toEqual([
      "k.conf:3:5: lb_algo: keepalived compares scheduler names exactly and rejects 'RR', so it runs wlc; so does this config (write rr to mean it)",
      "k.conf:4:5: lb_kind: keepalived compares the forwarding method exactly and does not know 'dr', so it runs NAT; so does this config (write DR to mean it)",
    ]);
    validated(r);
  });

  it("without a protocol line the service is UDP, as keepalived 2.x runs it, with a warning", () => {
    const r = convert("virtual_server 10.0.0.1 53 {\n    real_server 10.0.0.2 53 {\n    }\n}\n");
    expect(r.config.virtual_servers?.[0]).toMatchObject({ name: "10.0.0.1:53/udp", protocol: "udp" });
    expect(warnings(r)).toEqual([
      "k.conf:1:1: virtual_server: has no protocol: keepalived 2.x then runs it as UDP, and so does this config (add `protocol TCP` to the keepalived file if TCP was meant)",
    ]);
  });

  it("inhibit_on_failure on every real server becomes on_failure: inhibit; on some only, a warning at each", () => {
    const all = convert(`virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 10.0.0.2 80 {
        inhibit_on_failure
    }
    real_server 10.0.0.3 80 {
        inhibit_on_failure
    }
}`);
    expect(all.config.virtual_servers?.[0]?.on_failure).toBe("inhibit");
    expect(all.warnings).toEqual([]);
    expect(validated(all).virtualServers[0]?.onFailure).toBe("inhibit");
    const some = convert(`virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 10.0.0.2 80 {
        inhibit_on_failure
    }
    real_server 10.0.0.3 80 {
    }
}`);
    expect(some.config.virtual_servers?.[0]?.on_failure).toBeUndefined();
    expect(warnings(some)).toEqual([
      "k.conf:4:9: inhibit_on_failure: vipd sets on_failure per virtual server and this service's real servers differ; it keeps remove for all of them, so this server's setting is ignored",
    ]);
  });
});

describe("nb_get_retry, which keepalived 2.2.7 knows only in HTTP_GET and SSL_GET", () => {
  const service = (checker: string, extra = "") =>
    convert(
      `virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.0.2 80 {\n        ${checker} {\n            nb_get_retry 4\n${extra}        }\n    }\n}\n`,
    );

  it("in HTTP_GET it is the retry count", () => {
    const r = service("HTTP_GET", "            url {\n                path /\n            }\n");
    expect(r.config.virtual_servers?.[0]?.check).toMatchObject({ type: "http", fall: 5 });
    expect(r.warnings).toEqual([]);
  });

  it("in TCP_CHECK keepalived skips it: the retry count stays 1 (fall 2), with a warning at it", () => {
    const r = service("TCP_CHECK");
    expect(r.config.virtual_servers?.[0]?.check).toMatchObject({ type: "tcp", fall: 2 });
    expect(warnings(r)).toEqual([
      'k.conf:5:13: nb_get_retry: keepalived accepts nb_get_retry only inside HTTP_GET and SSL_GET; here it skips it ("Unknown keyword") and the retry count stays as it was, and so does this config',
    ]);
  });
});

describe("what keepalived 2.2.7 refuses that migrate used to accept", () => {
  it("an HTTP_GET without a url block is ignored (keepalived: 'has no urls specified - ignoring')", () => {
    const r = convert(
      "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.0.2 80 {\n        HTTP_GET {\n            connect_timeout 3\n        }\n    }\n}\n",
    );
    expect(r.config.virtual_servers?.[0]?.check).toEqual({ type: "none" });
    expect(warnings(r)).toEqual([
      "k.conf:3:5: real_server: real server 10.0.0.2 keeps no check (always up) until one is configured",
      "k.conf:4:9: HTTP_GET: has no url block: keepalived ignores this checker, and so does this config (add a url { path / } block to check)",
    ]);
  });

  it("a block keyword with its value on the line is warned at the value, and the value kept as the one item", () => {
    const r = convert(`vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    unicast_peer 10.0.0.2
    track_interface eth1 weight -10
${VIP}
}
virtual_server 10.0.0.100 80 {
    protocol TCP
    real_server 10.0.0.2 80 {
        TCP_CHECK connect_port 81
    }
}`);
    expect(r.warnings.map((w) => `${w.line}:${w.col} ${w.keyword}`)).toEqual([
      "4:18 unicast_peer",
      "5:21 track_interface",
      "13:19 TCP_CHECK",
    ]);
    expect(r.warnings[0]?.message).toMatch(
      /^keepalived expects a '\{' block here: it reports "Block unicast_peer has extra parameters"/,
    );
    const i = r.config.vrrp?.instances[0];
    expect(i?.unicast_peers).toEqual(["10.0.0.2"]);
    expect(i?.track_interfaces).toEqual([{ name: "eth1", weight: -10 }]);
    expect(r.config.virtual_servers?.[0]?.check).toMatchObject({ type: "tcp", connect_port: 81 });
  });
});

describe("virtual_server_group", () => {
  it("expands into one virtual server per address (ranges and fwmarks too), sharing real servers and checks", () => {
    const r = convert(`virtual_server_group WEB {
    10.0.0.1 80
    10.0.0.8-10 80
    fwmark 7
}
virtual_server group WEB {
    protocol TCP
    lb_algo rr
    real_server 10.0.1.1 80 {
        TCP_CHECK {
            connect_timeout 2
        }
    }
    frob
}`);
    const services = r.config.virtual_servers ?? [];
    expect(services.map((v) => v.name)).toEqual([
      "10.0.0.1:80",
      "10.0.0.8:80",
      "10.0.0.9:80",
      "10.0.0.10:80",
      "fwmark-7",
    ]);
    expect(new Set(services.map((v) => JSON.stringify([v.scheduler, v.real_servers, v.check]))).size).toBe(1);
    // Said once, although the block was read once per address.
    expect(r.warnings.filter((w) => w.keyword === "frob")).toHaveLength(1);
    expect(validated(r).virtualServers).toHaveLength(5);
    // An IPv6 range counts in hex over the last group.
    const v6 = convert(
      "virtual_server_group G6 {\n    2001:db8::e-10 443\n}\nvirtual_server group G6 {\n    protocol TCP\n    real_server 2001:db8:1::1 443 {\n    }\n}\n",
    );
    expect(v6.config.virtual_servers?.map((v) => v.name)).toEqual([
      "[2001:db8::e]:443",
      "[2001:db8::f]:443",
      "[2001:db8::10]:443",
    ]);
  });

  it("warns about an unknown group, bad entries and oversized ranges at their position", () => {
    const r = convert(`virtual_server_group G {
    10.0.0.1
    10.0.0.5-2 80
    2001:db8::1-200 80
    bogus-3 80
}
virtual_server group H {
    protocol TCP
}
virtual_server group G {
    protocol TCP
}`);
    expect(warnings(r)).toEqual([
      "k.conf:2:5: 10.0.0.1: needs a port (ADDRESS PORT); dropped",
      "k.conf:3:5: 10.0.0.5-2: range '10.0.0.5-2' ends before it starts or beyond 255; dropped",
      "k.conf:4:5: 2001:db8::1-200: range '2001:db8::1-200' has 512 addresses (more than 256); dropped",
      "k.conf:5:5: bogus-3: 'bogus-3' is neither an address nor a range (ADDRESS-LAST); dropped",
      "k.conf:7:1: virtual_server: no virtual_server_group 'H'; skipped",
      "k.conf:10:1: virtual_server: virtual_server_group 'G' has no address; skipped",
    ]);
  });
});

describe("native_ipv6", () => {
  it("is silent on an IPv6 instance and warned on an IPv4 one", () => {
    const v6 = convert(instance("    native_ipv6\n    virtual_ipaddress {\n        2001:db8::100/64\n    }"));
    expect(v6.warnings).toEqual([]);
    expect(v6.config.vrrp?.instances[0]).toMatchObject({ version: 3 });
    const v4 = convert(instance(`    native_ipv6\n${VIP}`));
    expect(warnings(v4)).toEqual([
      "k.conf:4:5: native_ipv6: keepalived makes a native_ipv6 instance IPv6 and refuses its IPv4 addresses (or the keyword, after them); vipd goes by the addresses: this instance is IPv4",
    ]);
  });
});

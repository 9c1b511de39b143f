import { describe, expect, it } from "vitest";
import { formatIssue } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/parse.js";
import { ALERT_EVENTS } from "../../../src/config/types.js";

/** The formatted issues of an invalid config (fails the test when the config is valid). */
function errors(text: string): string[] {
  const result = parseConfig(text, "t.yaml", { hostname: "test-host" });
  if (result.ok) throw new Error("expected the config to be invalid");
  return result.errors.map(formatIssue);
}

function valid(text: string) {
  const result = parseConfig(text, "t.yaml", { hostname: "test-host" });
  if (!result.ok)
    throw new Error(`expected a valid config, got:\n${result.errors.map(formatIssue).join("\n")}`);
  return result.config;
}

/** A valid instance whose lines 1-6 are fixed; `extra` lines are appended at line 7 (6-space indent). */
function instance(extra = "", vrid = "51"): string {
  return `vrrp:
  instances:
    - name: web
      interface: eth0
      vrid: ${vrid}
      virtual_ips: [10.0.0.100/24]
${extra}`;
}

/** A valid DR virtual server (lines 1-5) followed by `rest` (4-space indent). */
function service(rest: string, forwarding = "dr"): string {
  return `virtual_servers:
  - name: web
    address: 10.0.0.100
    port: 80
    forwarding: ${forwarding}
${rest}`;
}

describe("YAML syntax", () => {
  it("reports the yaml package's errors with their positions, and nothing else", () => {
    expect(errors("node: a\nnode: b\nvrrp: {}\n")).toEqual(["t.yaml:2:1: YAML: Map keys must be unique"]);
    expect(errors("a:\n\tb: 1\n")).toEqual(["t.yaml:2:1: YAML: Tabs are not allowed as indentation"]);
    expect(errors("vrrp:\n  instances: [\n")[0]).toMatch(/^t\.yaml:3:1: YAML: Flow sequence/);
  });

  it("rejects several documents in one file", () => {
    expect(errors("---\nnode: a\n---\nnode: b\n")).toEqual([
      "t.yaml:3:1: expected one YAML document, found several",
    ]);
  });

  it("rejects an empty file, a root that is not a mapping, and a config with nothing to do", () => {
    expect(errors("")).toEqual(["t.yaml:1:1: the config is empty"]);
    expect(errors("# just a comment\n")).toEqual(["t.yaml:1:1: the config is empty"]);
    expect(errors("- a\n")).toEqual([
      "t.yaml:1:1: expected a mapping of settings (node, vrrp, virtual_servers, ...), got a list",
    ]);
    expect(errors("node: lb1\n")).toEqual([
      "t.yaml:1:1: nothing to do: the config has no vrrp.instances and no virtual_servers",
    ]);
  });
});

describe("keys", () => {
  it("reports an unknown key at the key, with a did-you-mean hint", () => {
    expect(errors(instance("      priorty: 150\n"))).toEqual([
      "t.yaml:7:7: unknown key 'priorty' (did you mean 'priority'?)",
    ]);
    expect(errors(`virtual_server:\n  - name: x\n`)).toEqual([
      "t.yaml:1:1: unknown key 'virtual_server' (did you mean 'virtual_servers'?)",
    ]);
  });

  it("gives no hint when nothing is close", () => {
    expect(errors(instance("      colour: red\n"))).toEqual(["t.yaml:7:7: unknown key 'colour'"]);
  });

  it("reports a missing required key at the mapping that lacks it", () => {
    expect(
      errors("vrrp:\n  instances:\n    - name: web\n      vrid: 1\n      virtual_ips: [10.0.0.1]\n"),
    ).toEqual(["t.yaml:3:7: missing required key 'interface'"]);
  });

  it("treats an empty value as absent (the default applies)", () => {
    expect(valid(instance("      preempt:\n")).vrrp.instances[0]?.preempt).toBe(true);
  });

  it("reports an empty required value at its key", () => {
    expect(
      errors(
        "vrrp:\n  instances:\n    - name: web\n      interface:\n      vrid: 1\n      virtual_ips: [10.0.0.1]\n",
      ),
    ).toEqual(["t.yaml:4:7: 'interface' needs a value"]);
  });

  it("ignores x- keys and supports anchors, aliases and merge keys", () => {
    const config = valid(`x-instance: &base
  interface: eth0
  priority: 120
  virtual_ips: [10.0.0.100/24]
vrrp:
  instances:
    - <<: *base
      name: web
      vrid: 51
    - <<: *base
      name: api
      vrid: 52
      priority: 90
      virtual_ips: [10.0.0.101/24]
`);
    expect(
      config.vrrp.instances.map((i) => [i.name, i.interface, i.priority, i.virtualIps[0]?.address]),
    ).toEqual([
      ["web", "eth0", 120, "10.0.0.100"],
      ["api", "eth0", 90, "10.0.0.101"],
    ]);
  });

  it("reports an unknown key that arrives through a merge key at its definition", () => {
    expect(
      errors(`x-base: &base
  interfcae: eth0
vrrp:
  instances:
    - <<: *base
      name: web
      interface: eth0
      vrid: 51
      virtual_ips: [10.0.0.100/24]
`),
    ).toEqual(["t.yaml:2:3: unknown key 'interfcae' (did you mean 'interface'?)"]);
  });

  it("rejects keys that are not strings", () => {
    expect(errors(instance("      1: x\n"))).toEqual(["t.yaml:7:7: keys must be strings, got number 1"]);
  });
});

describe("types", () => {
  it("reports a wrong type at the value", () => {
    expect(errors(instance("", '"51"'))).toEqual(["t.yaml:5:13: expected a VRID (1..255), got string '51'"]);
    expect(errors(instance("      preempt: yes\n"))).toEqual([
      "t.yaml:7:16: expected true or false, got string 'yes'",
    ]);
    expect(errors(instance("      priority: 1.5\n"))).toEqual([
      "t.yaml:7:17: expected a priority (1..255), got number 1.5",
    ]);
    expect(errors(instance("      garp: 5\n"))).toEqual(["t.yaml:7:13: expected a mapping, got number 5"]);
    expect(errors(instance("      unicast_peers: 10.0.0.2\n"))).toEqual([
      "t.yaml:7:22: expected a list of addresses, got string '10.0.0.2'",
    ]);
  });

  it("suggests quoting a number where a string is expected", () => {
    expect(errors(`node: 42\nvrrp:\n  instances: []\n`)[0]).toBe(
      't.yaml:1:7: expected a node name, got number 42 (quote it: "42")',
    );
  });
});

describe("VRRP ranges", () => {
  it("vrid must be 1..255", () => {
    expect(errors(instance("", "0"))).toEqual(["t.yaml:5:13: vrid 0 is out of range (1..255)"]);
    expect(errors(instance("", "256"))).toEqual(["t.yaml:5:13: vrid 256 is out of range (1..255)"]);
    expect(valid(instance("", "255")).vrrp.instances[0]?.vrid).toBe(255);
  });

  it("priority must be 1..255, and 255 (address owner) is allowed", () => {
    expect(errors(instance("      priority: 0\n"))).toEqual([
      "t.yaml:7:17: priority 0 is out of range (1..255)",
    ]);
    expect(errors(instance("      priority: 256\n"))).toEqual([
      "t.yaml:7:17: priority 256 is out of range (1..255)",
    ]);
    expect(valid(instance("      priority: 255\n")).vrrp.instances[0]?.priority).toBe(255);
  });

  it("version must be 2 or 3", () => {
    expect(errors(instance("      version: 4\n"))).toEqual([
      "t.yaml:7:16: expected VRRP version 2 or 3, got 4",
    ]);
  });

  it("v3 advert_interval: 10ms..40.95s in 10ms steps", () => {
    expect(errors(instance("      advert_interval: 15ms\n"))).toEqual([
      "t.yaml:7:24: advert_interval 15ms is not a multiple of 10ms (VRRPv3 counts centiseconds)",
    ]);
    expect(errors(instance("      advert_interval: 41s\n"))).toEqual([
      "t.yaml:7:24: advert_interval 41s is out of range for VRRPv3 (10ms..40.95s)",
    ]);
    expect(errors(instance("      advert_interval: 0s\n"))).toEqual([
      "t.yaml:7:24: advert_interval 0s is out of range for VRRPv3 (10ms..40.95s)",
    ]);
    expect(valid(instance("      advert_interval: 40.95s\n")).vrrp.instances[0]?.advertIntervalMs).toBe(
      40950,
    );
    expect(valid(instance("      advert_interval: 10ms\n")).vrrp.instances[0]?.advertIntervalMs).toBe(10);
  });

  it("v2 advert_interval: whole seconds 1..255", () => {
    expect(errors(instance("      version: 2\n      advert_interval: 1500ms\n"))).toEqual([
      "t.yaml:8:24: advert_interval 1.5s is not a whole number of seconds (VRRPv2)",
    ]);
    expect(errors(instance("      version: 2\n      advert_interval: 100ms\n"))).toEqual([
      "t.yaml:8:24: advert_interval 100ms is not a whole number of seconds (VRRPv2)",
    ]);
    expect(errors(instance("      version: 2\n      advert_interval: 256s\n"))).toEqual([
      "t.yaml:8:24: advert_interval 256s is out of range for VRRPv2 (1s..255s)",
    ]);
    expect(
      valid(instance("      version: 2\n      advert_interval: 3s\n")).vrrp.instances[0]?.advertIntervalMs,
    ).toBe(3000);
  });

  it("track_interfaces weight is -254..254; names are checked and not repeated", () => {
    expect(errors(instance("      track_interfaces: [{ name: eth1, weight: 255 }]\n"))).toEqual([
      "t.yaml:7:48: weight 255 is out of range (-254..254)",
    ]);
    expect(errors(instance("      track_interfaces: [eth1, eth1]\n"))).toEqual([
      "t.yaml:7:32: interface 'eth1' is tracked twice",
    ]);
    expect(errors(instance("      track_interfaces: [averyveryverylongname]\n"))).toEqual([
      "t.yaml:7:26: interface name 'averyveryverylongname' is longer than 15 bytes",
    ]);
  });

  it("garp.repeat is 0..100", () => {
    expect(errors(instance("      garp: { repeat: 101 }\n"))).toEqual([
      "t.yaml:7:23: repeat 101 is out of range (0..100)",
    ]);
  });
});

describe("addresses", () => {
  it("rejects bad CIDRs at the list item", () => {
    expect(errors(instance("", "51").replace("[10.0.0.100/24]", "[10.0.0.1/33]"))).toEqual([
      "t.yaml:6:21: '10.0.0.1/33' has prefix length 33; IPv4 allows 1..32",
    ]);
    expect(errors(instance().replace("[10.0.0.100/24]", "[10.0.0.300/24]"))).toEqual([
      "t.yaml:6:21: '10.0.0.300/24' is not an IP address with a prefix length",
    ]);
    expect(errors(instance().replace("[10.0.0.100/24]", "[10.0.0.1/x]"))).toEqual([
      "t.yaml:6:21: '10.0.0.1/x' has an invalid prefix length 'x'",
    ]);
    expect(errors(instance().replace("[10.0.0.100/24]", "[224.0.0.18]"))).toEqual([
      "t.yaml:6:21: virtual IP 224.0.0.18 is a multicast address",
    ]);
    expect(errors(instance().replace("[10.0.0.100/24]", "[]"))).toEqual([
      "t.yaml:6:20: virtual_ips needs at least one address",
    ]);
  });

  it("gives a bare address /32 or /128 and canonicalises IPv6", () => {
    const v4 = valid(instance().replace("[10.0.0.100/24]", "[10.0.0.100]"));
    expect(v4.vrrp.instances[0]?.virtualIps).toEqual([
      { address: "10.0.0.100", prefixLength: 32, family: 4 },
    ]);
    const v6 = valid(instance().replace("[10.0.0.100/24]", "[2001:DB8:0::100]"));
    expect(v6.vrrp.instances[0]?.virtualIps).toEqual([
      { address: "2001:db8::100", prefixLength: 128, family: 6 },
    ]);
    expect(v6.vrrp.instances[0]?.family).toBe(6);
  });

  it("requires one family per instance, for VIPs, peers and source address", () => {
    expect(errors(instance().replace("[10.0.0.100/24]", "[10.0.0.100/24, 2001:db8::1/64]"))).toEqual([
      "t.yaml:6:36: virtual IP 2001:db8::1 is IPv6 but this instance's first virtual IP is IPv4; use one family per instance",
    ]);
    expect(errors(instance("      unicast_peers: [10.0.0.2, 'fe80::2']\n"))).toEqual([
      "t.yaml:7:33: unicast peer fe80::2 is IPv6 but the instance's virtual IPs are IPv4",
    ]);
    expect(errors(instance("      source_address: 2001:db8::1\n"))).toEqual([
      "t.yaml:7:23: source_address 2001:db8::1 is IPv6 but the instance's virtual IPs are IPv4",
    ]);
    expect(errors(instance("      unicast_peers: [10.0.0.2, 10.0.0.2]\n"))).toEqual([
      "t.yaml:7:33: duplicate unicast peer 10.0.0.2",
    ]);
  });

  it("VRRPv2 is IPv4 only; checksum_mode is for v3 over IPv4 only", () => {
    const v6 = instance("      version: 2\n").replace("[10.0.0.100/24]", "[2001:db8::1/64]");
    expect(errors(v6)).toEqual(["t.yaml:7:16: VRRP version 2 supports IPv4 only; use version 3 for IPv6"]);
    const v6sum = instance("      checksum_mode: message\n").replace("[10.0.0.100/24]", "[2001:db8::1/64]");
    expect(errors(v6sum)).toEqual(["t.yaml:7:22: checksum_mode applies only to VRRPv3 over IPv4"]);
    expect(valid(instance("      checksum_mode: message\n")).vrrp.instances[0]?.checksumMode).toBe("message");
  });
});

describe("VRRP cross checks", () => {
  const two = (a: string, b: string) => `vrrp:
  instances:
    - { name: ${a} }
    - { name: ${b} }
`;

  it("rejects duplicate instance names at the second name", () => {
    const text = two(
      "web, interface: eth0, vrid: 1, virtual_ips: [10.0.0.1]",
      "web, interface: eth0, vrid: 2, virtual_ips: [10.0.0.2]",
    );
    expect(errors(text)).toEqual(["t.yaml:4:15: duplicate instance name 'web' (first defined at line 3)"]);
  });

  it("rejects a VRID used twice on one interface in one family, at the second vrid", () => {
    const text = two(
      "a, interface: eth0, vrid: 7, virtual_ips: [10.0.0.1]",
      "b, interface: eth0, vrid: 7, virtual_ips: [10.0.0.2]",
    );
    expect(errors(text)).toEqual([
      "t.yaml:4:41: VRID 7 is already used on eth0 (IPv4) by instance 'a' (line 3)",
    ]);
  });

  it("allows a VRID again in the other family or on another interface", () => {
    const families = two(
      "a, interface: eth0, vrid: 7, virtual_ips: [10.0.0.1]",
      "b, interface: eth0, vrid: 7, virtual_ips: ['2001:db8::1']",
    );
    expect(valid(families).vrrp.instances).toHaveLength(2);
    const interfaces = two(
      "a, interface: eth0, vrid: 7, virtual_ips: [10.0.0.1]",
      "b, interface: eth1, vrid: 7, virtual_ips: [10.0.1.1]",
    );
    expect(valid(interfaces).vrrp.instances).toHaveLength(2);
  });

  it("rejects a virtual IP held by two instances", () => {
    const text = two(
      "a, interface: eth0, vrid: 1, virtual_ips: [10.0.0.1]",
      "b, interface: eth0, vrid: 2, virtual_ips: [10.0.0.1/24]",
    );
    expect(errors(text)).toEqual(["t.yaml:4:58: virtual IP 10.0.0.1 is also in instance 'a'"]);
  });

  it("rejects a sync group naming an unknown instance, with a hint", () => {
    expect(errors(`${instance()}  sync_groups:\n    - { name: g1, instances: [wbe] }\n`)).toEqual([
      "t.yaml:8:31: unknown instance 'wbe' (did you mean 'web'?)",
    ]);
  });

  it("rejects an instance in two sync groups and empty groups", () => {
    const text = `${instance()}  sync_groups:\n    - { name: g1, instances: [web] }\n    - { name: g2, instances: [web] }\n    - { name: g3, instances: [] }\n`;
    expect(errors(text)).toEqual([
      "t.yaml:9:31: instance 'web' is already in sync group 'g1'",
      "t.yaml:10:30: a sync group needs at least one instance",
    ]);
  });
});

describe("virtual servers", () => {
  it("ports are 1..65535", () => {
    expect(errors("virtual_servers:\n  - { name: w, address: 10.0.0.1, port: 0 }\n")).toEqual([
      "t.yaml:2:41: port 0 is out of range (1..65535)",
    ]);
    expect(errors("virtual_servers:\n  - { name: w, address: 10.0.0.1, port: 65536 }\n")).toEqual([
      "t.yaml:2:41: port 65536 is out of range (1..65535)",
    ]);
  });

  it("needs an identity: address+port or fwmark, not both, and no port with fwmark", () => {
    expect(errors("virtual_servers:\n  - { name: w }\n")).toEqual([
      "t.yaml:2:5: a virtual server needs 'address' and 'port', or 'fwmark'",
    ]);
    expect(errors("virtual_servers:\n  - { name: w, address: 10.0.0.1 }\n")).toEqual([
      "t.yaml:2:5: missing required key 'port'",
    ]);
    expect(errors("virtual_servers:\n  - { name: w, fwmark: 66, port: 80 }\n")).toEqual([
      "t.yaml:2:28: a fwmark service has no port ('port' belongs to its real servers)",
    ]);
    expect(errors("virtual_servers:\n  - { name: w, fwmark: 66, address: 10.0.0.1 }\n")).toEqual([
      "t.yaml:2:28: use either 'address' and 'port' or 'fwmark', not both",
    ]);
    expect(errors("virtual_servers:\n  - { name: w, fwmark: 0 }\n")).toEqual([
      "t.yaml:2:24: fwmark 0 is out of range (1..4294967295)",
    ]);
  });

  it("rejects an unknown scheduler with a hint", () => {
    expect(
      errors("virtual_servers:\n  - { name: w, address: 10.0.0.1, port: 80, scheduler: wrrr }\n"),
    ).toEqual([
      "t.yaml:2:56: unknown scheduler 'wrrr' (did you mean 'wrr'?); expected one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh",
    ]);
  });

  it("rejects a real server port that differs from the service port under dr and tun, at the port", () => {
    expect(errors(service("    real_servers:\n      - { address: 10.0.0.21, port: 8080 }\n"))).toEqual([
      "t.yaml:7:37: real server port 8080 differs from the virtual server's port 80; dr forwarding cannot map ports",
    ]);
    expect(
      errors(service("    real_servers:\n      - { address: 10.0.0.21, port: 8080 }\n", "tun"))[0],
    ).toContain("tun forwarding cannot map ports");
    const nat = valid(service("    real_servers:\n      - { address: 10.0.0.21, port: 8080 }\n", "nat"));
    expect(nat.virtualServers[0]?.realServers[0]?.port).toBe(8080);
  });

  it("rejects mixed families except with tun", () => {
    expect(errors(service("    real_servers:\n      - { address: '2001:db8::21' }\n"))).toEqual([
      "t.yaml:7:20: real server 2001:db8::21 is IPv6 but the virtual server is IPv4 (mixed families need forwarding: tun)",
    ]);
    const tun = valid(service("    real_servers:\n      - { address: '2001:db8::21' }\n", "tun"));
    expect(tun.virtualServers[0]?.realServers[0]?.family).toBe(6);
    expect(tun.virtualServers[0]?.tunnel).toEqual({ type: "ipip", checksum: "none" });
  });

  it("rejects duplicate virtual servers (same identity) and duplicate names", () => {
    const text = `virtual_servers:
  - { name: a, address: 10.0.0.1, port: 80 }
  - { name: b, address: 10.0.0.1, port: 80 }
  - { name: a, address: 10.0.0.1, port: 81 }
  - { name: u, address: 10.0.0.1, port: 80, protocol: udp }
`;
    expect(errors(text)).toEqual([
      "t.yaml:3:25: virtual server tcp 10.0.0.1:80 is already defined by 'a'",
      "t.yaml:4:13: duplicate virtual server name 'a' (first defined at line 2)",
    ]);
  });

  it("rejects duplicate real servers in one service", () => {
    const text = service(
      "    real_servers:\n      - { address: 10.0.0.21 }\n      - { address: 10.0.0.21, port: 80 }\n",
    );
    expect(errors(text)).toEqual(["t.yaml:8:20: duplicate real server 10.0.0.21:80 (first at line 7)"]);
  });

  it("parses sorry servers, IPv6 in brackets", () => {
    expect(errors(service("    sorry_server: 10.0.0.50\n"))).toEqual([
      "t.yaml:6:19: sorry_server '10.0.0.50' has no port (expected address:port)",
    ]);
    expect(errors(service("    sorry_server: 10.0.0.50:8080\n"))).toEqual([
      "t.yaml:6:19: sorry_server port 8080 differs from the service port 80; dr forwarding cannot map ports",
    ]);
    expect(errors(service("    sorry_server: '2001:db8::50:80'\n"))).toEqual([
      "t.yaml:6:19: sorry_server '2001:db8::50:80': write an IPv6 address with a port as [address]:port",
    ]);
    const v6 = valid(`virtual_servers:
  - name: w
    address: 2001:db8::100
    port: 80
    sorry_server: "[2001:db8::50]:80"
`);
    expect(v6.virtualServers[0]?.sorryServer).toEqual({ address: "2001:db8::50", port: 80, family: 6 });
  });

  it("checks thresholds, weights, one_packet, tunnel and scheduler flags", () => {
    expect(errors(service("    real_servers:\n      - { address: 10.0.0.21, weight: 70000 }\n"))).toEqual([
      "t.yaml:7:39: weight 70000 is out of range (0..65535)",
    ]);
    expect(
      errors(
        service(
          "    real_servers:\n      - { address: 10.0.0.21, upper_threshold: 10, lower_threshold: 20 }\n",
        ),
      ),
    ).toEqual(["t.yaml:7:69: lower_threshold 20 is above upper_threshold 10"]);
    expect(errors(service("    one_packet: true\n"))).toEqual([
      "t.yaml:6:17: one_packet needs protocol udp (this service is tcp)",
    ]);
    expect(errors(service("    tunnel: { type: ipip }\n"))).toEqual([
      "t.yaml:6:5: 'tunnel' applies only to forwarding: tun (this service uses dr)",
    ]);
    expect(errors(service("    tunnel: { type: gue }\n", "tun"))).toEqual([
      "t.yaml:6:13: a gue tunnel needs a 'port'",
    ]);
    expect(errors(service("    scheduler_flags: [fallback]\n"))).toEqual([
      "t.yaml:6:5: scheduler_flags apply only to the sh and mh schedulers (this service uses wlc)",
    ]);
    const sh = valid(service("    scheduler: mh\n    scheduler_flags: [mh-port, fallback]\n"));
    expect(sh.virtualServers[0]?.schedulerFlags).toEqual({ fallback: true, port: true });
  });

  it("reads persistence netmasks as prefix lengths or dotted masks", () => {
    const ok = valid(service("    persistence: { timeout: 10m, netmask: 255.255.255.0 }\n"));
    expect(ok.virtualServers[0]?.persistence).toEqual({ timeoutMs: 600_000, netmaskPrefix: 24 });
    expect(errors(service("    persistence: { netmask: 255.0.255.0 }\n"))).toEqual([
      "t.yaml:6:29: netmask '255.0.255.0' is not a contiguous IPv4 mask",
    ]);
    expect(errors(service("    persistence: { timeout: 1500ms }\n"))).toEqual([
      "t.yaml:6:29: persistence timeout must be a whole number of seconds (IPVS stores seconds)",
    ]);
  });

  it("fwmark services take their family from `family` or the real servers, and need a port to check", () => {
    const six = valid(`virtual_servers:
  - name: m
    fwmark: 66
    forwarding: dr
    real_servers: [{ address: "2001:db8::21", port: 80 }]
`);
    expect(six.virtualServers[0]?.family).toBe(6);
    expect(six.virtualServers[0]?.fwmark).toBe(66);
    expect(
      errors(`virtual_servers:
  - name: m
    fwmark: 66
    check: { type: tcp }
    real_servers:
      - { address: 10.0.0.21 }
`),
    ).toEqual([
      "t.yaml:6:9: this real server has no port to check: set its 'port' or the check's 'connect_port'",
    ]);
  });
});

describe("checks", () => {
  it("reports status codes, paths and timeouts longer than the interval", () => {
    expect(errors(service("    check: { type: http, status: [200-299, 700] }\n"))).toEqual([
      "t.yaml:6:44: HTTP status 700 is out of range (100..599)",
    ]);
    expect(errors(service("    check: { type: http, path: healthz }\n"))).toEqual([
      "t.yaml:6:32: path 'healthz' must start with '/'",
    ]);
    expect(errors(service("    check: { type: tcp, timeout: 3s }\n"))).toEqual([
      "t.yaml:6:34: timeout 3s is longer than interval 2s",
    ]);
    expect(errors(service("    check: { type: tcp, interval: 500ms }\n"))).toEqual([
      "t.yaml:6:35: timeout 1s is longer than interval 500ms",
    ]);
  });

  it("needs a type and rejects keys that do not apply to it, at the key", () => {
    expect(errors(service("    check: { path: /x }\n"))).toEqual([
      "t.yaml:6:12: a check needs a 'type' (http, https, tcp, exec, agent, dns or none)",
    ]);
    expect(errors(service("    check: { type: tcp, path: /x }\n"))).toEqual([
      "t.yaml:6:25: 'path' does not apply to a 'tcp' check",
    ]);
    expect(errors(service("    check: { type: http, tls_verify: true }\n"))).toEqual([
      "t.yaml:6:26: 'tls_verify' applies only to https checks",
    ]);
    expect(errors(service("    check: { type: htp }\n"))).toEqual([
      "t.yaml:6:20: unknown check type 'htp' (did you mean 'http'?); expected one of: http, https, tcp, exec, agent, dns, none",
    ]);
  });

  it("reports an inapplicable key in a real server's override at that key", () => {
    const text = service(
      "    check: { type: tcp }\n    real_servers:\n      - { address: 10.0.0.21, check: { path: /x } }\n",
    );
    expect(errors(text)).toEqual(["t.yaml:8:40: 'path' does not apply to a 'tcp' check"]);
  });
});

describe("durations", () => {
  it("rejects durations without a unit or in prose", () => {
    expect(errors(instance("      preempt_delay: 5 minutes\n"))).toEqual([
      "t.yaml:7:22: invalid duration '5 minutes' (expected a number and a unit: ms, s, m or h, e.g. '100ms', '1.5s', '5m', '1m30s')",
    ]);
    expect(errors(instance("      preempt_delay: 5\n"))).toEqual([
      "t.yaml:7:22: expected a duration such as '1s' or '100ms', got number 5 (add a unit, e.g. '5s' or '5ms')",
    ]);
    expect(errors(instance("      preempt_delay: 2h\n"))).toEqual([
      "t.yaml:7:22: preempt_delay 2h is out of range (0s..1h)",
    ]);
  });
});

describe("top-level sections", () => {
  it("rejects a bad webhook URL, unknown events and relative secret files", () => {
    const text = `${instance()}alerts:
  webhooks:
    - url: not a url
    - url: ftp://example.com/x
    - url: https://example.com/x
      events: [vrrp.stat]
      secret_file: webhook.secret
`;
    expect(errors(text)).toEqual([
      "t.yaml:9:12: 'not a url' is not a valid URL",
      "t.yaml:10:12: webhook URL 'ftp://example.com/x' must use http or https",
      `t.yaml:12:16: unknown event 'vrrp.stat' (did you mean 'vrrp.state'?); expected one of: ${ALERT_EVENTS.join(", ")}`,
      "t.yaml:13:20: 'webhook.secret' must be an absolute path",
    ]);
  });

  it("checks log level, api socket, metrics listen address and the sync daemon", () => {
    const text = `log: { level: verbose }
api: { socket: vipd.sock }
metrics: { listen: 127.0.0.1 }
ipvs: { sync_daemon: { interface: eth1, instance: wbe } }
${instance()}`;
    expect(errors(text)).toEqual([
      "t.yaml:1:15: unknown log level 'verbose'; expected one of: fatal, error, warn, info, debug, trace, silent",
      "t.yaml:2:16: 'vipd.sock' must be an absolute path",
      "t.yaml:3:20: '127.0.0.1' has no port (expected address:port)",
      "t.yaml:4:51: unknown instance 'wbe' (did you mean 'web'?)",
    ]);
  });
});

describe("all at once", () => {
  it("reports every error in one pass, in file order", () => {
    const text = `node: lb1
vrrp:
  instances:
    - name: web
      interface: eth0
      vrid: 0
      priorty: 100
      advert_interval: 15ms
      virtual_ips: [10.0.0.1/40]
virtual_servers:
  - name: web
    address: 10.0.0.100
    port: 80
    scheduler: wrrr
    forwarding: dr
    real_servers:
      - { address: 10.0.0.21, port: 8080 }
`;
    expect(errors(text)).toEqual([
      "t.yaml:6:13: vrid 0 is out of range (1..255)",
      "t.yaml:7:7: unknown key 'priorty' (did you mean 'priority'?)",
      "t.yaml:8:24: advert_interval 15ms is not a multiple of 10ms (VRRPv3 counts centiseconds)",
      "t.yaml:9:21: '10.0.0.1/40' has prefix length 40; IPv4 allows 1..32",
      "t.yaml:14:16: unknown scheduler 'wrrr' (did you mean 'wrr'?); expected one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh",
      "t.yaml:17:37: real server port 8080 differs from the virtual server's port 80; dr forwarding cannot map ports",
    ]);
  });

  it("gives each issue a path into the config", () => {
    const result = parseConfig(instance("", "0"), "t.yaml");
    expect(result.ok).toBe(false);
    expect(result.errors.map((e) => [e.path, e.line, e.col])).toEqual([["vrrp.instances[0].vrid", 5, 13]]);
  });
});

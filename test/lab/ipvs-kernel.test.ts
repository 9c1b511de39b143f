/**
 * IPVS against a real kernel: the lab kernel (Debian's, under QEMU) boots once, and
 * test/lab/fixtures/ipvs/guest.ts runs every scenario inside it, each in network namespaces of
 * its own, printing one JSON result per scenario. `ipvsadm` (Debian's, over the same netlink
 * family) is the independent witness.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runInLabKernel } from "./harness/lab-kernel.js";

const results = new Map<string, Record<string, unknown>>();
let output = "";

beforeAll(async () => {
  const r = await runInLabKernel({
    script: [
      "set -e",
      "modprobe -a ip_vs veth bridge dummy",
      "node --import ./test/lab/fixtures/ts-loader.mjs test/lab/fixtures/ipvs/guest.ts",
    ].join("\n"),
    timeoutMs: 400_000,
  });
  output = r.output;
  for (const m of r.output.matchAll(/^@@IPVS-RESULT (\S+) (.*)$/gm)) {
    results.set(m[1] as string, JSON.parse(m[2] as string));
  }
  if (r.code !== 0) throw new Error(`the guest exited with ${r.code}:\n${r.output.slice(-4000)}`);
}, 420_000);

/** One scenario's result; a scenario that threw fails here with its stack. */
function scenario(name: string): Record<string, unknown> {
  const r = results.get(name);
  if (!r) throw new Error(`no result for ${name}; guest output:\n${output.slice(-4000)}`);
  if (typeof r.error === "string") throw new Error(`${name} failed in the guest:\n${r.error}`);
  return r;
}

/** ipvsadm's listing with trailing blanks trimmed. */
const listing = (text: unknown) =>
  String(text)
    .split("\n")
    .map((l) => l.trimEnd())
    .filter(Boolean);

describe("IPVS in the lab kernel", () => {
  it("resolves the generic netlink family IPVS and GET_INFO answers version 1.2.1", () => {
    expect(scenario("info")).toEqual({
      family: "IPVS",
      familyVersion: 1,
      version: "1.2.1",
      versionCode: 0x010201,
      connTableSize: 4096,
    });
  });

  it("applies a config covering every feature to an empty table: ipvsadm -Ln and -S -n show exactly it", () => {
    const r = scenario("features");
    expect(r.report).toEqual({ applied: 34, failed: [], invalid: [] });
    // Read back by vipd itself, the table matches the config: nothing to do, no drift.
    expect(r.again).toEqual({ applied: [], drift: [] });
    expect(listing(r.list)).toEqual([
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
      "TCP  10.10.0.1:80 rr",
      "  -> 10.20.0.1:8080               Masq    2      0          0",
      "  -> 10.20.0.2:8081               Masq    3      0          0",
      "TCP  10.10.0.2:80 wrr",
      "  -> 10.20.0.3:80                 Route   1      0          0",
      "  -> 10.20.0.4:80                 Route   0      0          0",
      "TCP  10.10.0.4:443 wlc persistent 600 mask 255.255.255.0",
      "  -> 10.20.0.6:443                Route   1      0          0",
      "  -> 10.20.0.7:443                Route   1      0          0",
      "TCP  10.10.0.6:80 lblcr",
      "  -> 10.20.0.9:80                 Tunnel  1      0          0",
      "TCP  10.10.0.7:80 dh",
      "  -> 10.20.0.10:80                Tunnel  1      0          0",
      "TCP  10.10.0.8:80 sh (sh-fallback,sh-port)",
      "  -> 10.20.0.11:80                Tunnel  1      0          0",
      "TCP  10.10.0.9:80 mh (mh-fallback,mh-port)",
      "  -> 10.20.0.14:80                Route   1      0          0",
      "  -> 10.20.0.15:80                Route   1      0          0",
      "TCP  10.10.0.10:80 rr",
      "  -> 10.20.0.16:80                Tunnel  1      0          0",
      "  -> [2001:db8:20::4]:80          Tunnel  1      0          0",
      "UDP  10.10.0.3:53 lc ops",
      "  -> 10.20.0.5:5353               Masq    1      0          0",
      "SCTP 10.10.0.5:3868 lblc",
      "  -> 10.20.0.8:3869               Masq    1      0          0",
      "TCP  [2001:db8:10::1]:80 sed",
      "  -> [2001:db8:20::1]:8080        Masq    4      0          0",
      "TCP  [2001:db8:10::2]:443 nq persistent 120 mask 64",
      "  -> [2001:db8:20::2]:443         Route   1      0          0",
      "FWM  66 fo persistent 300",
      "  -> 10.20.0.12:0                 Route   1      0          0",
      "  -> 10.20.0.13:0                 Route   2      0          0",
      "FWM  67 IPv6 ovf",
      "  -> [2001:db8:20::3]:80          Masq    1      0          0",
    ]);
    expect(r.save).toEqual([
      "-A --sctp-service 10.10.0.5:3868 -s lblc",
      "-A -f 66 -s fo -p 300",
      "-A -f 67 -6 -s ovf",
      "-A -t 10.10.0.10:80 -s rr",
      "-A -t 10.10.0.1:80 -s rr",
      "-A -t 10.10.0.2:80 -s wrr",
      "-A -t 10.10.0.4:443 -s wlc -p 600 -M 255.255.255.0",
      "-A -t 10.10.0.6:80 -s lblcr",
      "-A -t 10.10.0.7:80 -s dh",
      "-A -t 10.10.0.8:80 -s sh -b sh-fallback,sh-port",
      "-A -t 10.10.0.9:80 -s mh -b mh-fallback,mh-port",
      "-A -t [2001:db8:10::1]:80 -s sed",
      "-A -t [2001:db8:10::2]:443 -s nq -p 120 -M 64",
      "-A -u 10.10.0.3:53 -s lc -o",
      "-a --sctp-service 10.10.0.5:3868 -r 10.20.0.8:3869 -m -w 1",
      "-a -f 66 -r 10.20.0.12:0 -g -w 1",
      "-a -f 66 -r 10.20.0.13:0 -g -w 2",
      "-a -f 67 -6 -r [2001:db8:20::3]:80 -m -w 1",
      "-a -t 10.10.0.10:80 -r 10.20.0.16:80 -i -w 1 --tun-type gue --tun-port 5555 --tun-remcsum",
      "-a -t 10.10.0.10:80 -r [2001:db8:20::4]:80 -i -w 1 --tun-type gue --tun-port 5555 --tun-remcsum",
      "-a -t 10.10.0.1:80 -r 10.20.0.1:8080 -m -w 2",
      "-a -t 10.10.0.1:80 -r 10.20.0.2:8081 -m -w 3",
      "-a -t 10.10.0.2:80 -r 10.20.0.3:80 -g -w 1",
      "-a -t 10.10.0.2:80 -r 10.20.0.4:80 -g -w 0",
      "-a -t 10.10.0.4:443 -r 10.20.0.6:443 -g -w 1",
      "-a -t 10.10.0.4:443 -r 10.20.0.7:443 -g -w 1",
      "-a -t 10.10.0.6:80 -r 10.20.0.9:80 -i -w 1 --tun-type ipip",
      "-a -t 10.10.0.7:80 -r 10.20.0.10:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
      "-a -t 10.10.0.8:80 -r 10.20.0.11:80 -i -w 1 --tun-type gre --tun-csum",
      "-a -t 10.10.0.9:80 -r 10.20.0.14:80 -g -w 1",
      "-a -t 10.10.0.9:80 -r 10.20.0.15:80 -g -w 1",
      "-a -t [2001:db8:10::1]:80 -r [2001:db8:20::1]:8080 -m -w 4",
      "-a -t [2001:db8:10::2]:443 -r [2001:db8:20::2]:443 -g -w 1",
      "-a -u 10.10.0.3:53 -r 10.20.0.5:5353 -m -w 1",
    ]);
    // ipvsadm -S does not save thresholds; its --thresholds listing shows them.
    expect(listing(r.thresholds)).toEqual([
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn",
      "  -> RemoteAddress:Port",
      "TCP  10.10.0.1:80 rr",
      "  -> 10.20.0.1:8080               0          0          0          0",
      "  -> 10.20.0.2:8081               100        10         0          0",
      "TCP  10.10.0.2:80 wrr",
      "  -> 10.20.0.3:80                 0          0          0          0",
      "  -> 10.20.0.4:80                 0          0          0          0",
      "TCP  10.10.0.4:443 wlc persistent 600 mask 255.255.255.0",
      "  -> 10.20.0.6:443                0          0          0          0",
      "  -> 10.20.0.7:443                500        0          0          0",
      "TCP  10.10.0.6:80 lblcr",
      "  -> 10.20.0.9:80                 0          0          0          0",
      "TCP  10.10.0.7:80 dh",
      "  -> 10.20.0.10:80                0          0          0          0",
      "TCP  10.10.0.8:80 sh (sh-fallback,sh-port)",
      "  -> 10.20.0.11:80                0          0          0          0",
      "TCP  10.10.0.9:80 mh (mh-fallback,mh-port)",
      "  -> 10.20.0.14:80                0          0          0          0",
      "  -> 10.20.0.15:80                0          0          0          0",
      "TCP  10.10.0.10:80 rr",
      "  -> 10.20.0.16:80                0          0          0          0",
      "  -> [2001:db8:20::4]:80          0          0          0          0",
      "UDP  10.10.0.3:53 lc ops",
      "  -> 10.20.0.5:5353               0          0          0          0",
      "SCTP 10.10.0.5:3868 lblc",
      "  -> 10.20.0.8:3869               0          0          0          0",
      "TCP  [2001:db8:10::1]:80 sed",
      "  -> [2001:db8:20::1]:8080        0          0          0          0",
      "TCP  [2001:db8:10::2]:443 nq persistent 120 mask 64",
      "  -> [2001:db8:20::2]:443         0          0          0          0",
      "FWM  66 fo persistent 300",
      "  -> 10.20.0.12:0                 0          0          0          0",
      "  -> 10.20.0.13:0                 0          0          0          0",
      "FWM  67 IPv6 ovf",
      "  -> [2001:db8:20::3]:80          0          0          0          0",
    ]);
  });

  it("reads back what ipvsadm created, field for field", () => {
    const r = scenario("roundtrip");
    const flags = (f: Partial<Record<string, boolean>> = {}) => ({
      persistent: false,
      onePacket: false,
      shFallback: false,
      shPort: false,
      mhFallback: false,
      mhPort: false,
      ...f,
    });
    const plain = (forwarding: string, weight: number, u = 0, l = 0) => ({
      forwarding,
      weight,
      upperThreshold: u,
      lowerThreshold: l,
    });
    expect(r.skipped).toBe(0);
    expect(r.table).toEqual([
      {
        service: "fwmark 68 (inet6)",
        options: {
          scheduler: "mh",
          flags: flags({ persistent: true, mhPort: true }),
          timeout: 300,
          netmask: 64,
        },
        destinations: [{ key: "[2001:db8:21::1]:0", options: plain("dr", 1) }],
      },
      {
        service: "sctp 10.11.0.3:3868",
        options: {
          scheduler: "sh",
          flags: flags({ shFallback: true, shPort: true }),
          timeout: 0,
          netmask: "255.255.255.255",
        },
        destinations: [{ key: "10.21.0.4:3868", options: plain("nat", 1) }],
      },
      {
        service: "tcp [2001:db8:11::1]:443",
        options: { scheduler: "sed", flags: flags(), timeout: 0, netmask: 128 },
        destinations: [
          {
            key: "[2001:db8:21::2]:443",
            options: {
              ...plain("tun", 1),
              tunnel: { type: "gre", port: 0, flags: { csum: true, remcsum: false } },
            },
          },
          { key: "[2001:db8:21::3]:8443", options: plain("nat", 0) },
        ],
      },
      {
        service: "tcp 10.11.0.1:80",
        options: {
          scheduler: "wlc",
          flags: flags({ persistent: true }),
          timeout: 600,
          netmask: "255.255.255.0",
        },
        destinations: [
          { key: "10.21.0.1:80", options: plain("dr", 3, 100, 10) },
          {
            key: "10.21.0.2:80",
            options: {
              ...plain("tun", 1),
              tunnel: { type: "gue", port: 6080, flags: { csum: true, remcsum: false } },
            },
          },
        ],
      },
      {
        service: "udp 10.11.0.2:53",
        options: {
          scheduler: "rr",
          flags: flags({ onePacket: true }),
          timeout: 0,
          netmask: "255.255.255.255",
        },
        destinations: [{ key: "10.21.0.3:5353", options: plain("nat", 2) }],
      },
    ]);
  });

  it("reconciles a table that differs in every way: exact afterwards, unowned untouched, connection kept", () => {
    const r = scenario("dr");
    const held = r.heldBy === "r1" ? "10.77.0.21:80" : "10.77.0.22:80";
    const other = held === "10.77.0.21:80" ? "10.77.0.22:80" : "10.77.0.21:80";
    expect(["r1", "r2"]).toContain(r.heldBy);
    expect(r.first).toBe(6);
    // What the kernel held when vipd came back.
    expect(r.messed).toEqual(
      [
        "-A -t 10.77.0.100:80 -s wlc",
        "-A -t 10.77.0.100:8888 -s rr",
        `-a -t 10.77.0.100:80 -r ${other.replace(":80", "")}:80 -g -w 5`,
        `-a -t 10.77.0.100:80 -r ${held.replace(":80", "")}:80 -g -w 1`,
        "-a -t 10.77.0.100:80 -r 10.77.0.23:80 -g -w 1",
        "-a -t 10.77.0.100:8888 -r 10.77.0.21:8888 -g -w 1",
      ].sort(),
    );
    expect(r.reconcile).toEqual({
      applied: [
        "set service tcp 10.77.0.100:80: scheduler wlc → rr",
        `set dest ${other} in tcp 10.77.0.100:80: weight 5 → 1`,
        "del dest 10.77.0.23:80 from tcp 10.77.0.100:80",
        "add service tcp 10.77.0.100:443: wlc",
        "add dest 10.77.0.21:443 to tcp 10.77.0.100:443: dr, weight 1",
        "add dest 10.77.0.22:443 to tcp 10.77.0.100:443: dr, weight 1",
      ],
      unowned: ["tcp 10.77.0.100:8888"],
      failed: [],
      invalid: [],
    });
    expect(r.reconciled).toEqual([
      "-A -t 10.77.0.100:443 -s wlc",
      "-A -t 10.77.0.100:80 -s rr",
      "-A -t 10.77.0.100:8888 -s rr",
      "-a -t 10.77.0.100:443 -r 10.77.0.21:443 -g -w 1",
      "-a -t 10.77.0.100:443 -r 10.77.0.22:443 -g -w 1",
      "-a -t 10.77.0.100:80 -r 10.77.0.21:80 -g -w 1",
      "-a -t 10.77.0.100:80 -r 10.77.0.22:80 -g -w 1",
      "-a -t 10.77.0.100:8888 -r 10.77.0.21:8888 -g -w 1",
    ]);
    // The held connection's destination was never touched: its ActiveConn and its connection
    // counter are what they were before (a deleted and re-added destination starts from zero),
    // and the connection itself still reaches the same real server.
    const before = r.before as Record<string, { active: number; conns: string }>;
    const after = r.after as Record<string, { active: number; conns: string }>;
    expect(before[held]?.active).toBe(1);
    expect(Number(before[held]?.conns)).toBeGreaterThan(0);
    expect(after[held]).toEqual(before[held]);
    expect(r.heldAgain).toBe(r.heldBy);
  });

  it("serves live LVS-DR traffic over both real servers; weight 0 by config change stops new connections to one", () => {
    const r = scenario("dr");
    // rr over two real servers, 20 fresh connections: exactly half each.
    expect(r.spread).toEqual({ counts: { r1: 10, r2: 10 }, errors: 0 });
    // The reload is one SET, computed for the one virtual server that changed, without a re-read.
    expect(r.weight0).toEqual({
      applied: ["set dest 10.77.0.21:80 in tcp 10.77.0.100:80: weight 1 → 0"],
      evaluated: 1,
      read: false,
    });
    expect(r.spreadQuiesced).toEqual({ counts: { r2: 20 }, errors: 0 });
    // The kernel's counters agree: r2's grew by the 20 new connections, r1's did not move.
    // The held connection (to either) keeps working.
    const q = r.afterQuiesce as Record<string, Record<string, { active: number; conns: string }>>;
    expect(Number(q.after?.["10.77.0.22:80"]?.conns)).toBe(Number(q.before?.["10.77.0.22:80"]?.conns) + 20);
    expect(q.after?.["10.77.0.21:80"]?.conns).toBe(q.before?.["10.77.0.21:80"]?.conns);
    expect(r.heldQuiesced).toBe(r.heldBy);
  });

  it("reports a non-unicast DR destination and a DR port mapping with the entry named, and applies the rest", () => {
    const r = scenario("errors");
    expect(r.failed).toEqual([
      {
        op: "add dest 10.66.0.255:80 to tcp 10.66.0.100:80: dr, weight 1",
        code: "EINVAL",
        message:
          "add dest 10.66.0.255:80 to tcp 10.66.0.100:80: EINVAL (Invalid argument) — the kernel takes only unicast destination addresses (not broadcast, multicast or 0.0.0.0 in its routing tables), and of the service's family unless tunnelled",
        service: "tcp 10.66.0.100:80",
        dest: "10.66.0.255:80",
      },
    ]);
    expect(r.invalid).toEqual([
      {
        service: "tcp 10.66.0.100:80",
        dest: "10.66.0.23:8443",
        code: "IPVS_INVALID_DEST",
        message:
          "destination 10.66.0.23:8443 of tcp 10.66.0.100:80: dr forwarding cannot map ports (destination port 8443, service port 80)",
      },
    ]);
    expect(r.save).toEqual([
      "-A -t 10.66.0.100:80 -s wlc",
      "-A -t 10.66.0.100:8080 -s wlc",
      "-a -t 10.66.0.100:80 -r 10.66.0.21:80 -g -w 1",
      "-a -t 10.66.0.100:80 -r 10.66.0.22:80 -g -w 1",
      "-a -t 10.66.0.100:8080 -r 10.66.0.31:9000 -m -w 1",
    ]);
  });

  it("runs the sync daemon as master and as backup, following VRRP, visible to GET_DAEMON and ipvsadm", () => {
    const r = scenario("sync");
    const daemon = (state: string) => ({
      state,
      interface: "eth0",
      syncId: 51,
      maxLen: 1472,
      group: "224.0.0.81",
      port: 8848,
      ttl: 1,
    });
    const line = (state: string) =>
      `${state} sync daemon (mcast=eth0, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)`;
    expect(r.started).toEqual({ genl: [daemon("backup")], ipvsadm: [line("backup")] });
    expect(r.master).toEqual({ genl: [daemon("master")], ipvsadm: [line("master")] });
    expect(r.backup).toEqual({ genl: [daemon("backup")], ipvsadm: [line("backup")] });
    expect(r.stopped).toEqual({ genl: [], ipvsadm: [] });
    expect(r.both).toEqual({
      genl: [daemon("master"), daemon("backup")],
      ipvsadm: [line("master"), line("backup")],
    });
  });

  it("cleans up every namespace it made", () => {
    expect(scenario("done")).toEqual({ created: 10, left: [] });
  });
});

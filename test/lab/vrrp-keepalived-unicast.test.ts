/**
 * vipd and keepalived 2.2.7 (the Debian package) speaking VRRPv3 to each other over unicast
 * peers settle to exactly one master, in both roles. Two directors on one bridge, d1 (priority
 * 150) and d2 (priority 100), one running keepalived and the other vipd, each naming the other's
 * address as its only unicast peer:
 * - IPv6 (fd77::/64, VIP fd77::100/64): keepalived without unicast_ttl sends its unicast adverts
 *   with the kernel's default hop limit (64), not 255. vipd accepts any TTL / hop limit on
 *   unicast unless its unicast_ttl requires one (multicast still needs 255), so it must neither
 *   drop keepalived's adverts nor take the VIP as well. Failover follows: the master's link goes
 *   down, comes back, the master is stopped.
 *   keepalived binds its IPv6 unicast receive socket to unicast_src_ip, by default its
 *   link-local address, and so never receives unicast adverts sent to its ULA (two keepalived
 *   instances set up that way both end up MASTER too). Hence keepalived gets unicast_src_ip
 *   (its ULA, the usual unicast setup), or vipd names keepalived's link-local address as peer.
 * - IPv4: keepalived without and with unicast_ttl 64; vipd with unicast_ttl 64 (send and
 *   require 64) as the backup; vipd with unicast_ttl { send: 64 } as the master, whose adverts
 *   keepalived (which checks no TTL on unicast) accepts.
 * What arrives on the wire is captured at the receiving backup, so each case also shows the
 * TTL / hop limit it is about. Neither side reports an invalid packet: keepalived logs no
 * invalid/bogus/mismatch line and vipd counts no drop (no `ttl` drop in particular).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VipdError } from "../../src/errors.js";
import { ensureBuilt } from "./fixtures/vrrp/build.js";
import {
  createDirectorLab,
  DIRECTORS,
  type Director,
  type DirectorLab,
  NET,
  type VrrpDaemon,
} from "./harness/directors.js";
import { eventually, expectNoInvalidPackets, invalidPackets } from "./harness/interop.js";
import { Keepalived } from "./harness/keepalived.js";
import { Vipd, type VipdInstanceSpec } from "./harness/vipd.js";

/** A bound for any one wait: many master-down intervals at 100 ms adverts. */
const WAIT_MS = 20_000;
const ADVERT_MS = 100;
const PRIO_MASTER = 150;
const PRIO_BACKUP = 100;

type Impl = "vipd" | "keepalived";
type Family = 4 | 6;

interface UnicastLab extends DirectorLab {
  family: Family;
  addr: Record<Director, string>;
  vipCidr: string;
}

const TOPOLOGY: Record<Family, { addr: Record<Director, string>; vipCidr: string; prefixLength: number }> = {
  4: { addr: { d1: NET.d1, d2: NET.d2 }, vipCidr: `${NET.vip}/${NET.prefixLength}`, prefixLength: 24 },
  6: { addr: { d1: "fd77::1", d2: "fd77::2" }, vipCidr: "fd77::100/64", prefixLength: 64 },
};

async function createUnicastLab(family: Family, prefix: string): Promise<UnicastLab> {
  const t = TOPOLOGY[family];
  const dl = await createDirectorLab({
    prefix,
    directorsOnly: { addresses: t.addr, prefixLength: t.prefixLength },
  });
  return { ...dl, family, addr: t.addr, vipCidr: t.vipCidr };
}

/** Which directors hold the VIP right now. */
async function vipHolders(ul: UnicastLab): Promise<Director[]> {
  const held = await Promise.all(
    DIRECTORS.map(async (d) => {
      const out = await ul.lab.run(d, ["ip", `-${ul.family}`, "-o", "addr", "show", "dev", "eth0"]);
      return out.includes(` ${ul.vipCidr} `);
    }),
  );
  return DIRECTORS.filter((_, i) => held[i]);
}

interface SideOptions {
  /** keepalived's unicast_ttl (none: IPv4 255, IPv6 the kernel's default hop limit). */
  kaUnicastTtl?: number;
  /**
   * keepalived's unicast_src_ip: its own address on the bridge (the source of its adverts and the
   * address its receive socket is bound to). Without it, keepalived uses (and, for IPv6, binds
   * to) its link-local address.
   */
  kaUnicastSrcIp?: boolean;
  /** vipd's unicast_ttl (none: send 255, require nothing). */
  vipdUnicastTtl?: VipdInstanceSpec["unicastTtl"];
  /** vipd's unicast peer is the other director's link-local address (IPv6) instead of its ULA. */
  vipdPeerLinkLocal?: boolean;
}

/** `host`'s IPv6 link-local address on eth0. */
async function linkLocalOf(ul: UnicastLab, host: Director): Promise<string> {
  const out = await ul.lab.run(host, ["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"]);
  const m = /\binet6 (fe80::[0-9a-f:]+)\//.exec(out);
  if (!m) throw new VipdError("LAB_NO_ADDRESS", `no link-local address on ${host} eth0`, { out });
  return m[1]!;
}

/** Starts `impl` on `host` with the other director as its only unicast peer; resolves once joined. */
async function startSide(
  impl: Impl,
  ul: UnicastLab,
  host: Director,
  priority: number,
  opts: SideOptions,
): Promise<VrrpDaemon> {
  const other: Director = host === "d1" ? "d2" : "d1";
  const peer = ul.addr[other];
  if (impl === "keepalived") {
    return Keepalived.start(ul.lab, host, ul.dir, {
      routerId: host,
      version: 3,
      instances: [
        {
          interface: "eth0",
          vrid: NET.vrid,
          priority,
          advertIntervalMs: ADVERT_MS,
          virtualIps: [ul.vipCidr],
          unicastPeers: [peer],
          ...(opts.kaUnicastSrcIp ? { unicastSrcIp: ul.addr[host] } : {}),
          ...(opts.kaUnicastTtl !== undefined ? { unicastTtl: opts.kaUnicastTtl } : {}),
        },
      ],
    });
  }
  return Vipd.start(ul.lab, host, ul.dir, {
    node: host,
    logLevel: "debug",
    instances: [
      {
        name: "web",
        interface: "eth0",
        vrid: NET.vrid,
        priority,
        version: 3,
        advertIntervalMs: ADVERT_MS,
        virtualIps: [ul.vipCidr],
        unicastPeers: [opts.vipdPeerLinkLocal ? await linkLocalOf(ul, other) : peer],
        ...(opts.vipdUnicastTtl !== undefined ? { unicastTtl: opts.vipdUnicastTtl } : {}),
      },
    ],
  });
}

/** Polls until `master` is MASTER, `backup` is BACKUP and only the master holds the VIP. */
async function waitForSettled(ul: UnicastLab, master: VrrpDaemon, backup: VrrpDaemon): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const holders = await vipHolders(ul);
    if (
      master.state() === "MASTER" &&
      backup.state() === "BACKUP" &&
      holders.length === 1 &&
      holders[0] === master.host
    ) {
      return;
    }
    if (Date.now() > deadline) {
      throw new VipdError("LAB_WAIT_TIMEOUT", `the election did not settle within ${WAIT_MS} ms`, {
        master: { host: master.host, kind: master.kind, state: master.state() },
        backup: { host: backup.host, kind: backup.kind, state: backup.state() },
        holders,
        problems: [invalidPackets(master), invalidPackets(backup)],
      });
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The TTLs (IPv4) or hop limits (IPv6) of the next `count` VRRP packets `host` receives on eth0
 * (only the master sends adverts, so at a backup these are the master's).
 */
async function receivedTtls(ul: UnicastLab, host: Director, count = 3): Promise<number[]> {
  const filter = ul.family === 4 ? "ip proto 112" : "ip6 proto 112";
  const r = await ul.lab.exec(
    host,
    ["tcpdump", "-l", "-n", "-v", "-Q", "in", "-c", String(count), "-i", "eth0", filter],
    { timeoutMs: WAIT_MS },
  );
  // The IP header's field (tcpdump repeats an IPv4 TTL in its VRRP line: "(ttl 64)").
  const re = ul.family === 4 ? /\bIP \(tos \S+, ttl (\d+),/g : /\bIP6 \([^)]*\bhlim (\d+),/g;
  const ttls = [...r.stdout.matchAll(re)].map((m) => Number(m[1]));
  if (r.code !== 0 || ttls.length !== count) {
    throw new VipdError(
      "LAB_CAPTURE_FAILED",
      `tcpdump on ${host} did not report ${count} VRRP packets: ${r.stdout}${r.stderr}`,
      {
        code: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
      },
    );
  }
  return ttls;
}

/** The states `d` entered from log line `from` on. */
function statesSince(d: VrrpDaemon, from: number): string[] {
  if (d instanceof Keepalived) return d.transitions(from);
  if (d instanceof Vipd) return d.transitions(from).map((t) => t.to);
  return [];
}

interface Case {
  title: string;
  masterImpl: Impl;
  backupImpl: Impl;
  master: SideOptions;
  backup: SideOptions;
  /** The TTL / hop limit of the master's adverts as the backup receives them. */
  wireTtl: number;
}

/** `[title, case]` rows: vitest shortens a `$title` to 40 characters, not a `%s`. */
function titled(cases: Case[]): Array<[string, Case]> {
  return cases.map((c) => [c.title, c]);
}

function dumpLogs(...daemons: Array<VrrpDaemon | undefined>): void {
  if (!process.env.LAB_DUMP_LOGS) return;
  for (const d of daemons) {
    const log = (d as Keepalived | Vipd | undefined)?.log;
    process.stderr.write(`--- ${d?.kind} on ${d?.host}\n${log?.text() ?? ""}\n`);
  }
}

/**
 * The election: d1 ends up the only VIP holder, the backup stays BACKUP for a while of adverts,
 * the backup receives the master's adverts with `c.wireTtl`, and nobody dropped anything.
 */
async function expectOneMaster(
  ul: UnicastLab,
  master: VrrpDaemon,
  backup: VrrpDaemon,
  c: Case,
): Promise<void> {
  await master.waitForState("MASTER", { timeoutMs: WAIT_MS });
  await waitForSettled(ul, master, backup);
  const bMark = backup.mark;
  const mMark = master.mark;
  expect(await receivedTtls(ul, backup.host as Director)).toEqual([c.wireTtl, c.wireTtl, c.wireTtl]);
  // Many adverts go by: the backup never leaves BACKUP, the master never leaves MASTER.
  await new Promise((r) => setTimeout(r, 10 * ADVERT_MS));
  expect(await vipHolders(ul)).toEqual(["d1"]);
  expect({ master: master.state(), backup: backup.state() }).toEqual({ master: "MASTER", backup: "BACKUP" });
  expect({ master: statesSince(master, mMark), backup: statesSince(backup, bMark) }).toEqual({
    master: [],
    backup: [],
  });
  expectNoInvalidPackets(master, backup);
}

// `node bin/vipd` runs dist/: rebuild it first when src/ changed.
beforeAll(() => ensureBuilt());

/**
 * Starts the case's pair (d1 master, d2 backup) before the enclosing describe's tests and stops
 * it after them; the getters give the running daemons (`master` may be replaced by a test).
 */
function pairFor(getLab: () => UnicastLab, c: Case): { master(): VrrpDaemon; backup(): VrrpDaemon } {
  let master: VrrpDaemon | undefined;
  let backup: VrrpDaemon | undefined;
  beforeAll(async () => {
    [master, backup] = await Promise.all([
      startSide(c.masterImpl, getLab(), "d1", PRIO_MASTER, c.master),
      startSide(c.backupImpl, getLab(), "d2", PRIO_BACKUP, c.backup),
    ]);
  });
  afterAll(async () => {
    dumpLogs(master, backup);
    await Promise.all([master?.stop(), backup?.stop()]);
    await getLab()
      .lab.linkUp("d1")
      .catch(() => undefined);
  });
  return { master: () => master!, backup: () => backup! };
}

describe("IPv6 unicast, VRRPv3 (advert 100 ms): keepalived without unicast_ttl sends hop limit 64", () => {
  let ul: UnicastLab;

  beforeAll(async () => {
    ul = await createUnicastLab(6, "vkau6");
  });

  afterAll(async () => {
    await ul?.close();
  });

  // keepalived with unicast_src_ip (its ULA), in both roles and through failover; then
  // keepalived's default source (its link-local address), which vipd must name as its peer.
  describe.each(
    titled([
      {
        title: "keepalived master (d1, 150, unicast_src_ip fd77::1), vipd backup (d2, 100)",
        masterImpl: "keepalived",
        backupImpl: "vipd",
        master: { kaUnicastSrcIp: true },
        backup: {},
        wireTtl: 64,
      },
      {
        title: "vipd master (d1, 150), keepalived backup (d2, 100, unicast_src_ip fd77::2)",
        masterImpl: "vipd",
        backupImpl: "keepalived",
        master: {},
        backup: { kaUnicastSrcIp: true },
        wireTtl: 255,
      },
    ]),
  )("%s", (_title, c) => {
    const pair = pairFor(() => ul, c);

    it(`settles to one master: d1 holds the VIP, the backup stays BACKUP, adverts arrive with hop limit ${c.wireTtl}`, async () => {
      await expectOneMaster(ul, pair.master(), pair.backup(), c);
    });

    it(`master link down: the ${c.backupImpl} backup takes the VIP`, async () => {
      const [master, backup] = [pair.master(), pair.backup()];
      const bMark = backup.mark;
      const mMark = master.mark;
      await ul.lab.linkDown("d1");
      await backup.waitForState("MASTER", { from: bMark, timeoutMs: WAIT_MS });
      await master.waitForState("FAULT", { from: mMark, timeoutMs: WAIT_MS });
      expect(await eventually(() => vipHolders(ul), ["d2"] as Director[])).toEqual(["d2"]);
    });

    it(`link back: the ${c.masterImpl} master hears the ${c.backupImpl} side, preempts, and it steps down`, async () => {
      const [master, backup] = [pair.master(), pair.backup()];
      const bMark = backup.mark;
      const mMark = master.mark;
      await ul.lab.linkUp("d1");
      await master.waitForState("MASTER", { from: mMark, timeoutMs: WAIT_MS });
      await backup.waitForState("BACKUP", { from: bMark, timeoutMs: WAIT_MS });
      expect(await eventually(() => vipHolders(ul), ["d1"] as Director[])).toEqual(["d1"]);
      // A keepalived master heard the vipd side's lower-priority adverts before it preempted
      // (rather than taking over because it heard nothing). A vipd master preempts on
      // Master_Down_Interval either way; the keepalived backup stepping down shows it heard vipd.
      if (master instanceof Keepalived) {
        const heard = master.log
          .since(mMark)
          .some((l) => /received lower priority \(100\) advert/.test(l.text));
        expect(heard).toBe(true);
      }
      expectNoInvalidPackets(master, backup);
    });

    it(`master stopped: its unicast priority-0 advert hands the VIP to the ${c.backupImpl} backup`, async () => {
      const [master, backup] = [pair.master(), pair.backup()];
      const bMark = backup.mark;
      const status = await master.stop();
      expect(status.code).toBe(0);
      await backup.waitForState("MASTER", { from: bMark, timeoutMs: WAIT_MS });
      expect(await eventually(() => vipHolders(ul), ["d2"] as Director[])).toEqual(["d2"]);
      if (backup instanceof Vipd) {
        const t = backup.transitions(bMark).find((x) => x.to === "MASTER");
        expect(t?.record.detail ?? t?.reason).toMatch(/priority 0|resign/i);
      } else {
        await (backup as Keepalived).log.waitFor(/Backup received priority 0 advertisement/, {
          from: bMark,
          timeoutMs: WAIT_MS,
        });
      }
      expectNoInvalidPackets(master, backup);
    });
  });

  describe.each(
    titled([
      {
        title:
          "vipd master (d1, 150) with keepalived's link-local address as peer, keepalived backup (d2, 100)",
        masterImpl: "vipd",
        backupImpl: "keepalived",
        master: { vipdPeerLinkLocal: true },
        backup: {},
        wireTtl: 255,
      },
    ]),
  )("%s", (_title, c) => {
    const pair = pairFor(() => ul, c);

    it("settles to one master: d1 holds the VIP, keepalived stays BACKUP", async () => {
      await expectOneMaster(ul, pair.master(), pair.backup(), c);
    });
  });
});

describe("IPv4 unicast, VRRPv3 (advert 100 ms) with unicast_ttl", () => {
  let ul: UnicastLab;

  beforeAll(async () => {
    ul = await createUnicastLab(4, "vkau4");
  });

  afterAll(async () => {
    await ul?.close();
  });

  describe.each(
    titled([
      {
        title: "keepalived master (no unicast_ttl), vipd backup",
        masterImpl: "keepalived",
        backupImpl: "vipd",
        master: {},
        backup: {},
        wireTtl: 255,
      },
      {
        title: "keepalived master (unicast_ttl 64), vipd backup (default: any TTL)",
        masterImpl: "keepalived",
        backupImpl: "vipd",
        master: { kaUnicastTtl: 64 },
        backup: {},
        wireTtl: 64,
      },
      {
        title: "keepalived master (unicast_ttl 64), vipd backup with unicast_ttl 64 (sends and requires 64)",
        masterImpl: "keepalived",
        backupImpl: "vipd",
        master: { kaUnicastTtl: 64 },
        backup: { vipdUnicastTtl: 64 },
        wireTtl: 64,
      },
      {
        title: "vipd master (default: sends 255), keepalived backup (unicast_ttl 64)",
        masterImpl: "vipd",
        backupImpl: "keepalived",
        master: {},
        backup: { kaUnicastTtl: 64 },
        wireTtl: 255,
      },
      {
        title: "vipd master with unicast_ttl { send: 64 }, keepalived backup (no unicast_ttl)",
        masterImpl: "vipd",
        backupImpl: "keepalived",
        master: { vipdUnicastTtl: { send: 64 } },
        backup: {},
        wireTtl: 64,
      },
    ]),
  )("%s", (_title, c) => {
    const pair = pairFor(() => ul, c);

    it(`settles to one master: d1 holds the VIP, the backup stays BACKUP, adverts arrive with TTL ${c.wireTtl}`, async () => {
      await expectOneMaster(ul, pair.master(), pair.backup(), c);
    });
  });
});

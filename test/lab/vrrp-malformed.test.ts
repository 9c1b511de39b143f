/**
 * Issue 3, lab requirement 6: malformed adverts injected from a third namespace into a vipd pair
 * in steady state (d1 master, d2 backup) are all dropped and counted by reason, and change
 * nothing: no transition on either director and the VIP stays where it was.
 *
 * Injected (each aimed at the pair's VRID and claiming priority 200, which would matter if it
 * were accepted): a bad checksum, TTL 64, version 4, a truncated header, another VRID, and a
 * priority-254 advert with a bad checksum. (Another VRID is dropped by the kernel filter on the
 * VRRP socket before vipd sees it.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "./fixtures/vrrp/build.js";
import {
  createDirectorLab,
  type DirectorLab,
  NET,
  startDirector,
  VIP_URL,
  vipHolders,
  waitForSettled,
} from "./harness/directors.js";
import type { Vipd } from "./harness/vipd.js";
import {
  Injector,
  MALFORMED_KINDS,
  type MalformedKind,
  malformedAdvert,
  validAdvert,
} from "./harness/vrrp-inject.js";

const WAIT_MS = 20_000;

/** vipd logs a drop reason at most once a second (with the running count): space the injections. */
const SPACING_MS = 1100;

// `node bin/vipd` runs dist/: rebuild it first when src/ changed.
beforeAll(() => ensureBuilt());

describe.each([
  { version: 2 as const, advertIntervalMs: 1000 },
  { version: 3 as const, advertIntervalMs: 100 },
])("VRRPv$version: malformed adverts from a third namespace", ({ version, advertIntervalMs }) => {
  let dl: DirectorLab;
  let d1: Vipd;
  let d2: Vipd;

  beforeAll(async () => {
    dl = await createDirectorLab({ prefix: `vmal${version}`, injector: true });
    // debug: vipd logs other VRIDs' adverts (normal traffic on a shared segment) only at debug.
    const spec = (priority: number) => ({ version, advertIntervalMs, priority, vipd: { logLevel: "debug" } });
    [d1, d2] = (await Promise.all([
      startDirector("vipd", dl, "d1", spec(150)),
      startDirector("vipd", dl, "d2", spec(100)),
    ])) as [Vipd, Vipd];
    await d1.waitForState("MASTER", { timeoutMs: WAIT_MS });
    await waitForSettled(dl.lab, d1, d2, WAIT_MS);
    // Steady state: a few adverts have gone by.
    await new Promise((r) => setTimeout(r, 3 * advertIntervalMs + 200));
  });

  afterAll(async () => {
    await dl?.close();
  });

  it("starts in steady state with nothing dropped", async () => {
    expect(d1.state("web")).toBe("MASTER");
    expect(d2.state("web")).toBe("BACKUP");
    expect(await vipHolders(dl.lab)).toEqual(["d1"]);
    expect(d1.drops()).toEqual({});
    expect(d2.drops()).toEqual({});
  });

  it("drops every malformed advert, counts each by reason, and changes no state", async () => {
    const marks = { d1: d1.mark, d2: d2.mark };
    const inj = Injector.open(dl.lab.nsPath("x"), "eth0");
    const kinds = Object.keys(MALFORMED_KINDS) as MalformedKind[];
    try {
      for (const kind of kinds) {
        const m = malformedAdvert(kind, {
          version,
          vrid: NET.vrid,
          priority: 200,
          advertIntervalMs,
          addresses: [NET.vip],
          src: NET.injector,
        });
        inj.send(m.payload, { ttl: m.ttl });
        await new Promise((r) => setTimeout(r, SPACING_MS));
      }
    } finally {
      inj.close();
    }
    const want: Record<string, number> = {};
    for (const kind of kinds) want[MALFORMED_KINDS[kind]] = (want[MALFORMED_KINDS[kind]] ?? 0) + 1;
    // Another VRID never reaches vipd: the socket's kernel filter drops it (src/sys/bpf.ts,
    // tested against the kernel in sys-socket.test.ts), so it is not counted.
    delete want.vrid;
    // { checksum: 2, ttl: 1, version: 1, length: 1 } on both directors, master and backup.
    expect({ d1: d1.drops(marks.d1), d2: d2.drops(marks.d2) }).toEqual({ d1: want, d2: want });
    expect({ d1: d1.transitions(marks.d1), d2: d2.transitions(marks.d2) }).toEqual({ d1: [], d2: [] });
    expect(d1.state("web")).toBe("MASTER");
    expect(d2.state("web")).toBe("BACKUP");
    expect(await vipHolders(dl.lab)).toEqual(["d1"]);
    expect((await dl.lab.exec("cl", ["curl", "-s", "--max-time", "2", VIP_URL])).stdout).toBe("d1");
  });

  it("still accepts a well-formed advert afterwards: a real higher-priority peer takes over", async () => {
    // The injector was only ever rejected for what it got wrong: the same host with a valid
    // advert of priority 254 is a better master, and d1 steps down to BACKUP.
    const mark = d1.mark;
    const inj = Injector.open(dl.lab.nsPath("x"), "eth0");
    try {
      inj.send(
        validAdvert({
          version,
          vrid: NET.vrid,
          priority: 254,
          advertIntervalMs,
          addresses: [NET.vip],
          src: NET.injector,
        }),
      );
    } finally {
      inj.close();
    }
    const t = await d1.waitForState("BACKUP", { from: mark, timeoutMs: WAIT_MS });
    expect(t.reason).toBe("higher_priority");
  });
});

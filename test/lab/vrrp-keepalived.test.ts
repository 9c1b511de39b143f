/**
 * vipd interoperates with keepalived 2.2.7 (the Debian package), VRRPv2 (without and with a
 * simple password, keepalived's auth_type PASS) and VRRPv3, in both roles. Two directors on one bridge, one running keepalived and the
 * other vipd, with the same VIP list:
 * - keepalived master, vipd backup; then vipd master, keepalived backup;
 * - failover both ways: the master's link goes down and the backup takes the VIP (the client's
 *   requests follow); the master comes back and preempts; the master is stopped (priority-0
 *   advert) and the backup takes over;
 * - neither side reports an invalid packet: keepalived logs no invalid/bogus/mismatch line and
 *   vipd counts no drop.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "./fixtures/vrrp/build.js";
import {
  createDirectorLab,
  type Director,
  type DirectorLab,
  type Implementation,
  startDirector,
  VIP_URL,
  type VrrpDaemon,
  vipHolders,
  waitForSettled,
} from "./harness/directors.js";
import { eventually, expectNoInvalidPackets } from "./harness/interop.js";
import type { Keepalived } from "./harness/keepalived.js";
import { Vipd } from "./harness/vipd.js";

/** A bound for any one wait: several master-down intervals at 1 s adverts. */
const WAIT_MS = 20_000;

async function served(dl: DirectorLab): Promise<string> {
  const r = await dl.lab.exec("cl", ["curl", "-s", "--max-time", "2", VIP_URL]);
  return r.stdout;
}

// `node bin/vipd` runs dist/: rebuild it first when src/ changed.
beforeAll(() => ensureBuilt());

describe.each([
  { version: 2 as const, advertIntervalMs: 1000, prefix: "vka2" },
  // Most keepalived pairs in the field use a simple password (docs/vrrp.md).
  { version: 2 as const, advertIntervalMs: 1000, prefix: "vkap", password: "s3cret" },
  // keepalived 2.2.7 always checksums VRRPv3 over IPv4 with the pseudo-header (it has no
  // message-only option and rejects that form), which is also vipd's default.
  { version: 3 as const, advertIntervalMs: 100, prefix: "vka3" },
])(
  "VRRPv$version (advert $advertIntervalMs ms, password $password) with keepalived 2.2.7",
  ({ version, advertIntervalMs, prefix, password }) => {
    let dl: DirectorLab;

    beforeAll(async () => {
      dl = await createDirectorLab({ prefix });
    });

    afterAll(async () => {
      await dl?.close();
    });

    describe.each([
      { masterImpl: "keepalived" as Implementation, backupImpl: "vipd" as Implementation },
      { masterImpl: "vipd" as Implementation, backupImpl: "keepalived" as Implementation },
    ])(
      "$masterImpl master (d1, priority 150), $backupImpl backup (d2, priority 100)",
      ({ masterImpl, backupImpl }) => {
        const spec = (priority: number) => ({
          version,
          advertIntervalMs,
          priority,
          ...(password !== undefined ? { password } : {}),
          vipd: { logLevel: "debug" },
        });
        let master: VrrpDaemon;
        let backup: VrrpDaemon;

        beforeAll(async () => {
          [master, backup] = await Promise.all([
            startDirector(masterImpl, dl, "d1", spec(150)),
            startDirector(backupImpl, dl, "d2", spec(100)),
          ]);
        });

        afterAll(async () => {
          if (process.env.LAB_DUMP_LOGS) {
            for (const dmn of [master, backup]) {
              const log = (dmn as Keepalived | Vipd | undefined)?.log;
              process.stderr.write(`--- ${dmn?.kind} on ${dmn?.host}\n${log?.text() ?? ""}\n`);
            }
          }
          await Promise.all([master?.stop(), backup?.stop()]);
          await dl.lab.linkUp("d1").catch(() => undefined);
        });

        it("elects the higher priority: only d1 holds the VIP and serves the client", async () => {
          await master.waitForState("MASTER", { timeoutMs: WAIT_MS });
          await waitForSettled(dl.lab, master, backup, WAIT_MS);
          expect(await served(dl)).toBe("d1");
          // A few adverts go by; the backup stays backup and neither side rejects the other's packets.
          await new Promise((r) => setTimeout(r, 3 * advertIntervalMs + 200));
          expect(await vipHolders(dl.lab)).toEqual(["d1"]);
          expectNoInvalidPackets(master, backup);
        });

        it(`master link down: the ${backupImpl} backup takes the VIP and the client follows`, async () => {
          const bMark = backup.mark;
          const mMark = master.mark;
          await dl.lab.linkDown("d1");
          await backup.waitForState("MASTER", { from: bMark, timeoutMs: WAIT_MS });
          await master.waitForState("FAULT", { from: mMark, timeoutMs: WAIT_MS });
          expect(await eventually(() => vipHolders(dl.lab), ["d2"] as Director[])).toEqual(["d2"]);
          expect(await eventually(() => served(dl), "d2")).toBe("d2");
        });

        it(`link back: the ${masterImpl} master preempts and the ${backupImpl} side steps down`, async () => {
          const bMark = backup.mark;
          const mMark = master.mark;
          await dl.lab.linkUp("d1");
          await master.waitForState("MASTER", { from: mMark, timeoutMs: WAIT_MS });
          await backup.waitForState("BACKUP", { from: bMark, timeoutMs: WAIT_MS });
          expect(await eventually(() => vipHolders(dl.lab), ["d1"] as Director[])).toEqual(["d1"]);
          expect(await eventually(() => served(dl), "d1")).toBe("d1");
        });

        it(`master stopped: its priority-0 advert hands the VIP to the ${backupImpl} backup`, async () => {
          const bMark = backup.mark;
          const status = await master.stop();
          expect(status.code).toBe(0);
          await backup.waitForState("MASTER", { from: bMark, timeoutMs: WAIT_MS });
          expect(await eventually(() => vipHolders(dl.lab), ["d2"] as Director[])).toEqual(["d2"]);
          expect(await eventually(() => served(dl), "d2")).toBe("d2");
          if (backup instanceof Vipd) {
            // vipd saw the resignation itself rather than waiting for Master_Down_Interval.
            const t = backup.transitions(bMark).find((x) => x.to === "MASTER");
            expect(t?.record.detail ?? t?.reason).toMatch(/priority 0|resign/i);
          } else {
            await (backup as Keepalived).log.waitFor(/Backup received priority 0 advertisement/, {
              from: bMark,
              timeoutMs: WAIT_MS,
            });
          }
        });

        it("the restarted master preempts again; neither side saw an invalid packet all along", async () => {
          const bMark = backup.mark;
          master = await startDirector(masterImpl, dl, "d1", spec(150));
          await master.waitForState("MASTER", { timeoutMs: WAIT_MS });
          await backup.waitForState("BACKUP", { from: bMark, timeoutMs: WAIT_MS });
          expect(await eventually(() => vipHolders(dl.lab), ["d1"] as Director[])).toEqual(["d1"]);
          expectNoInvalidPackets(master, backup);
        });
      },
    );
  },
);

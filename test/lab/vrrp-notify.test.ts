/**
 * Notify hooks against keepalived 2.2.7 as the oracle: the same recording script is given to
 * keepalived and to vipd as notify_master / notify_backup / notify_fault / notify_stop and
 * notify, for two instances in a sync group and for the group itself. Each daemon runs alone on
 * d1 through the same life (start, MASTER, link down → FAULT, link up → MASTER again, SIGTERM),
 * and the scripts' records must say the same thing: which commands ran, for which subject, with
 * which arguments, in which order.
 *
 * keepalived forks each script without waiting for the last one, so two scripts of one change
 * can append in either order there; the records are therefore compared per subject and per kind
 * (the state's own command, and `notify` with its appended arguments), each in order.
 */
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "./fixtures/vrrp/build.js";
import { createDirectorLab, type DirectorLab } from "./harness/directors.js";
import { eventually } from "./harness/interop.js";
import { Keepalived, type KeepalivedNotify } from "./harness/keepalived.js";
import { Vipd } from "./harness/vipd.js";

const WAIT_MS = 20_000;
const INSTANCES = [
  { name: "VI_51", vrid: 51, vip: "10.77.0.100/24" },
  { name: "VI_52", vrid: 52, vip: "10.77.0.101/24" },
];
const GROUP = "G1";
const STATES = ["master", "backup", "fault", "stop"] as const;

beforeAll(() => ensureBuilt());

describe("notify hooks: vipd runs what keepalived 2.2.7 runs, with the same arguments", () => {
  let dl: DirectorLab;
  const records: Record<"keepalived" | "vipd", string[]> = { keepalived: [], vipd: [] };

  beforeAll(async () => {
    dl = await createDirectorLab({ prefix: "vkno", httpServers: false });
  });

  afterAll(async () => {
    await dl?.close();
  });

  /** A script that appends its arguments, one line per run, to `file`. */
  function recorder(file: string): string {
    const path = dl.dir.write(`record-${file}.sh`, `#!/bin/sh\necho "$*" >> ${dl.dir.file(file)}\n`);
    chmodSync(path, 0o700);
    return path;
  }

  /** The subject's own command per state, tagged with the subject, plus `notify` (`any`). */
  function hooks(script: string, subject: string): Required<KeepalivedNotify> {
    const own = Object.fromEntries(STATES.map((s) => [s, [script, subject, s]]));
    return { ...own, any: [script, "any"] } as Required<KeepalivedNotify>;
  }

  function readRecord(file: string): string[] {
    const path = dl.dir.file(file);
    return existsSync(path) ? readFileSync(path, "utf8").trim().split("\n") : [];
  }

  /** Start, MASTER, link down and up, stop; returns the record. */
  async function life(
    impl: "keepalived" | "vipd",
    start: (script: string) => Promise<Keepalived | Vipd>,
  ): Promise<string[]> {
    const file = `${impl}.log`;
    const script = recorder(file);
    const d = await start(script);
    const has = (line: string) => eventually(async () => readRecord(file).includes(line), true, WAIT_MS);
    try {
      for (const i of INSTANCES) await d.waitForState("MASTER", { instance: i.name, timeoutMs: WAIT_MS });
      expect(await has(`any GROUP ${GROUP} MASTER 0`)).toBe(true);
      let mark = d.mark;
      await dl.lab.linkDown("d1");
      for (const i of INSTANCES)
        await d.waitForState("FAULT", { from: mark, instance: i.name, timeoutMs: WAIT_MS });
      expect(await has(`any GROUP ${GROUP} FAULT 0`)).toBe(true);
      mark = d.mark;
      await dl.lab.linkUp("d1");
      for (const i of INSTANCES)
        await d.waitForState("MASTER", { from: mark, instance: i.name, timeoutMs: WAIT_MS });
      expect(
        await eventually(
          async () => readRecord(file).filter((l) => l === `any GROUP ${GROUP} MASTER 0`).length,
          2,
          WAIT_MS,
        ),
      ).toBe(2);
    } finally {
      await d.stop();
    }
    // vipd waits for its stop hooks before it exits (every instance's and the group's, own and
    // `any`); keepalived forks them without waiting, so they may land after it is gone.
    const stops = () => readRecord(file).filter((l) => / stop$| STOP \d+$/.test(l)).length;
    if (impl === "vipd") expect(stops()).toBe(2 * (INSTANCES.length + 1));
    await eventually(
      async () => readRecord(file).filter((l) => l.includes("STOP")).length >= INSTANCES.length,
      true,
      WAIT_MS,
    );
    return readRecord(file);
  }

  it("keepalived: the reference record", async () => {
    records.keepalived = await life("keepalived", (script) =>
      Keepalived.start(dl.lab, "d1", dl.dir, {
        routerId: "d1",
        version: 3,
        instances: INSTANCES.map((i) => ({
          name: i.name,
          interface: "eth0",
          vrid: i.vrid,
          priority: 150,
          advertIntervalMs: 100,
          virtualIps: [i.vip],
          notify: hooks(script, i.name),
        })),
        syncGroups: [{ name: GROUP, instances: INSTANCES.map((i) => i.name), notify: hooks(script, GROUP) }],
      }),
    );
    expect(records.keepalived).toContain("any INSTANCE VI_51 MASTER 150");
  });

  it("vipd: the same commands with the same arguments, per subject and in order", async () => {
    const notify = (script: string, subject: string) => hooks(script, subject) as Record<string, unknown>;
    records.vipd = await life("vipd", (script) =>
      Vipd.start(dl.lab, "d1", dl.dir, {
        node: "d1",
        instances: INSTANCES.map((i) => ({
          name: i.name,
          interface: "eth0",
          vrid: i.vrid,
          priority: 150,
          version: 3,
          advertIntervalMs: 100,
          virtualIps: [i.vip],
          notify: notify(script, i.name),
        })),
        syncGroups: [{ name: GROUP, instances: INSTANCES.map((i) => i.name), notify: notify(script, GROUP) }],
      }),
    );
    const view = (record: string[]) => {
      const out: Record<string, string[]> = {};
      for (const subject of [...INSTANCES.map((i) => i.name), GROUP]) {
        out[`${subject} own`] = record.filter((l) => l.startsWith(`${subject} `));
        out[`${subject} any`] = record.filter((l) => l.startsWith("any ") && l.split(" ")[2] === subject);
      }
      return out;
    };
    expect(view(records.vipd)).toEqual(view(records.keepalived));
    // Nothing else was recorded on either side.
    expect(records.vipd.length).toBe(records.keepalived.length);
  });
});

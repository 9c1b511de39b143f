/**
 * VRRPv2 simple passwords that do not match, with keepalived 2.2.7 as the peer: each side drops
 * the other's adverts, so both become master. vipd counts every drop (`auth` for another
 * password, `auth_type` when only one side has one), and keepalived logs its own reason. The
 * matching case, with failover both ways, is in vrrp-keepalived.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "./fixtures/vrrp/build.js";
import {
  createDirectorLab,
  type DirectorLab,
  type DirectorSpec,
  startDirector,
  type VrrpDaemon,
  vipHolders,
} from "./harness/directors.js";
import { eventually } from "./harness/interop.js";
import type { Keepalived } from "./harness/keepalived.js";
import type { Vipd } from "./harness/vipd.js";

const WAIT_MS = 20_000;

beforeAll(() => ensureBuilt());

describe("VRRPv2 with keepalived 2.2.7: passwords that do not match", () => {
  let dl: DirectorLab;
  let ka: Keepalived | undefined;
  let vipd: Vipd | undefined;

  beforeAll(async () => {
    dl = await createDirectorLab({ prefix: "vkau" });
  });

  afterEach(async () => {
    await Promise.all([ka?.stop(), vipd?.stop()]);
    ka = undefined;
    vipd = undefined;
  });

  afterAll(async () => {
    await dl?.close();
  });

  const spec = (priority: number, password: string | undefined): DirectorSpec => ({
    version: 2,
    advertIntervalMs: 1000,
    priority,
    ...(password !== undefined ? { password } : {}),
  });

  async function start(kaPassword: string | undefined, vipdPassword: string | undefined): Promise<void> {
    const daemons: VrrpDaemon[] = await Promise.all([
      startDirector("keepalived", dl, "d1", spec(150, kaPassword)),
      startDirector("vipd", dl, "d2", spec(100, vipdPassword)),
    ]);
    ka = daemons[0] as Keepalived;
    vipd = daemons[1] as Vipd;
  }

  /** Both ignore each other: both end up master and hold the VIP. */
  async function expectTwoMasters(): Promise<void> {
    await Promise.all([
      ka?.waitForState("MASTER", { timeoutMs: WAIT_MS }),
      vipd?.waitForState("MASTER", { timeoutMs: WAIT_MS }),
    ]);
    expect(await eventually(() => vipHolders(dl.lab), ["d1", "d2"])).toEqual(["d1", "d2"]);
  }

  it("another password: vipd drops keepalived's adverts as `auth`, keepalived logs an invalid password", async () => {
    await start("alpha", "bravo");
    await expectTwoMasters();
    const k = ka as Keepalived;
    const v = vipd as Vipd;
    await k.log.waitFor(/\(VI_51\) received an invalid passwd!/, { timeoutMs: WAIT_MS });
    // Two adverts at least (one per second): the count goes on, it is not a one-off.
    await eventually(async () => (v.drops().auth ?? 0) >= 2, true, WAIT_MS);
    expect(v.drops()).toEqual({ auth: expect.any(Number) });
    expect(v.drops().auth).toBeGreaterThanOrEqual(2);
    // Neither the drop records nor anything else vipd logged quote either password.
    const logged = v.log.lines.map((l) => l.text).join("\n");
    expect(logged).not.toMatch(/alpha|bravo/);
  });

  it("a password on one side only: vipd drops keepalived's adverts as `auth_type`, keepalived logs the auth type", async () => {
    await start("alpha", undefined);
    await expectTwoMasters();
    const k = ka as Keepalived;
    const v = vipd as Vipd;
    await k.log.waitFor(/\(VI_51\) received a 0 auth, expecting 1!/, { timeoutMs: WAIT_MS });
    await eventually(async () => (v.drops().auth_type ?? 0) >= 2, true, WAIT_MS);
    expect(Object.keys(v.drops())).toEqual(["auth_type"]);
  });
});

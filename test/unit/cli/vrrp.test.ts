import { describe, expect, it } from "vitest";
import type { VrrpOperatorAction } from "../../../src/api/server.js";
import { vrrpCommand } from "../../../src/cli/vrrp.js";
import { apiHarness } from "./api-harness.js";

const api = apiHarness("vrrp");
const run = api.run;
const daemon = (vrrp: VrrpOperatorAction) => api.daemon({ actions: { vrrp } });

describe("vipd vrrp", () => {
  it("sends resign and resume to the daemon and prints the state after", async () => {
    const calls: string[] = [];
    const socket = await daemon((action, instance) => {
      calls.push(`${action} ${instance}`);
      return { ok: true, state: "BACKUP", resigned: action === "resign" };
    });
    expect(await run("resign", "web", "-s", socket)).toEqual({
      code: 0,
      stdout: "web: resigned (now BACKUP)\n",
      stderr: "",
    });
    expect((await run("resume", "web", "-s", socket)).stdout).toBe("web: resumed (now BACKUP)\n");
    expect(calls).toEqual(["resign web", "resume web"]);
  });

  it("exits 1 with the daemon's coded error, or its refusal, and 2 for a bad command line", async () => {
    const socket = await daemon(() => {
      throw Object.assign(new Error("no VRRP instance 'wbe' (instances: web)"), {
        code: "VRRP_UNKNOWN_INSTANCE",
      });
    });
    expect(await run("resign", "wbe", "-s", socket)).toEqual({
      code: 1,
      stdout: "",
      stderr: "vipd vrrp: VRRP_UNKNOWN_INSTANCE: no VRRP instance 'wbe' (instances: web)\n",
    });
    const none = await daemon(() => ({ ok: false, error: "this daemon has no VRRP instances" }));
    expect(await run("resign", "web", "-s", none)).toMatchObject({
      code: 1,
      stderr: "vipd vrrp: API_ERROR: this daemon has no VRRP instances\n",
    });
    for (const argv of [[], ["leave", "web"], ["resign"], ["resign", "a", "b"]]) {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(vrrpCommand.usage);
    }
  });
});

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ServerAdminAction } from "../../../src/api/server.js";
import { serverCommand } from "../../../src/cli/server.js";
import { apiHarness } from "./api-harness.js";

const api = apiHarness("server");
const { run, dir } = api;
const daemon = (server: ServerAdminAction) => api.daemon({ actions: { server } });

describe("vipd server", () => {
  it("sends drain, disable and enable to the daemon and prints the new state", async () => {
    const calls: string[] = [];
    const socket = await daemon((action, vs, rs) => {
      calls.push(`${action} ${vs} ${rs}`);
      return { ok: true, state: action === "enable" ? "up" : action === "drain" ? "drain" : "disabled" };
    });
    expect(await run("drain", "web", "10.0.0.21:80", "-s", socket)).toEqual({
      code: 0,
      stdout: "10.0.0.21:80 of web: drain (now drain)\n",
      stderr: "",
    });
    expect((await run("disable", "web", "10.0.0.21:80", "-s", socket)).stdout).toBe(
      "10.0.0.21:80 of web: disable (now disabled)\n",
    );
    expect((await run("enable", "web", "10.0.0.21:80", "-s", socket)).code).toBe(0);
    expect(calls).toEqual(["drain web 10.0.0.21:80", "disable web 10.0.0.21:80", "enable web 10.0.0.21:80"]);
  });

  it("exits 1 with the daemon's coded error when it refuses", async () => {
    const socket = await daemon(() => {
      throw Object.assign(new Error("virtual server 'web' has no real server 10.0.0.99:80"), {
        code: "HEALTH_UNKNOWN_REAL_SERVER",
      });
    });
    expect(await run("drain", "web", "10.0.0.99:80", "-s", socket)).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "vipd server: HEALTH_UNKNOWN_REAL_SERVER: virtual server 'web' has no real server 10.0.0.99:80\n",
    });
  });

  it("exits 1 when no daemon answers, and 2 for a bad command line", async () => {
    const gone = await run("drain", "web", "10.0.0.21:80", "-s", join(dir, "nothing.sock"));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("nothing.sock");
    for (const argv of [[], ["stop", "web", "10.0.0.21:80"], ["drain", "web"], ["drain", "web", "a", "b"]]) {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(serverCommand.usage);
    }
  });
});

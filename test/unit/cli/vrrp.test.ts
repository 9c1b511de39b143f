import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ApiServer, type VrrpOperatorAction } from "../../../src/api/server.js";
import type { CliIo } from "../../../src/cli/command.js";
import { main } from "../../../src/cli/main.js";
import { vrrpCommand } from "../../../src/cli/vrrp.js";
import { sampleStatus } from "../api/fixtures.js";

const log = pino({ level: "silent" });
const dir = mkdtempSync(join(tmpdir(), "vipd-cli-vrrp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const servers: ApiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

let n = 0;
async function daemon(vrrp?: VrrpOperatorAction): Promise<string> {
  const socketPath = join(dir, `run${++n}`, "vipd.sock");
  servers.push(
    await ApiServer.start({ socketPath, provider: () => sampleStatus(), log, actions: vrrp ? { vrrp } : {} }),
  );
  return socketPath;
}

async function run(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await main(["vrrp", ...argv], io);
  return { code, stdout, stderr };
}

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

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ApiServer } from "../../../src/api/server.js";
import { formatStatus } from "../../../src/api/status.js";
import type { CliIo } from "../../../src/cli/command.js";
import { main } from "../../../src/cli/main.js";
import { DEFAULT_SOCKET_PATH, socketFromConfig, statusCommand } from "../../../src/cli/status.js";
import { sampleStatus } from "../api/fixtures.js";

const log = pino({ level: "silent" });
const dir = mkdtempSync(join(tmpdir(), "vipd-cli-status-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: ApiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

let n = 0;
async function daemon(provider = () => sampleStatus()): Promise<string> {
  const socketPath = join(dir, `run${++n}`, "vipd.sock");
  servers.push(await ApiServer.start({ socketPath, provider, log }));
  return socketPath;
}

async function run(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await main(["status", ...argv], io);
  return { code, stdout, stderr };
}

describe("vipd status", () => {
  it("prints the running daemon's state as a table", async () => {
    const socket = await daemon();
    expect(await run("--socket", socket)).toEqual({
      code: 0,
      stdout: formatStatus(sampleStatus()),
      stderr: "",
    });
  });

  it("prints the status document with --json", async () => {
    const socket = await daemon();
    const r = await run("--json", "-s", socket);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(sampleStatus());
  });

  it("finds the socket in the config file's api.socket", async () => {
    const socket = await daemon();
    const file = join(dir, `vipd${++n}.yaml`);
    writeFileSync(file, `node: lb1\napi:\n  socket: ${socket}\nvrrp:\n  instances: []\n`);
    const r = await run("-c", file);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("vipd 0.1.0 on lb1 (pid 4242), up 3h 2m");
  });

  it("says clearly that vipd is not running, and exits 1", async () => {
    const socket = join(dir, "nothing-here", "vipd.sock");
    expect(await run("--socket", socket)).toEqual({
      code: 1,
      stdout: "",
      stderr: `vipd is not running (no answer on ${socket}: ENOENT)\n`,
    });
  });

  it("reports a daemon that answers with an error, and exits 1", async () => {
    const socket = await daemon(() => {
      throw Object.assign(new Error("the VRRP worker is not running"), { code: "VRRP_WORKER_GONE" });
    });
    const r = await run("--socket", socket);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `vipd status: API_ERROR: vipd answered HTTP 500 on ${socket}: VRRP_WORKER_GONE: the VRRP worker is not running\n`,
    );
  });

  it("rejects a bad command line with exit 2", async () => {
    const both = await run("-c", "/x.yaml", "--socket", "/y.sock");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("give either -c FILE or --socket PATH, not both");
    expect((await run("--bogus")).code).toBe(2);
    expect((await run("extra")).code).toBe(2);
  });

  it("has help", async () => {
    const r = await run("--help");
    expect(r).toEqual({ code: 0, stdout: statusCommand.usage, stderr: "" });
    expect(statusCommand.usage).toContain("curl --unix-socket /run/vipd/vipd.sock http://vipd/status");
  });
});

describe("socketFromConfig", () => {
  it("reads api.socket, even from a file that would not validate", () => {
    const file = join(dir, "invalid.yaml");
    writeFileSync(file, "api: { socket: /srv/vipd/ctl.sock }\nbogus_key: 1\n");
    expect(socketFromConfig(file)).toBe("/srv/vipd/ctl.sock");
  });

  it("falls back to the default socket when the file cannot be read or says nothing usable", () => {
    expect(DEFAULT_SOCKET_PATH).toBe("/run/vipd/vipd.sock");
    expect(socketFromConfig(join(dir, "missing.yaml"))).toBe(DEFAULT_SOCKET_PATH);
    const cases = ["node: lb1\n", "api: { socket: relative.sock }\n", "api: [1, 2\n", ""];
    for (const [i, text] of cases.entries()) {
      const file = join(dir, `case${i}.yaml`);
      writeFileSync(file, text);
      expect(socketFromConfig(file)).toBe(DEFAULT_SOCKET_PATH);
    }
  });
});

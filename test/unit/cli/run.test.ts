import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CliIo } from "../../../src/cli/command.js";
import { runDaemon } from "../../../src/cli/run.js";

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}

const dir = mkdtempSync(join(tmpdir(), "vipd-run-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]) {
  const c = capture();
  const code = await runDaemon(args, c.io);
  return { code, stdout: c.out(), stderr: c.err() };
}

describe("vipd run (command line)", () => {
  it("--help prints the usage, with the debug hook's variable", async () => {
    const r = await run("--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: vipd run [-c FILE]");
    expect(r.stdout).toContain("VIPD_DEBUG_BLOCK_MAIN_MS");
  });

  it("rejects unknown options and stray arguments with exit 2", async () => {
    expect((await run("--frobnicate")).code).toBe(2);
    const r = await run("-c", "x.yaml", "extra");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unexpected argument 'extra'");
  });

  it("an invalid config prints FILE:LINE:COL lines and exits 1 without starting anything", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "vrrp:\n  instances:\n    - name: web\n      interface: eth0\n      vrid: 300\n");
    const r = await run("-c", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:5:\\d+: `, "m"));
  });

  it("a missing config file exits 1", async () => {
    const file = join(dir, "missing.yaml");
    const r = await run("-c", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:1:1: cannot read: ENOENT`);
  });
});

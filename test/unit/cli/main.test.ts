import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CliCommand, CliIo } from "../../../src/cli/command.js";
import { COMMANDS, main } from "../../../src/cli/main.js";

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}

async function run(...argv: string[]) {
  const c = capture();
  const code = await main(argv, c.io);
  return { code, stdout: c.out(), stderr: c.err() };
}

const repo = new URL("../../../", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "vipd-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("vipd check", () => {
  it("prints FILE: OK with counts and exits 0 for a valid file", async () => {
    const file = join(repo, "config/lb1.yaml");
    expect(await run("check", "-c", file)).toEqual({
      code: 0,
      stdout: `${file}: OK (2 instances, 2 virtual servers)\n`,
      stderr: "",
    });
  });

  it("prints warnings as FILE:LINE:COL: warning: lines on stderr and still exits 0", async () => {
    const file = join(dir, "warn.yaml");
    writeFileSync(
      file,
      `vrrp:
  instances:
    - { name: a, interface: eth0, vrid: 1, priority: 100, virtual_ips: [10.0.0.1/24], track_interfaces: [{ name: eth1, weight: -50 }] }
    - { name: b, interface: eth1, vrid: 2, priority: 100, virtual_ips: [10.0.1.1/24] }
  sync_groups: [{ name: g, instances: [a, b] }]
`,
    );
    const r = await run("check", "-c", file);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${file}: OK (2 instances, 0 virtual servers)\n`);
    expect(r.stderr).toMatch(
      new RegExp(`^${file.replace(/[.]/g, "\\.")}:5:40: warning: instance 'a' tracks eth1 \\(weight -50\\)`),
    );
  });

  it("accepts the file as an argument and --config", async () => {
    const file = join(repo, "config/lb2.yaml");
    expect((await run("check", file)).code).toBe(0);
    expect((await run("check", "--config", file)).code).toBe(0);
  });

  it("prints one FILE:LINE:COL line per error on stderr and exits 1", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      `vrrp:
  instances:
    - name: web
      interface: eth0
      vrid: 300
      priorty: 100
      virtual_ips: [10.0.0.1/24]
  sync_groups: [{ name: g, instances: [wbe] }]
virtual_servers:
  - { name: w, address: 10.0.0.1, port: 80, scheduler: lcc }
alerts:
  webhooks: [{ url: "gopher://x" }]
`,
    );
    const result = await run("check", "-c", file);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr.trimEnd().split("\n")).toEqual([
      `${file}:5:13: vrid 300 is out of range (1..255)`,
      `${file}:6:7: unknown key 'priorty' (did you mean 'priority'?)`,
      `${file}:8:40: unknown instance 'wbe' (did you mean 'web'?)`,
      `${file}:10:56: unknown scheduler 'lcc' (did you mean 'lc'?); expected one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh`,
      `${file}:12:21: webhook URL 'gopher://x' must use http or https`,
    ]);
  });

  it("reports an unreadable file as one line and exits 1", async () => {
    const file = join(dir, "nope.yaml");
    expect(await run("check", "-c", file)).toEqual({
      code: 1,
      stdout: "",
      stderr: `${file}:1:1: cannot read: ENOENT (no such file)\n`,
    });
  });

  it("defaults to /etc/vipd/vipd.yaml", async () => {
    const result = await run("check");
    // Whatever this machine has there, the default path is the one checked.
    expect(`${result.stdout}${result.stderr}`.startsWith("/etc/vipd/vipd.yaml:")).toBe(true);
  });

  it("exits 2 on a bad command line", async () => {
    const unknown = await run("check", "--frob");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^vipd check: Unknown option '--frob'/);
    expect(unknown.stderr).toContain("Usage: vipd check");
    expect((await run("check", "a.yaml", "b.yaml")).code).toBe(2);
    expect((await run("check", "-c", "a.yaml", "b.yaml")).code).toBe(2);
  });

  it("prints its help with --help", async () => {
    const result = await run("check", "--help");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: vipd check \[-c FILE \| FILE\]/);
  });
});

describe("vipd", () => {
  it("prints usage for --help, -h and help, listing every command", async () => {
    for (const flag of ["--help", "-h", "help"]) {
      const result = await run(flag);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: vipd <command> \[options\]/);
      for (const command of COMMANDS) expect(result.stdout).toContain(`  ${command.name} `);
    }
    expect(COMMANDS.map((c) => c.name)).toEqual(["run", "check", "status", "server", "vrrp", "migrate"]);
  });

  it("prints a command's usage for help <command>", async () => {
    const result = await run("help", "run");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: vipd run/);
  });

  it("exits 2 with usage on stderr without a command, or for an unknown command or option", async () => {
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^Usage: vipd/);
    const unknown = await run("chekc");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^vipd: unknown command 'chekc' \(did you mean 'check'\?\)\n\nUsage: vipd/,
    );
    expect((await run("help", "frob")).code).toBe(2);
    expect((await run("--frob")).code).toBe(2);
  });

  it("prints the package version", async () => {
    expect(await run("--version")).toEqual({ code: 0, stdout: "vipd 0.1.0\n", stderr: "" });
  });

  it("passes the arguments after the command to it and returns its exit code", async () => {
    const seen: string[][] = [];
    const echo: CliCommand = {
      name: "echo",
      summary: "records its arguments",
      usage: "",
      run: (args) => {
        seen.push(args);
        return Promise.resolve(7);
      },
    };
    const c = capture();
    expect(await main(["echo", "-x", "y"], c.io, [echo])).toBe(7);
    expect(seen).toEqual([["-x", "y"]]);
  });

  it("turns a command's exception into exit 1 with a message", async () => {
    const boom: CliCommand = {
      name: "boom",
      summary: "always fails",
      usage: "",
      run: () => Promise.reject(Object.assign(new Error("it broke"), { code: "X_BROKE" })),
    };
    const c = capture();
    expect(await main(["boom"], c.io, [...COMMANDS, boom])).toBe(1);
    expect(c.err()).toBe("vipd boom: X_BROKE: it broke\n");
  });
});

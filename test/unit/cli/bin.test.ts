import { spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";

const repo = new URL("../../../", import.meta.url).pathname;

// bin/vipd runs the compiled dist/: build it first, as `npm run build` does.
beforeAll(() => {
  const build = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: repo, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
}, 120_000);

function vipd(...args: string[]) {
  return spawnSync(process.execPath, ["bin/vipd", ...args], { cwd: repo, encoding: "utf8" });
}

describe("bin/vipd", () => {
  it("is an executable node ESM launcher", () => {
    expect(readFileSync(`${repo}bin/vipd`, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(() => accessSync(`${repo}bin/vipd`, constants.X_OK)).not.toThrow();
  });

  it("checks a valid config: exit 0 and the OK line", () => {
    const result = vipd("check", "-c", "config/lb1.yaml");
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("config/lb1.yaml: OK (2 instances, 2 virtual servers)\n");
    expect(result.status).toBe(0);
  });

  it("checks a missing config: exit 1 and one FILE:1:1 line", () => {
    const result = vipd("check", "-c", "config/does-not-exist.yaml");
    expect(result.stderr).toBe("config/does-not-exist.yaml:1:1: cannot read: ENOENT (no such file)\n");
    expect(result.status).toBe(1);
  });

  it("exits 2 for an unknown command", () => {
    const result = vipd("frobnicate");
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});

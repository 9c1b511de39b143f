import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig, loadConfigOrThrow } from "../../../src/config/load.js";
import { VipdError } from "../../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "vipd-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("loadConfig", () => {
  it("reports a missing file as one issue at 1:1 instead of throwing", () => {
    const file = join(dir, "missing.yaml");
    expect(loadConfig(file)).toEqual({
      ok: false,
      errors: [{ file, line: 1, col: 1, path: "", message: "cannot read: ENOENT (no such file)" }],
    });
  });

  it("reports a directory as unreadable", () => {
    const result = loadConfig(dir);
    expect(result.errors).toEqual([
      { file: dir, line: 1, col: 1, path: "", message: "cannot read: EISDIR (is a directory)" },
    ]);
  });

  it("parses a file and names it in issues", () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "vrrp:\n  instancs: []\n");
    const result = loadConfig(file);
    expect(result.ok).toBe(false);
    expect(result.errors[0]).toMatchObject({
      file,
      line: 2,
      col: 3,
      message: "unknown key 'instancs' (did you mean 'instances'?)",
    });
  });

  it("returns the config for a valid file; loadConfigOrThrow throws CONFIG_INVALID otherwise", () => {
    const good = join(dir, "good.yaml");
    writeFileSync(good, "node: n1\nvirtual_servers:\n  - { name: w, address: 10.0.0.1, port: 80 }\n");
    const result = loadConfig(good);
    expect(result.ok && result.config.node).toBe("n1");
    expect(loadConfigOrThrow(good).config.virtualServers).toHaveLength(1);
    const bad = join(dir, "bad2.yaml");
    writeFileSync(bad, "node: n1\n");
    expect(() => loadConfigOrThrow(bad)).toThrow(VipdError);
    try {
      loadConfigOrThrow(bad);
    } catch (err) {
      expect((err as VipdError).code).toBe("CONFIG_INVALID");
      expect((err as VipdError).context.file).toBe(bad);
    }
  });
});

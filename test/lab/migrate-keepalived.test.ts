/**
 * keepalived 2.2.7 as the oracle for `vipd migrate`: its own config check (`keepalived -t`) runs
 * on each of the deployed-style files in test/unit/migrate/fixtures/deployed, in a namespace that
 * has the interfaces they name, and every line keepalived complains about ("(FILE: Line N) …")
 * must be a line migrate warns about. A construct keepalived rejects, skips or reads differently
 * from what it looks like can then never pass through migrate without a word.
 *
 * keepalived reports a few things when it closes a block (an HTTP_GET without url, at its '}'):
 * such a complaint counts as warned when migrate warned at the line that opened the block.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertKeepalived } from "../../src/migrate/convert.js";
import { parseKeepalivedFile } from "../../src/migrate/parse.js";
import { Lab } from "./harness/netns.js";

const FIXTURES = fileURLToPath(new URL("../unit/migrate/fixtures/", import.meta.url));

/**
 * keepalived notes that are not about how it reads the file (nothing for migrate to say): a
 * deprecated spelling, and interfaces this namespace does not have (the host's business).
 */
const NOT_ABOUT_READING = /is deprecated - please use|WARNING - interface \S+ for .* doesn't exist/;
/** unsupported.conf names a script_user that no test machine has, which keepalived resolves at check time. */
const ENVIRONMENT_BOUND = new Set(["unsupported.conf"]);

describe("migrate warns on every line keepalived -t complains about", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({ prefix: "vkmg" });
    await lab.bridge("lan");
    await lab.bridge("back");
    await lab.host("d1", { lan: "10.0.0.11/24", back: "10.1.0.11/24" });
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  // The deployed-style files, and the unit tests' other top-level fixtures.
  const files = [
    ...readdirSync(`${FIXTURES}deployed`)
      .filter((f) => f.endsWith(".conf"))
      .map((f) => `deployed/${f}`),
    ...readdirSync(FIXTURES).filter((f) => f.endsWith(".conf") && !ENVIRONMENT_BOUND.has(f)),
  ].sort();

  it("has files to check", () => {
    expect(files.filter((f) => f.startsWith("deployed/")).length).toBeGreaterThanOrEqual(12);
  });

  for (const file of files) {
    it(file, async () => {
      const path = `${FIXTURES}${file}`;
      const r = await lab.exec("d1", ["keepalived", "-t", "-f", path, "-l", "-n"], { timeoutMs: 20_000 });
      const output = `${r.stdout}\n${r.stderr}`;
      const complaints = new Map<number, string>();
      for (const m of output.matchAll(/\((?:[^()]*: )?Line (\d+)\) (.*)/g)) {
        if (!NOT_ABOUT_READING.test(m[2] as string)) complaints.set(Number(m[1]), m[2] as string);
      }
      const warned = new Set(convertKeepalived(parseKeepalivedFile(path)).warnings.map((w) => w.line));
      const openers = blockOpeners(readFileSync(path, "utf8"));
      const covered = (line: number) => warned.has(line) || warned.has(openers.get(line) ?? 0);
      const silent = [...complaints]
        .filter(([line]) => !covered(line))
        .map(([line, text]) => `${line}: ${text}`);
      expect(silent, `keepalived said:\n${output}`).toEqual([]);
    });
  }
});

/** For each line that closes a block ("}"), the line that opened it (1-based). */
function blockOpeners(text: string): Map<number, number> {
  const out = new Map<number, number>();
  const open: number[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/[!#].*$/, "");
    for (const ch of line) {
      if (ch === "{") open.push(i + 1);
      else if (ch === "}") {
        const from = open.pop();
        if (from !== undefined) out.set(i + 1, from);
      }
    }
  });
  return out;
}

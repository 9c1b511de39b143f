import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { diff, summarizeDiff } from "../../../src/config/diff.js";
import { formatIssue } from "../../../src/config/issues.js";
import { CONFIG_KEYS } from "../../../src/config/keys.js";
import { loadConfig } from "../../../src/config/load.js";

const root = new URL("../../../", import.meta.url);
const path = (p: string) => new URL(p, root).pathname;

function load(file: string) {
  const result = loadConfig(path(file));
  expect(result.errors.map(formatIssue)).toEqual([]);
  if (!result.ok) throw new Error("unreachable");
  return result.config;
}

describe("config/ examples", () => {
  it("lb1.yaml and lb2.yaml are valid", () => {
    const lb1 = load("config/lb1.yaml");
    const lb2 = load("config/lb2.yaml");
    expect(lb1.node).toBe("lb1");
    expect(lb2.node).toBe("lb2");
    expect(lb1.vrrp.instances.map((i) => i.priority)).toEqual([150, 150]);
    expect(lb2.vrrp.instances.map((i) => i.priority)).toEqual([100, 100]);
    expect(lb1.virtualServers.find((v) => v.name === "web")?.forwarding).toBe("dr");
    const web = lb1.virtualServers.find((v) => v.name === "web");
    expect(web?.checks?.map((c) => c.type)).toEqual(["http"]);
    expect(web).toMatchObject({ slowStartMs: 30_000, maxDown: { percent: 50 } });
    expect(web?.checks?.[0]).toMatchObject({
      intervalMs: 2000,
      fastIntervalMs: 1000,
      downIntervalMs: 30_000,
    });
    expect(web?.realServers.map((rs) => rs.checks.map((c) => c.type))).toEqual([
      ["http"],
      ["http", "agent"],
      ["http"],
    ]);
    const tls = lb1.virtualServers.find((v) => v.name === "web-tls")?.checks?.[0];
    expect(tls?.type === "https" && tls.tls).toEqual({
      verify: true,
      caFile: "/etc/vipd/ca/internal.pem",
      sni: "www.example.com",
    });
    expect(lb1.health).toEqual({ stateDir: "/var/lib/vipd", concurrency: 1000, tlsConcurrency: 64 });
    expect(lb1.alerts.webhooks).toHaveLength(1);
  });

  it("lb1 and lb2 differ only in node name and priorities", () => {
    const d = diff(load("config/lb1.yaml"), load("config/lb2.yaml"));
    expect(summarizeDiff(d)).toEqual([
      "node changed",
      "vrrp instance 'web' changed: priority",
      "vrrp instance 'web6' changed: priority",
    ]);
  });
});

describe("config/vipd.schema.json", () => {
  const schema = JSON.parse(readFileSync(path("config/vipd.schema.json"), "utf8")) as {
    properties: Record<string, unknown>;
    definitions: Record<string, { properties?: Record<string, unknown> }>;
  };

  it("has the same keys as the parser, section by section", () => {
    expect(Object.keys(schema.properties).sort()).toEqual([...CONFIG_KEYS.root].sort());
    for (const [section, keys] of Object.entries(CONFIG_KEYS)) {
      if (section === "root") continue;
      expect({ section, keys: Object.keys(schema.definitions[section]?.properties ?? {}).sort() }).toEqual({
        section,
        keys: [...keys].sort(),
      });
    }
  });
});

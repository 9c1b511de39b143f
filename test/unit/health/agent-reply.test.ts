import { describe, expect, it } from "vitest";
import { MAX_AGENT_LINE, parseAgentReply } from "../../../src/health/agent-reply.js";
import type { AgentReply } from "../../../src/health/types.js";

describe("parseAgentReply", () => {
  const table: [line: string, expected: AgentReply][] = [
    ["75%", { weight: { percent: 75 } }],
    ["weight:50%", { weight: { percent: 50 } }],
    ["weight:10", { weight: { absolute: 10 } }],
    ["drain", { admin: "drain" }],
    ["maint", { admin: "maint" }],
    ["ready", { admin: "ready" }],
    ["up", { health: "up" }],
    ["down#disk full", { health: "down", reason: "disk full" }],
    ["fail", { health: "down" }],
    ["stopped #maintenance window", { health: "down", reason: "maintenance window" }],
    ["up 75% drain", { health: "up", weight: { percent: 75 }, admin: "drain" }],
    ["UP", { health: "up" }],
    ["  50%  \r\n", { weight: { percent: 50 } }],
    ["", {}],
    ["garbage", {}],
    // Above 100% is clamped: the configured weight is the ceiling.
    ["110%", { weight: { percent: 100 } }],
    // Not digits-then-%: ignored, as HAProxy ignores it.
    ["-5%", {}],
    ["weight:abc", {}],
    ["maxconn:30 up", { health: "up" }],
    // Beyond the grammar the brief lists:
    ["up,50%\tDRAIN", { health: "up", weight: { percent: 50 }, admin: "drain" }],
    ["down up", { health: "up" }], // the last of a category wins
    ["50% 20%", { weight: { percent: 20 } }],
    ["0%", { weight: { percent: 0 } }],
    ["Weight:0", { weight: { absolute: 0 } }],
    ["weight:65535", { weight: { absolute: 65535 } }],
    ["weight:65536", {}], // beyond IPVS's range: ignored, not clamped
    ["10", {}], // a bare number is not a weight
    ["50%x 1.5%", {}],
    ["#", {}],
    ["# only a reason ", { reason: "only a reason" }],
    ["drain # a # b", { admin: "drain", reason: "a # b" }],
    ["up\ndown", { health: "up" }], // only the first line counts
    ["maint\r", { admin: "maint" }],
    ["SSH-2.0-OpenSSH_9.2p1 Debian-2", {}],
  ];

  it.each(table)("%j", (line, expected) => {
    expect(parseAgentReply(line)).toEqual(expected);
  });

  it("rejects a line with control characters: a binary protocol, not an agent", () => {
    expect(parseAgentReply("\x16\x03\x01\x02\x00")).toEqual({ error: expect.stringMatching(/control/) });
    expect(parseAgentReply("up\x00")).toHaveProperty("error");
  });

  it("rejects a line longer than the cap, and accepts one at it", () => {
    const atCap = "up" + " ".repeat(MAX_AGENT_LINE - 2);
    expect(parseAgentReply(atCap)).toEqual({ health: "up" });
    expect(parseAgentReply(atCap + " ")).toEqual({ error: expect.stringMatching(/longer than 1024/) });
  });
});

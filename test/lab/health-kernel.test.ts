/**
 * Health checks against the real thing: the lab kernel (Debian's, under QEMU) runs an LVS-DR
 * director with `vipd run`, three real servers and a client, in namespaces of their own
 * (test/lab/fixtures/health/guest.ts). `ipvsadm -Ln` is the witness for the table, the real
 * servers count their own health requests, and the client's requests go through the VIP.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runInLabKernel } from "./harness/lab-kernel.js";

const results = new Map<string, Record<string, unknown>>();
let output = "";

beforeAll(async () => {
  const r = await runInLabKernel({
    script: [
      "set -e",
      "modprobe -a ip_vs ip_vs_rr veth bridge",
      "node --import ./test/lab/fixtures/ts-loader.mjs test/lab/fixtures/health/guest.ts",
    ].join("\n"),
    // About 5 minutes under emulation on an idle 2-core machine; room for a loaded one.
    timeoutMs: 900_000,
  });
  output = r.output;
  for (const m of r.output.matchAll(/^@@HEALTH-RESULT (\S+) (.*)$/gm))
    results.set(m[1] as string, JSON.parse(m[2] as string));
  if (r.code !== 0) throw new Error(`the guest exited with ${r.code}:\n${r.output.slice(-4000)}`);
}, 920_000);

function scenario(name: string): Record<string, unknown> {
  const setup = results.get("setup");
  if (setup) throw new Error(`the lab did not come up:\n${String(setup.error)}\n${output.slice(-4000)}`);
  const r = results.get(name);
  if (!r) throw new Error(`no result for ${name}; guest output:\n${output.slice(-4000)}`);
  if (typeof r.error === "string")
    throw new Error(`${name} failed in the guest:\n${r.error}\n${output.slice(-3000)}`);
  return r;
}

const R1 = "10.78.0.21";
const R2 = "10.78.0.22";
const R3 = "10.78.0.23";

describe("health checks drive the IPVS table in the lab kernel", () => {
  it("starts every server down and adds each after its first check; identical probes run once", () => {
    const r = scenario("first");
    // web, inhibit, slow and agent share one http probe per real server: 3 probes for 11 http
    // checks, plus 3 agent, 3 tcp:7000 and 3 tcp:7001 probes.
    expect(r.probes).toBe(12);
    expect(r.subscriptions).toBe(20);
  });

  it("a killed HTTP server leaves ipvsadm after about fall × interval; the client keeps being served", () => {
    const r = scenario("kill");
    expect(r.web).toEqual({ [R2]: 1, [R3]: 1 });
    expect(r.inhibit).toEqual({ [R1]: 0, [R2]: 1, [R3]: 1 });
    expect(r.reason).toBe("refused");
    expect(r.before).toEqual({ counts: { r1: 4, r2: 4, r3: 4 }, errors: 0 });
    expect(r.after).toEqual({ counts: { r2: 6, r3: 6 }, errors: 0 });
    expect(r.logs).toContainEqual({ vs: "web", rs: `${R1}:80`, to: "down", code: "refused" });
  });

  it("a restarted server returns after rise, and slow start ramps its weight through SET_DEST steps", () => {
    const r = scenario("restart");
    expect(r.inhibit).toEqual({ [R1]: 1, [R2]: 1, [R3]: 1 });
    const weights = r.weights as number[];
    expect(weights[weights.length - 1]).toBe(8);
    expect(weights.length).toBeGreaterThanOrEqual(3);
    expect(weights[0]).toBeLessThan(8);
    expect([...weights].sort((a, b) => a - b)).toEqual(weights);
  });

  it("a 404, a body mismatch and a closed TCP port each take a server out with their reason", () => {
    expect(scenario("reasons")).toEqual({
      status404: "status 404",
      body: { code: "body_mismatch", reason: "body lacks 'ok'" },
      closedPort: { code: "refused", reason: "refused" },
    });
  });

  it("vipd server drain / disable / enable change the table and send events", () => {
    const r = scenario("admin");
    expect(r.codes).toEqual([0, 0, 0]);
    expect(r.drained).toEqual({ [R1]: 1, [R2]: 0, [R3]: 1 });
    expect(r.disabled).toEqual({ [R1]: 1, [R3]: 1 });
    expect(r.stateDisabled).toBe("disabled");
    expect(r.enabled).toEqual({ [R1]: 1, [R2]: 1, [R3]: 1 });
    expect((r.unknown as { code: number; out: string }).code).toBe(1);
    expect((r.unknown as { out: string }).out).toContain("has no real server 10.78.0.99:80");
    expect(r.events).toEqual(["drain", "disable", "enable"]);
  });

  it("an agent's drain, weight and ready answers set the weight (drain holds until ready)", () => {
    expect(scenario("agent")).toEqual({ drained: 0, stillDrained: 0, half: 5, full: 10 });
  });

  it("a reload that adds a server keeps the others' state and probes nothing twice at once", () => {
    const r = scenario("reload");
    expect(r.reloaded).toBe(true);
    // r3 is already checked for `web`: it joins `slow` at once, with its known health.
    expect(r.slow).toEqual({ [R1]: 8, [R2]: 8, [R3]: 8 });
    expect(r.transitions).toEqual([]);
    expect(r.maxConcurrent).toEqual([1, 1]);
    // One shared http probe per real server at 1 s (±10 % jitter), not one per virtual server.
    expect(r.requestsPerSecond).toBeLessThan(1.5);
  });

  it("the mass-failure guard keeps all but max_down servers in when every check fails at once", () => {
    const r = scenario("guard");
    expect(r.table).toEqual({ [R1]: 1, [R2]: 1 });
    expect(r.states).toEqual([
      { rs: `${R1}:80`, state: "guard" },
      { rs: `${R2}:80`, state: "guard" },
      { rs: `${R3}:80`, state: "down" },
    ]);
  });

  it("the sorry server replaces all real servers when all are down, and quorum events fire", () => {
    const r = scenario("sorry");
    expect(r.down).toEqual({ "10.78.0.29": 1 });
    expect(r.up).toEqual({ [R1]: 1, [R2]: 1, [R3]: 1 });
    expect(r.quorum).toEqual(["quorum.lost", "quorum.gained"]);
  });

  it("kill -9 and a restart neither empty the table nor bring back a dead server", () => {
    const r = scenario("kill9");
    const healthy = { [R2]: 1, [R3]: 1 };
    expect(r.afterKill).toEqual(healthy);
    expect(r.atStart).toEqual(healthy);
    for (const s of r.samples as unknown[]) expect(s).toEqual(healthy);
    // vipd's own record: the restart changed nothing in the service (r1 was already out).
    expect(r.changes).toEqual([]);
  });
});

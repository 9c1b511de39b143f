import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import type { VrrpNotifyConfig } from "../../../src/config/types.js";
import {
  groupState,
  MAX_QUEUED_PER_SUBJECT,
  mergeViews,
  Notifier,
  type NotifyConfigView,
  notifyConfigView,
  type RunCommand,
  realServerHookCommands,
  vrrpHookCommands,
} from "../../../src/engine/notify.js";
import type { CommandOutcome } from "../../../src/sys/command.js";
import type { TransitionEvent } from "../../../src/vrrp/instance.js";
import { captureLogger } from "../vrrp/driver-fakes.js";

const full: VrrpNotifyConfig = {
  master: ["/hooks/master", "a b"],
  backup: ["/hooks/backup"],
  fault: ["/hooks/fault"],
  stop: ["/hooks/stop"],
  any: ["/hooks/notify", "--flag"],
  timeoutMs: 5000,
};

describe("vrrpHookCommands: keepalived's order and arguments", () => {
  it("runs the state's own command as written, then `any` with INSTANCE name STATE priority", () => {
    expect(vrrpHookCommands(full, "INSTANCE", "web", "MASTER", 150, "master_down")).toEqual([
      { argv: ["/hooks/master", "a b"], env: { VIPD_REASON: "master_down" }, timeoutMs: 5000 },
      {
        argv: ["/hooks/notify", "--flag", "INSTANCE", "web", "MASTER", "150"],
        env: { VIPD_REASON: "master_down" },
        timeoutMs: 5000,
      },
    ]);
  });

  it("maps each state to its own command; STOP runs `stop`", () => {
    const own = (state: "MASTER" | "BACKUP" | "FAULT" | "STOP") =>
      vrrpHookCommands(full, "GROUP", "g", state, 0, "r")[0]?.argv[0];
    expect([own("MASTER"), own("BACKUP"), own("FAULT"), own("STOP")]).toEqual([
      "/hooks/master",
      "/hooks/backup",
      "/hooks/fault",
      "/hooks/stop",
    ]);
    expect(vrrpHookCommands(full, "GROUP", "g", "STOP", 0, "r")[1]?.argv.slice(2)).toEqual([
      "GROUP",
      "g",
      "STOP",
      "0",
    ]);
  });

  it("only what is configured runs", () => {
    expect(vrrpHookCommands(undefined, "INSTANCE", "web", "MASTER", 1, "r")).toEqual([]);
    expect(vrrpHookCommands({ timeoutMs: 1, any: ["/n"] }, "INSTANCE", "web", "FAULT", 1, "r")).toHaveLength(
      1,
    );
    expect(vrrpHookCommands({ timeoutMs: 1, backup: ["/b"] }, "INSTANCE", "web", "MASTER", 1, "r")).toEqual(
      [],
    );
  });

  it("a real server's up or down runs as written, with the server in the environment", () => {
    const change = {
      virtualServer: "www",
      realServer: "[2001:db8::21]:80",
      address: "2001:db8::21",
      port: 80,
      serving: false,
      reason: "refused",
    };
    expect(realServerHookCommands({ up: ["/up"], down: ["/down", "x"], timeoutMs: 9 }, change)).toEqual([
      {
        argv: ["/down", "x"],
        env: {
          VIPD_VIRTUAL_SERVER: "www",
          VIPD_RS_ADDRESS: "2001:db8::21",
          VIPD_RS_PORT: "80",
          VIPD_RS_STATE: "DOWN",
          VIPD_REASON: "refused",
        },
        timeoutMs: 9,
      },
    ]);
    expect(realServerHookCommands({ up: ["/up"], timeoutMs: 9 }, change)).toEqual([]);
  });
});

describe("groupState", () => {
  it("is the members' common state, and undefined while they disagree or one is unknown", () => {
    const s = new Map([
      ["a", "MASTER" as const],
      ["b", "BACKUP" as const],
    ]);
    expect(groupState(["a", "b"], s)).toBeUndefined();
    s.set("b", "MASTER");
    expect(groupState(["a", "b"], s)).toBe("MASTER");
    expect(groupState(["a", "b", "c"], s)).toBeUndefined();
  });
});

const YAML = `
vrrp:
  instances:
    - { name: a, interface: eth0, vrid: 1, virtual_ips: [10.0.0.1/24], notify: { any: [/n] } }
    - { name: b, interface: eth0, vrid: 2, virtual_ips: [10.0.0.2/24] }
  sync_groups:
    - { name: g, instances: [a, b], notify: { master: [/gm], timeout: 2s } }
virtual_servers:
  - name: www
    address: 10.0.0.1
    port: 80
    notify: { down: [/vs-down] }
    real_servers:
      - { address: 10.0.1.1 }
      - { address: 10.0.1.2, notify: { up: [/rs-up] } }
`;

function view(yaml = YAML): NotifyConfigView {
  const result = parseConfig(yaml, "test.yaml");
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return notifyConfigView(result.config);
}

describe("notifyConfigView and mergeViews", () => {
  it("reads every instance, group member and real server (the virtual server's notify is inherited)", () => {
    const v = view();
    expect([...v.instances.keys()]).toEqual(["a", "b"]);
    expect(v.instances.get("b")).toBeUndefined();
    expect(v.groups.get("b")).toMatchObject({
      name: "g",
      members: ["a", "b"],
      notify: { master: ["/gm"], timeoutMs: 2000 },
    });
    expect(v.realServers.get("www/10.0.1.1:80")).toEqual({ down: ["/vs-down"], timeoutMs: 30_000 });
    expect(v.realServers.get("www/10.0.1.2:80")).toEqual({ up: ["/rs-up"], timeoutMs: 30_000 });
  });

  it("a merged view keeps what the reload removed and takes the new config for the rest", () => {
    const next = view(
      YAML.replace(
        "{ name: a, interface: eth0, vrid: 1, virtual_ips: [10.0.0.1/24], notify: { any: [/n] } }",
        "{ name: c, interface: eth0, vrid: 3, virtual_ips: [10.0.0.3/24], notify: { stop: [/new] } }",
      ).replace("instances: [a, b]", "instances: [c, b]"),
    );
    const merged = mergeViews(next, view());
    expect(merged.instances.get("a")).toEqual({ any: ["/n"], timeoutMs: 30_000 });
    expect(merged.instances.get("c")).toEqual({ stop: ["/new"], timeoutMs: 30_000 });
    // b is in the new config: its group is the new one, with c.
    expect(merged.groups.get("b")?.members).toEqual(["c", "b"]);
    // a is gone from the new config: its old group stays known for its stop.
    expect(merged.groups.get("a")?.members).toEqual(["a", "b"]);
  });
});

/** A runner whose commands finish when the test says so. */
function manualRunner() {
  const calls: {
    argv: readonly string[];
    env: Record<string, string>;
    signal: AbortSignal;
    finish: (o: CommandOutcome) => void;
  }[] = [];
  const run: RunCommand = (argv, opts) =>
    new Promise((resolve) => {
      calls.push({ argv, env: opts.env, signal: opts.signal, finish: resolve });
      opts.signal.addEventListener("abort", () => resolve({ kind: "aborted" }));
    });
  return { calls, run };
}

const tick = () => new Promise((r) => setImmediate(r));

function transition(instance: string, to: TransitionEvent["to"], priority = 100): TransitionEvent {
  return { instance, from: "BACKUP", to, reason: "master_down", priority, at: 0 };
}

describe("Notifier", () => {
  it("runs one subject's hooks one at a time, in order, and other subjects beside them", async () => {
    const { calls, run } = manualRunner();
    const { log } = captureLogger();
    const n = new Notifier(() => view(), run, log);
    n.vrrpTransition(transition("a", "BACKUP"));
    n.vrrpTransition(transition("a", "MASTER"));
    n.vrrpTransition(transition("b", "MASTER"));
    await tick();
    // a's first `any` runs and its second waits behind it; b has no hooks of its own, but with
    // b MASTER both members are, so the group's runs beside a's.
    expect(calls.map((c) => c.argv.join(" "))).toEqual(["/n INSTANCE a BACKUP 100", "/gm"]);
    calls[0]?.finish({ kind: "exit", code: 0, stderrLine: "" });
    await tick();
    expect(calls.map((c) => c.argv.join(" "))).toEqual([
      "/n INSTANCE a BACKUP 100",
      "/gm",
      "/n INSTANCE a MASTER 100",
    ]);
    expect(calls[1]?.env).toEqual({ VIPD_REASON: "master_down" });
  });

  it("notifies a group once per common state, when the last member arrives", async () => {
    const { calls, run } = manualRunner();
    const { log } = captureLogger();
    const n = new Notifier(() => view(YAML.replace("notify: { any: [/n] }", "")), run, log);
    n.vrrpTransition(transition("a", "MASTER"));
    await tick();
    expect(calls).toHaveLength(0);
    n.vrrpTransition(transition("b", "MASTER"));
    await tick();
    expect(calls.map((c) => c.argv)).toEqual([["/gm"]]);
    // a moves and comes back: the group never left MASTER as a whole, so nothing runs again.
    n.vrrpTransition(transition("a", "BACKUP"));
    n.vrrpTransition(transition("a", "MASTER"));
    await tick();
    expect(calls).toHaveLength(1);
  });

  it("kills a hook at its timeout, logs it, and goes on with the next", async () => {
    const signals: AbortSignal[] = [];
    // The first command hangs until it is killed; the second exits 3 at once.
    const run: RunCommand = (_argv, opts) =>
      new Promise((resolve) => {
        signals.push(opts.signal);
        if (signals.length > 1) resolve({ kind: "exit", code: 3, stderrLine: "no route" });
        opts.signal.addEventListener("abort", () => resolve({ kind: "aborted" }));
      });
    const { log, lines } = captureLogger();
    const yaml = YAML.replace("notify: { any: [/n] }", "notify: { any: [/n], timeout: 20ms }");
    const n = new Notifier(() => view(yaml), run, log);
    n.vrrpTransition(transition("a", "BACKUP"));
    n.vrrpTransition(transition("a", "FAULT"));
    await n.drain(5000);
    expect(signals.map((s) => s.aborted)).toEqual([true, false]);
    expect(lines.filter((l) => l.event === "notify.hook").map((l) => l.msg)).toEqual([
      "notify hook for instance a failed: /n INSTANCE a BACKUP 100: timed out after 20 ms (its process group was killed)",
      "notify hook for instance a failed: /n INSTANCE a FAULT 100: exit 3: no route",
    ]);
    expect(n.stats()).toEqual({ run: 2, failed: 2, dropped: 0 });
  });

  it("drops the oldest waiting hook beyond the bound, and drain kills what is left", async () => {
    const { calls, run } = manualRunner();
    const { log, lines } = captureLogger();
    const n = new Notifier(() => view(), run, log);
    for (let i = 0; i < MAX_QUEUED_PER_SUBJECT + 2; i++) n.vrrpTransition(transition("a", "BACKUP", i));
    await tick();
    expect(n.stats().dropped).toBe(1);
    expect(lines.some((l) => l.event === "notify.dropped")).toBe(true);
    await n.drain(10);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.signal.aborted).toBe(true);
    expect(lines.find((l) => l.event === "notify.abandoned")).toMatchObject({
      running: 1,
      waiting: MAX_QUEUED_PER_SUBJECT,
    });
  });

  it("a runner that throws is a failed hook, not a crash", async () => {
    const { log, lines } = captureLogger();
    const n = new Notifier(
      () => view(),
      () => Promise.reject(new Error("EAGAIN")),
      log,
    );
    n.vrrpTransition(transition("a", "MASTER"));
    await n.drain(1000);
    expect(n.stats()).toEqual({ run: 1, failed: 1, dropped: 0 });
    expect(lines.at(-1)?.msg).toBe("notify hook for instance a failed: /n INSTANCE a MASTER 100: EAGAIN");
  });

  it("real server changes use their own or their virtual server's hooks", async () => {
    const { calls, run } = manualRunner();
    const { log } = captureLogger();
    const n = new Notifier(() => view(), run, log);
    const rs = (address: string, serving: boolean) => ({
      virtualServer: "www",
      realServer: `${address}:80`,
      address,
      port: 80,
      serving,
      reason: "r",
    });
    n.realServerChange(rs("10.0.1.1", false));
    n.realServerChange(rs("10.0.1.2", false));
    n.realServerChange(rs("10.0.1.2", true));
    await tick();
    expect(calls.map((c) => c.argv)).toEqual([["/vs-down"], ["/rs-up"]]);
  });
});

/**
 * The VRRP lab harness itself, checked against keepalived alone: config generation, the
 * keepalived runner and its log parsing, the HTTP probe and its outage arithmetic, the packet
 * injector (keepalived must see and reject what it sends), and the webhook receiver fixture.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signBody, verifySignature } from "../../src/alert/events.js";
import { VRRP_MCAST_V4, validateAdvert } from "../../src/vrrp/packet.js";
import {
  createDirectorLab,
  type DirectorLab,
  masterDownMs,
  NET,
  skewMs,
  VIP_CIDR,
  VIP_URL,
  vipHolders,
} from "./harness/directors.js";
import { advertIntText, Keepalived, keepalivedConf } from "./harness/keepalived.js";
import { LineLog, nowMs } from "./harness/lines.js";
import { HttpProbe, longestOutage, type ProbeResult, parseProbeLine } from "./harness/probe.js";
import { parseLogLine, transitionOf, vipdYaml } from "./harness/vipd.js";
import {
  type AdvertBase,
  Injector,
  MALFORMED_KINDS,
  type MalformedKind,
  malformedAdvert,
} from "./harness/vrrp-inject.js";

describe("keepalived.conf generation", () => {
  it("writes advert_int in seconds for v2 and with centisecond decimals for v3", () => {
    expect(advertIntText(2, 1000)).toBe("1");
    expect(advertIntText(2, 3000)).toBe("3");
    expect(advertIntText(3, 1000)).toBe("1");
    expect(advertIntText(3, 100)).toBe("0.1");
    expect(advertIntText(3, 20)).toBe("0.02");
    expect(advertIntText(3, 1230)).toBe("1.23");
    expect(() => advertIntText(2, 100)).toThrow(/whole seconds/);
    expect(() => advertIntText(3, 15)).toThrow(/10 ms steps/);
  });

  it("writes one vrrp_instance per instance with the version in global_defs", () => {
    const conf = keepalivedConf({
      routerId: "d1",
      version: 3,
      instances: [
        {
          interface: "eth0",
          vrid: 51,
          priority: 150,
          advertIntervalMs: 100,
          preempt: false,
          virtualIps: ["10.77.0.100/24"],
        },
      ],
    });
    expect(conf).toContain("global_defs {\n  router_id d1\n  vrrp_version 3\n}");
    expect(conf).toContain("vrrp_instance VI_51 {");
    for (const line of [
      "  state BACKUP",
      "  interface eth0",
      "  virtual_router_id 51",
      "  priority 150",
      "  advert_int 0.1",
      "  nopreempt",
      "    10.77.0.100/24 dev eth0",
    ]) {
      expect(conf.split("\n")).toContain(line);
    }
  });
});

describe("vipd YAML generation and log parsing", () => {
  it("writes the config contract's keys", () => {
    const text = vipdYaml(
      {
        node: "d2",
        instances: [
          {
            name: "web",
            interface: "eth0",
            vrid: 51,
            priority: 100,
            version: 2,
            advertIntervalMs: 1000,
            virtualIps: ["10.77.0.100/24"],
          },
        ],
        webhooks: [{ url: "http://10.77.0.10:8080/hook", secret: "s" }],
      },
      { apiSocket: "/tmp/x/d2.sock", secretFile: (i) => `/tmp/x/d2.webhook${i}.secret` },
    );
    expect(text).toContain("node: d2");
    expect(text).toContain("socket: /tmp/x/d2.sock");
    expect(text).toContain("advert_interval: 1000ms");
    expect(text).toContain("version: 2");
    expect(text).toContain("secret_file: /tmp/x/d2.webhook0.secret");
    expect(text).toContain("- vrrp.state");
  });

  it("recognises transition lines and nothing else", () => {
    const line = (text: string) => ({ text, at: 0, stream: "stdout" as const });
    const t = transitionOf(
      line(
        '{"level":"info","msg":"BACKUP → MASTER (master_down)","instance":"web","from":"BACKUP","to":"MASTER","reason":"master_down"}',
      ),
    );
    expect(t).toMatchObject({ instance: "web", from: "BACKUP", to: "MASTER", reason: "master_down" });
    expect(transitionOf(line('{"level":"info","msg":"advert sent","from":"x","to":"y"}'))).toBeUndefined();
    expect(transitionOf(line("not json → at all"))).toBeUndefined();
    expect(parseLogLine("[1,2]")).toBeUndefined();
  });
});

describe("protocol timers", () => {
  it("computes Master_Down_Interval and Skew_Time as RFC 3768 and RFC 5798 define them", () => {
    expect(masterDownMs(3, 1000, 100)).toBeCloseTo(3609.375, 3);
    expect(masterDownMs(3, 100, 100)).toBeCloseTo(360.9375, 3);
    expect(masterDownMs(2, 1000, 100)).toBeCloseTo(3609.375, 3);
    expect(skewMs(3, 20, 100)).toBeCloseTo(12.1875, 4);
    expect(skewMs(2, 3000, 0)).toBe(1000);
  });
});

describe("probe arithmetic", () => {
  const r = (start: number, end: number, ok: boolean, what = ok ? "d1" : "TIMEOUT"): ProbeResult => ({
    start,
    end,
    ok,
    what,
  });

  it("parses the probe's lines", () => {
    expect(parseProbeLine("R 1000.125 1001.5 1 d2")).toEqual(r(1000.125, 1001.5, true, "d2"));
    expect(parseProbeLine("R 1000 2000 0 TIMEOUT")).toEqual(r(1000, 2000, false));
    expect(parseProbeLine("ready")).toBeUndefined();
  });

  it("measures the longest gap between answers by completion time", () => {
    const results = [
      r(0, 1, true),
      r(10, 11, true),
      r(20, 1020, false), // sent into the outage, timed out
      r(30, 1030, false),
      r(40, 352, true, "d2"), // queued behind ARP, answered once d2 took over
      r(350, 351, true, "d2"),
      r(360, 361, true, "d2"),
    ];
    const o = longestOutage(results);
    expect(o.outageMs).toBe(340);
    expect(o.before?.what).toBe("d1");
    expect(o.after).toEqual(r(350, 351, true, "d2"));
    expect(o.affected).toBe(3);
    expect(longestOutage(results, { from: 352 }).outageMs).toBe(9);
    expect(longestOutage([r(0, 1, true)]).outageMs).toBe(0);
  });
});

describe("malformed adverts", () => {
  const base: AdvertBase = {
    version: 3,
    vrid: 51,
    priority: 100,
    advertIntervalMs: 100,
    addresses: ["10.77.0.100"],
    src: "10.77.0.9",
  };

  it.each(Object.entries(MALFORMED_KINDS) as Array<[MalformedKind, string]>)(
    "%s is dropped by vipd's validation for reason %s",
    (kind, reason) => {
      for (const version of [2, 3] as const) {
        const b = { ...base, version, advertIntervalMs: version === 2 ? 1000 : 100 };
        const inj = malformedAdvert(kind, b);
        const result = validateAdvert(
          { family: "inet", ttlOrHopLimit: inj.ttl, src: b.src, dst: VRRP_MCAST_V4, payload: inj.payload },
          { version, vrid: b.vrid, family: "inet", advertIntervalCs: b.advertIntervalMs / 10 },
        );
        expect({ version, result: result.ok ? "accepted" : result.reason }).toEqual({
          version,
          result: reason,
        });
      }
    },
  );

  it("higher_priority_bad_checksum claims priority 254", () => {
    expect(malformedAdvert("higher_priority_bad_checksum", base).payload[2]).toBe(254);
  });
});

describe("a keepalived pair in the director topology", () => {
  let dl: DirectorLab;
  let d1: Keepalived;
  let d2: Keepalived;
  const kaSpec = (host: string, priority: number) => ({
    routerId: host,
    version: 3 as const,
    instances: [
      { interface: "eth0", vrid: NET.vrid, priority, advertIntervalMs: 100, virtualIps: [VIP_CIDR] },
    ],
  });

  beforeAll(async () => {
    dl = await createDirectorLab({ prefix: "vhns", injector: true });
    [d1, d2] = await Promise.all([
      Keepalived.start(dl.lab, "d1", dl.dir, kaSpec("d1", 150)),
      Keepalived.start(dl.lab, "d2", dl.dir, kaSpec("d2", 100)),
    ]);
    await d1.waitForState("MASTER");
  });

  afterAll(async () => {
    await dl?.close();
  });

  it("elects d1, which alone holds the VIP and serves the client", async () => {
    expect(d1.state()).toBe("MASTER");
    expect(d2.state()).toBe("BACKUP");
    expect(await vipHolders(dl.lab)).toEqual(["d1"]);
    const body = await dl.lab.run("cl", ["curl", "-s", "--max-time", "5", VIP_URL]);
    expect(body).toBe("d1");
    // Two keepalived peers find nothing wrong with each other's adverts.
    expect(d1.invalidPacketLines()).toEqual([]);
    expect(d2.invalidPacketLines()).toEqual([]);
  });

  it("keepalived logs and drops every malformed advert the injector sends, and keeps its state", async () => {
    const marks = [d1.mark, d2.mark];
    const inj = Injector.open(dl.lab.nsPath("x"), "eth0");
    try {
      for (const kind of Object.keys(MALFORMED_KINDS) as MalformedKind[]) {
        const m = malformedAdvert(kind, {
          version: 3,
          vrid: NET.vrid,
          priority: 200,
          advertIntervalMs: 100,
          addresses: [NET.vip],
          src: NET.injector,
        });
        inj.send(m.payload, { ttl: m.ttl });
      }
    } finally {
      inj.close();
    }
    // The backup (which checks every advert against its master-down timer) logs each one.
    await d2.log.waitFor(/too short/, { from: marks[1], timeoutMs: 5000 });
    const logged = d2.invalidPacketLines(marks[1]).join("\n");
    expect(logged).toMatch(/Invalid VRRPv3 checksum/);
    expect(logged).toMatch(/invalid TTL\/HL\. Received 64/);
    expect(logged).toMatch(/wrong version\. Received 4/);
    expect(logged).toMatch(/packet too short/);
    await new Promise((r) => setTimeout(r, 500));
    expect(d1.transitions(marks[0])).toEqual([]);
    expect(d2.transitions(marks[1])).toEqual([]);
  });

  it("fails over on master link down; the probe sees the outage and d2 serving", async () => {
    const probe = await HttpProbe.start(dl.lab, "cl", VIP_URL);
    try {
      await probe.waitForSteady({ body: "d1", count: 20 });
      const mark = d2.mark;
      const t = nowMs();
      await dl.lab.linkDown("d1");
      await d2.waitForState("MASTER", { from: mark });
      await d1.waitForState("FAULT", { from: 0 });
      const first = await probe.waitForSuccess({ after: t, body: "d2" });
      await probe.waitForSteady({ after: first.start, body: "d2", count: 20 });
      const o = longestOutage(await probe.stop(), { from: t - 300 });
      expect(o.before?.what).toBe("d1");
      expect(o.after?.what).toBe("d2");
      expect(o.outageMs).toBeGreaterThan(0);
      expect(await vipHolders(dl.lab)).toEqual(["d2"]);
    } finally {
      await probe.stop();
    }
    const mark = d1.mark;
    await dl.lab.linkUp("d1");
    await d1.waitForState("MASTER", { from: mark });
  });
});

describe("webhook receiver fixture", () => {
  it("records the raw body and headers of each request", async () => {
    const dl = await createDirectorLab({ prefix: "vhwh", httpServers: false });
    try {
      const script = fileURLToPath(new URL("./fixtures/webhook-receiver.mjs", import.meta.url));
      const rx = new LineLog(dl.lab.spawn("cl", [process.execPath, script, "8080"]));
      await rx.waitFor(/^listening/);
      const body = '{"event":"vrrp.state","to":"MASTER"}';
      const sig = signBody(body, "s3cret");
      await dl.lab.run("d1", [
        "curl",
        "-s",
        "--max-time",
        "5",
        "-H",
        "content-type: application/json",
        "-H",
        `X-Vipd-Signature: ${sig}`,
        "--data-binary",
        body,
        `http://${NET.client}:8080/hook`,
      ]);
      const rec = parseLogLine((await rx.waitFor(/^\{/)).text)!;
      const raw = Buffer.from(String(rec.body64), "base64").toString("utf8");
      expect(raw).toBe(body);
      expect(rec.url).toBe("/hook");
      const headers = rec.headers as Record<string, string>;
      expect(verifySignature(raw, headers["x-vipd-signature"], "s3cret")).toBe(true);
    } finally {
      await dl.close();
    }
  });
});

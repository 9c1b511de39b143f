import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EVENT_TYPES,
  EventFactory,
  isEventType,
  serializeEvent,
  signBody,
  stableStringify,
  type VipdEvent,
  verifySignature,
} from "../../../src/alert/events.js";

const T0 = Date.parse("2024-05-06T07:08:09.010Z");

function factory(now = () => T0): EventFactory {
  return new EventFactory({ node: "lb1", now, bootId: "b00t" });
}

describe("EventFactory", () => {
  it("stamps event, node, timestamp and a node+boot+sequence id", () => {
    const f = factory();
    const e = f.vrrpState({
      instance: "web",
      from: "BACKUP",
      to: "MASTER",
      reason: "master_down",
      priority: 150,
    });
    expect(e).toEqual({
      id: "lb1:b00t:1",
      event: "vrrp.state",
      node: "lb1",
      timestamp: "2024-05-06T07:08:09.010Z",
      instance: "web",
      from: "BACKUP",
      to: "MASTER",
      reason: "master_down",
      priority: 150,
    });
  });

  it("builds every event type with the right discriminant", () => {
    const f = factory();
    const events: VipdEvent[] = [
      f.vrrpState({ instance: "web", from: "INIT", to: "BACKUP", reason: "startup", priority: 100 }),
      f.realServerDown({ virtual_server: "web", real_server: "10.0.0.21:80", reason: "HTTP 503" }),
      f.realServerUp({ virtual_server: "web", real_server: "10.0.0.21:80" }),
      f.realServerAdmin({ virtual_server: "web", real_server: "10.0.0.21:80", action: "drain" }),
      f.quorumLost({ virtual_server: "web", weight: 0, quorum: 1 }),
      f.quorumGained({ virtual_server: "web", weight: 2, quorum: 1 }),
    ];
    expect(events.map((e) => e.event)).toEqual([...EVENT_TYPES]);
    expect(events.every((e) => e.node === "lb1")).toBe(true);
  });

  it("gives unique, monotonically numbered ids", () => {
    const f = factory();
    const ids = Array.from(
      { length: 1000 },
      (_, i) => f.realServerUp({ virtual_server: "v", real_server: `10.0.0.${i % 250}:80` }).id,
    );
    expect(new Set(ids).size).toBe(1000);
    expect(ids.map((id) => Number(id.split(":")[2]))).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });

  it("uses a different boot component per factory by default, so restarts do not reuse ids", () => {
    const a = new EventFactory({ node: "lb1", now: () => T0 });
    const b = new EventFactory({ node: "lb1", now: () => T0 });
    expect(a.bootId).not.toBe(b.bootId);
    const ea = a.quorumLost({ virtual_server: "v", weight: 0, quorum: 1 });
    const eb = b.quorumLost({ virtual_server: "v", weight: 0, quorum: 1 });
    expect(ea.id).not.toBe(eb.id);
  });

  it("takes the timestamp from the injected clock", () => {
    let now = T0;
    const f = factory(() => now);
    const a = f.realServerDown({ virtual_server: "v", real_server: "[2001:db8::1]:443" });
    now += 1500;
    const b = f.realServerDown({ virtual_server: "v", real_server: "[2001:db8::1]:443" });
    expect(Date.parse(b.timestamp) - Date.parse(a.timestamp)).toBe(1500);
  });
});

describe("isEventType", () => {
  it("accepts exactly the five names", () => {
    for (const t of EVENT_TYPES) expect(isEventType(t)).toBe(true);
    for (const t of ["vrrp", "VRRP.STATE", "", "real_server", 1, undefined])
      expect(isEventType(t)).toBe(false);
  });
});

describe("serializeEvent", () => {
  it("sorts keys and leaves out undefined fields", () => {
    const f = factory();
    const e = f.realServerUp({ virtual_server: "web", real_server: "10.0.0.21:80", reason: undefined });
    expect(serializeEvent(e)).toBe(
      '{"event":"real_server.up","id":"lb1:b00t:1","node":"lb1","real_server":"10.0.0.21:80","timestamp":"2024-05-06T07:08:09.010Z","virtual_server":"web"}',
    );
    expect(JSON.parse(serializeEvent(e))).toEqual({ ...e, reason: undefined });
  });

  it("does not depend on key insertion order (property)", () => {
    const f = factory();
    const e = f.vrrpState({
      instance: "web",
      from: "BACKUP",
      to: "MASTER",
      reason: "preempt",
      priority: 200,
    });
    const entries = Object.entries(e);
    fc.assert(
      fc.property(fc.shuffledSubarray(entries, { minLength: entries.length }), (shuffled) => {
        const rebuilt = Object.fromEntries(shuffled) as VipdEvent;
        expect(serializeEvent(rebuilt)).toBe(serializeEvent(e));
      }),
    );
  });

  it("sorts nested objects too", () => {
    expect(stableStringify({ b: [{ d: 1, c: 2 }], a: { z: null, y: undefined, x: "s" } })).toBe(
      '{"a":{"x":"s","z":null},"b":[{"c":2,"d":1}]}',
    );
  });
});

describe("signBody / verifySignature", () => {
  it("matches a known HMAC-SHA256 vector (RFC 4231 test case 2)", () => {
    expect(signBody("what do ya want for nothing?", "Jefe")).toBe(
      "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
  });

  it("verifies its own signatures and rejects other secrets or bodies (property)", () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        (body, secret, other) => {
          const sig = signBody(body, secret);
          expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
          expect(verifySignature(body, sig, secret)).toBe(true);
          expect(verifySignature(Buffer.from(body, "utf8"), sig, secret)).toBe(true);
          if (other !== secret) expect(verifySignature(body, sig, other)).toBe(false);
          expect(verifySignature(`${body}x`, sig, secret)).toBe(false);
        },
      ),
    );
  });

  it("rejects missing and malformed headers without throwing", () => {
    const body = '{"a":1}';
    const good = signBody(body, "k");
    const hex = good.slice("sha256=".length);
    for (const header of [
      undefined,
      null,
      "",
      hex,
      `sha1=${hex}`,
      `sha256=${hex.slice(2)}`,
      `sha256=${hex}00`,
      `sha256=${"z".repeat(64)}`,
      ["sha256=", hex],
    ]) {
      expect(verifySignature(body, header, "k")).toBe(false);
    }
    expect(verifySignature(body, ` ${good} `, "k")).toBe(true);
    expect(verifySignature(body, `SHA256=${hex.toUpperCase()}`, "k")).toBe(true);
  });

  it("rejects a valid signature with any one of its 32 bytes changed (every byte is compared)", () => {
    const body = '{"event":"vrrp.state"}';
    const mac = Buffer.from(signBody(body, "k").slice("sha256=".length), "hex");
    for (let i = 0; i < mac.length; i++) {
      const forged = Buffer.from(mac);
      forged[i] = (forged[i] as number) ^ 0x01;
      expect({ byte: i, ok: verifySignature(body, `sha256=${forged.toString("hex")}`, "k") }).toEqual({
        byte: i,
        ok: false,
      });
    }
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasCode } from "../../../src/errors.js";
import {
  canonicalDestOptions,
  canonicalServiceOptions,
  destPayload,
  IPVS_CMD,
  parseDestReply,
  parseServiceReply,
  servicePayload,
} from "../../../src/ipvs/codec.js";
import {
  AddDest,
  AddService,
  DelDest,
  DelService,
  diff,
  encodeOp,
  type Op,
  SetDest,
  SetService,
  sameData,
} from "../../../src/ipvs/reconcile.js";
import {
  canonicalDestKey,
  canonicalServiceKey,
  type Destination,
  destKeyString,
  type IpvsTable,
  type ServiceKey,
  type ServiceOptions,
  serviceKeyString,
} from "../../../src/ipvs/types.js";
import { anyTable, SERVICE_POOL } from "./arbitraries.js";
import { FakeIpvs } from "./fake-ipvs.js";

// ---------------------------------------------------------------------------
// Helpers: the fake kernel is the table simulator. Ops are applied to it as the bytes
// encodeOp produces, and tables are read back from its dump replies through the decoder.

const ALL = { owned: () => true };
const NONE = { owned: () => false };

function apply(k: FakeIpvs, ops: Op[]): void {
  for (const op of ops) {
    const { cmd, payload } = encodeOp(op);
    k.handle(cmd, payload);
  }
}

function readTable(k: FakeIpvs): IpvsTable {
  return k.dumpServices().map((p) => {
    const service = parseServiceReply(p);
    const destinations = k
      .dumpDests(servicePayload(service.key))
      .map((d) => parseDestReply(d, service.key.af));
    return { service, destinations };
  });
}

function kernelWith(table: IpvsTable): FakeIpvs {
  const k = new FakeIpvs();
  apply(k, diff(table, [], ALL).ops);
  return k;
}

/** A comparable, order-free view of a table: canonical keys and options, no stats. */
function canonical(
  table: IpvsTable,
): Record<string, { options: ServiceOptions; dests: Record<string, unknown> }> {
  const out: Record<string, { options: ServiceOptions; dests: Record<string, unknown> }> = {};
  for (const e of [...table].sort((a, b) =>
    serviceKeyString(a.service.key).localeCompare(serviceKeyString(b.service.key)),
  )) {
    const key = canonicalServiceKey(e.service.key);
    const dests: Record<string, unknown> = {};
    for (const d of [...e.destinations].sort((a, b) =>
      destKeyString(a.key).localeCompare(destKeyString(b.key)),
    )) {
      dests[destKeyString(d.key)] = canonicalDestOptions(d.options);
    }
    out[serviceKeyString(key)] = { options: canonicalServiceOptions(key.af, e.service.options), dests };
  }
  return out;
}

const WEB: ServiceKey = { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.100", port: 80 };
const OLD: ServiceKey = { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.200", port: 80 };
const WEB_OPTS: ServiceOptions = { scheduler: "wlc", flags: { persistent: true }, timeout: 300 };

function dest(address: string, port: number, options: Partial<Destination["options"]> = {}): Destination {
  return { key: { address, port }, options: { forwarding: "dr", weight: 1, ...options } };
}

function web(dests: Destination[], options: ServiceOptions = WEB_OPTS, key: ServiceKey = WEB) {
  return { service: { key, options }, destinations: dests };
}

// ---------------------------------------------------------------------------

interface Case {
  name: string;
  desired: IpvsTable;
  actual: IpvsTable;
  owned?: { owned: (k: ServiceKey) => boolean };
  ops: string[];
  unowned?: string[];
}

const d21 = dest("10.0.0.21", 80);
const d22 = dest("10.0.0.22", 80);
const d23 = dest("10.0.0.23", 80);

const cases: Case[] = [
  {
    name: "adds a missing service, then its destinations",
    desired: [web([d21, d22])],
    actual: [],
    ops: [
      "add service tcp 10.0.0.100:80: wlc, persistent 300s",
      "add dest 10.0.0.21:80 to tcp 10.0.0.100:80: dr, weight 1",
      "add dest 10.0.0.22:80 to tcp 10.0.0.100:80: dr, weight 1",
    ],
  },
  {
    name: "does nothing when the table matches",
    desired: [web([d21, d22])],
    actual: [web([d22, d21])],
    ops: [],
  },
  {
    name: "treats omitted options as their defaults",
    desired: [web([dest("10.0.0.21", 80)], { scheduler: "wlc" })],
    actual: [
      web([dest("10.0.0.21", 80, { upperThreshold: 0, lowerThreshold: 0 })], {
        scheduler: "wlc",
        flags: { persistent: false, onePacket: false, shPort: false },
        timeout: 0,
        netmask: "255.255.255.255",
      }),
    ],
    ops: [],
  },
  {
    name: "removes an extra destination",
    desired: [web([d21, d22])],
    actual: [web([d21, d22, d23])],
    ops: ["del dest 10.0.0.23:80 from tcp 10.0.0.100:80"],
  },
  {
    name: "changes a weight with SET_DEST",
    desired: [web([dest("10.0.0.21", 80, { weight: 0 }), d22])],
    actual: [web([d21, d22])],
    ops: ["set dest 10.0.0.21:80 in tcp 10.0.0.100:80: weight 1 → 0"],
  },
  {
    name: "changes the scheduler with SET_SERVICE",
    desired: [web([d21], { ...WEB_OPTS, scheduler: "rr" })],
    actual: [web([d21])],
    ops: ["set service tcp 10.0.0.100:80: scheduler wlc → rr"],
  },
  {
    name: "turns persistence off with SET_SERVICE",
    desired: [web([d21], { scheduler: "wlc" })],
    actual: [web([d21])],
    ops: ["set service tcp 10.0.0.100:80: flags persistent → none, timeout 300s → 0s"],
  },
  {
    name: "changes the forwarding method with SET_DEST, not delete and add",
    desired: [web([dest("10.0.0.21", 80, { forwarding: "nat" })])],
    actual: [web([d21])],
    ops: ["set dest 10.0.0.21:80 in tcp 10.0.0.100:80: forwarding dr → nat"],
  },
  {
    name: "switches to a gue tunnel with SET_DEST",
    desired: [
      web([
        dest("10.0.0.21", 80, {
          forwarding: "tun",
          tunnel: { type: "gue", port: 6080, flags: { csum: true } },
        }),
      ]),
    ],
    actual: [web([d21])],
    ops: ["set dest 10.0.0.21:80 in tcp 10.0.0.100:80: forwarding dr → tun, tunnel none → gue:6080 csum"],
  },
  {
    name: "adds a missing service and leaves the others",
    desired: [web([d21]), web([d22], { scheduler: "rr" }, OLD)],
    actual: [web([d21])],
    ops: ["add service tcp 10.0.0.200:80: rr", "add dest 10.0.0.22:80 to tcp 10.0.0.200:80: dr, weight 1"],
  },
  {
    name: "leaves an unowned service alone and reports it",
    desired: [web([d21])],
    actual: [web([d21]), web([d22, d23], { scheduler: "rr" }, OLD)],
    owned: NONE,
    ops: [],
    unowned: ["tcp 10.0.0.200:80"],
  },
  {
    name: "deletes an owned service no longer desired with one op (the kernel drops its destinations)",
    desired: [web([d21])],
    actual: [web([d21]), web([d22, d23], { scheduler: "rr" }, OLD)],
    owned: ALL,
    ops: ["del service tcp 10.0.0.200:80 (and its 2 destinations)"],
  },
  {
    name: "reconciles a declared service even when the owner check says no",
    desired: [web([d21], { ...WEB_OPTS, scheduler: "rr" })],
    actual: [web([d21, d22])],
    owned: NONE,
    ops: [
      "set service tcp 10.0.0.100:80: scheduler wlc → rr",
      "del dest 10.0.0.22:80 from tcp 10.0.0.100:80",
    ],
  },
  {
    name: "deletes and adds on an identity change, adding first",
    desired: [web([d21], WEB_OPTS, { ...WEB, address: "10.0.0.101" })],
    actual: [web([d21, d22])],
    ops: [
      "add service tcp 10.0.0.101:80: wlc, persistent 300s",
      "add dest 10.0.0.21:80 to tcp 10.0.0.101:80: dr, weight 1",
      "del service tcp 10.0.0.100:80 (and its 2 destinations)",
    ],
  },
  {
    name: "orders a service's ops: set service, add, set, then delete destinations",
    desired: [web([dest("10.0.0.22", 80, { weight: 5 }), d23], { ...WEB_OPTS, timeout: 600 })],
    actual: [web([d21, d22])],
    ops: [
      "set service tcp 10.0.0.100:80: timeout 300s → 600s",
      "add dest 10.0.0.23:80 to tcp 10.0.0.100:80: dr, weight 1",
      "set dest 10.0.0.22:80 in tcp 10.0.0.100:80: weight 1 → 5",
      "del dest 10.0.0.21:80 from tcp 10.0.0.100:80",
    ],
  },
  {
    name: "handles fwmark services",
    desired: [
      web(
        [dest("10.0.0.21", 0, { weight: 3 }), dest("10.0.0.22", 0)],
        { scheduler: "sh", flags: { shPort: true } },
        {
          kind: "fwmark",
          af: 2,
          fwmark: 66,
        },
      ),
    ],
    actual: [web([dest("10.0.0.21", 0)], { scheduler: "sh" }, { kind: "fwmark", af: 2, fwmark: 66 })],
    ops: [
      "set service fwmark 66 (inet): flags none → sh-port",
      "add dest 10.0.0.22:0 to fwmark 66 (inet): dr, weight 1",
      "set dest 10.0.0.21:0 in fwmark 66 (inet): weight 1 → 3",
    ],
  },
  {
    name: "keeps fwmark services of the two families apart",
    desired: [web([], { scheduler: "rr" }, { kind: "fwmark", af: 10, fwmark: 66 })],
    actual: [web([], { scheduler: "rr" }, { kind: "fwmark", af: 2, fwmark: 66 })],
    ops: ["add service fwmark 66 (inet6): rr", "del service fwmark 66 (inet)"],
  },
  {
    name: "matches IPv6 addresses however they are spelled",
    desired: [
      web(
        [dest("2001:DB8:0::21", 80), dest("2001:db8::22", 80)],
        { scheduler: "rr", netmask: 64 },
        {
          kind: "inet",
          af: 10,
          protocol: "tcp",
          address: "2001:0db8::100",
          port: 80,
        },
      ),
    ],
    actual: [
      web(
        [dest("2001:db8::21", 80), dest("2001:db8::23", 80)],
        { scheduler: "rr", netmask: 64 },
        {
          kind: "inet",
          af: 10,
          protocol: "tcp",
          address: "2001:db8::100",
          port: 80,
        },
      ),
    ],
    ops: [
      "add dest [2001:db8::22]:80 to tcp [2001:db8::100]:80: dr, weight 1",
      "del dest [2001:db8::23]:80 from tcp [2001:db8::100]:80",
    ],
  },
  {
    name: "sets an IPv6 persistence netmask",
    desired: [
      web(
        [],
        { scheduler: "rr", flags: { persistent: true }, netmask: 64 },
        { kind: "fwmark", af: 10, fwmark: 7 },
      ),
    ],
    actual: [
      web([], { scheduler: "rr", flags: { persistent: true } }, { kind: "fwmark", af: 10, fwmark: 7 }),
    ],
    ops: ["set service fwmark 7 (inet6): netmask 128 → 64"],
  },
  {
    name: "adds a tunnel destination of the other family",
    desired: [web([d21, dest("2001:db8::21", 80, { forwarding: "tun" })])],
    actual: [web([d21])],
    ops: ["add dest [2001:db8::21]:80 to tcp 10.0.0.100:80: tun ipip, weight 1"],
  },
];

describe("diff", () => {
  it.each(cases)("$name", (c) => {
    const owned = c.owned ?? ALL;
    const k = kernelWith(c.actual);
    const actual = readTable(k); // what the kernel reports: HASHED set, stats, counters, canonical spellings
    const before = canonical(actual);
    const r = diff(c.desired, actual, owned);
    expect(r.ops.map((o) => o.describe())).toEqual(c.ops);
    expect(r.unowned.map(serviceKeyString)).toEqual(c.unowned ?? []);

    apply(k, r.ops);
    const after = readTable(k);
    expect(diff(c.desired, after, owned).ops).toEqual([]);
    // Unowned services are exactly as they were.
    for (const key of r.unowned) {
      const s = serviceKeyString(key);
      expect(canonical(after)[s]).toEqual(before[s]);
    }
  });

  it("never compares stats or connection counts", () => {
    const k = kernelWith([web([d21, d22])]);
    const actual = readTable(k);
    expect(actual[0]?.service.stats?.conns).toBeGreaterThan(0n);
    expect(actual[0]?.destinations[0]?.activeConns).toBeGreaterThan(0);
    const bumped: IpvsTable = actual.map((e) => ({
      service: { ...e.service, stats: { ...e.service.stats!, conns: 999n } },
      destinations: e.destinations.map((d) => ({ ...d, activeConns: 12345, stats: undefined })),
    }));
    expect(diff([web([d21, d22])], bumped, ALL).ops).toEqual([]);
  });

  it("carries canonical data in its ops", () => {
    const r = diff(
      [
        web(
          [dest("2001:DB8::21", 80, { forwarding: "tun" })],
          { scheduler: "rr" },
          { ...WEB, address: "10.0.0.100" },
        ),
      ],
      [],
      ALL,
    );
    expect(r.ops[0]).toBeInstanceOf(AddService);
    expect(r.ops[0]).toMatchObject({
      kind: "add_service",
      key: WEB,
      options: { scheduler: "rr", timeout: 0, netmask: "255.255.255.255" },
    });
    expect(r.ops[1]).toBeInstanceOf(AddDest);
    expect(r.ops[1]).toMatchObject({
      kind: "add_dest",
      service: WEB,
      key: { address: "2001:db8::21", port: 80, af: 10 },
      options: { forwarding: "tun", tunnel: { type: "ipip", port: 0 } },
    });
  });

  it("rejects a desired table the kernel would refuse, before producing any op", () => {
    const err = (desired: IpvsTable) => {
      try {
        diff(desired, [], ALL);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(hasCode(err([web([d21]), web([d22])]), "IPVS_DUPLICATE_SERVICE")).toBe(true);
    expect(hasCode(err([web([d21, dest("10.0.0.21", 80, { weight: 2 })])]), "IPVS_DUPLICATE_DEST")).toBe(
      true,
    );
    expect(hasCode(err([web([dest("10.0.0.21", 80, { lowerThreshold: 5 })])]), "IPVS_INVALID_DEST")).toBe(
      true,
    );
    expect(hasCode(err([web([dest("2001:db8::1", 80)])]), "IPVS_INVALID_DEST")).toBe(true);
    expect(hasCode(err([web([], { scheduler: "" })]), "IPVS_INVALID_SERVICE")).toBe(true);
    expect(hasCode(err([web([], WEB_OPTS, { ...WEB, address: "10.0.0.300" })]), "IPVS_INVALID_ADDRESS")).toBe(
      true,
    );
  });

  it("accepts in `actual` what the kernel reports even when vipd would not configure it", () => {
    // e.g. a weight above what validation allows is not validated on the actual side
    const actual: IpvsTable = [
      {
        service: { key: WEB, options: { scheduler: "twos" } },
        destinations: [dest("10.0.0.21", 80, { lowerThreshold: 9 })],
      },
    ];
    expect(diff([], actual, NONE).unowned).toEqual([WEB]);
  });
});

describe("encodeOp", () => {
  const key = { address: "10.0.0.21", port: 80, af: 2 as const };
  const opts = canonicalDestOptions({ forwarding: "dr", weight: 1 });
  const sopts = canonicalServiceOptions(2, WEB_OPTS);

  it.each([
    [new AddService(WEB, sopts), IPVS_CMD.NEW_SERVICE, servicePayload(WEB, sopts)],
    [new SetService(WEB, sopts, sopts), IPVS_CMD.SET_SERVICE, servicePayload(WEB, sopts)],
    [new DelService(WEB, 3), IPVS_CMD.DEL_SERVICE, servicePayload(WEB)],
    [new AddDest(WEB, key, opts), IPVS_CMD.NEW_DEST, destPayload(WEB, key, opts)],
    [new SetDest(WEB, key, opts, opts), IPVS_CMD.SET_DEST, destPayload(WEB, key, opts)],
    [new DelDest(WEB, key), IPVS_CMD.DEL_DEST, destPayload(WEB, key)],
  ] as const)("%s", (op, cmd, payload) => {
    const e = encodeOp(op);
    expect(e.cmd).toBe(cmd);
    expect(e.payload.toString("hex")).toBe(payload.toString("hex"));
  });
});

// ---------------------------------------------------------------------------
// Properties

/** Services each op touches, to check that no op follows the deletion of its service. */
function serviceOf(op: Op): string {
  return serviceKeyString(
    op.kind === "add_dest" || op.kind === "set_dest" || op.kind === "del_dest" ? op.service : op.key,
  );
}

describe("diff properties", () => {
  it("an unchanged table needs no ops", () => {
    fc.assert(
      fc.property(anyTable, fc.boolean(), (t, all) => {
        expect(diff(t, t, all ? ALL : NONE).ops).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("a table as the kernel reports it needs no ops against the config that made it", () => {
    fc.assert(
      fc.property(anyTable, (t) => {
        expect(diff(t, readTable(kernelWith(t)), NONE).ops).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("applying diff(desired, actual) to actual gives desired, plus the unowned services untouched", () => {
    fc.assert(
      fc.property(
        anyTable,
        anyTable,
        fc.subarray(SERVICE_POOL.map((k) => serviceKeyString(k))),
        (desired, initial, ownedKeys) => {
          const owned = { owned: (k: ServiceKey) => ownedKeys.includes(serviceKeyString(k)) };
          const k = kernelWith(initial);
          const actual = readTable(k);
          const { ops, unowned } = diff(desired, actual, owned);

          // Ordering: every op applies cleanly to the kernel, and nothing touches a deleted service.
          apply(k, ops);
          const deleted = new Set<string>();
          for (const op of ops) {
            expect(deleted.has(serviceOf(op))).toBe(false);
            if (op.kind === "del_service") deleted.add(serviceKeyString(op.key));
          }
          // Minimal: every SET changes something; no service is both deleted and added.
          for (const op of ops) {
            if (op.kind === "set_service" || op.kind === "set_dest") {
              expect(op.options).not.toEqual(op.previous);
            }
          }

          const after = readTable(k);
          expect(diff(desired, after, owned).ops).toEqual([]);

          const expected = canonical(desired);
          const was = canonical(actual);
          for (const key of unowned) {
            const s = serviceKeyString(key);
            expect(ownedKeys).not.toContain(s);
            expected[s] = was[s]!;
          }
          expect(canonical(after)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("apply(diff(a, b), b) = a when vipd owns everything", () => {
    fc.assert(
      fc.property(anyTable, anyTable, (a, b) => {
        const k = kernelWith(b);
        apply(k, diff(a, readTable(k), ALL).ops);
        expect(canonical(readTable(k))).toEqual(canonical(a));
      }),
      { numRuns: 300 },
    );
  });

  it("is minimal against a single change", () => {
    fc.assert(
      fc.property(
        anyTable.filter((t) => t.some((e) => e.destinations.length > 0)),
        fc.nat(),
        fc.integer({ min: 0, max: 1000 }),
        (t, pick, weight) => {
          const withDests = t.filter((e) => e.destinations.length > 0);
          const entry = withDests[pick % withDests.length]!;
          const d = entry.destinations[pick % entry.destinations.length]!;
          const changed = t.map((e) =>
            e === entry
              ? {
                  service: e.service,
                  destinations: e.destinations.map((x) =>
                    x === d ? { ...x, options: { ...x.options, weight } } : x,
                  ),
                }
              : e,
          );
          const ops = diff(changed, t, ALL).ops;
          if (weight === d.options.weight) {
            expect(ops).toEqual([]);
          } else {
            expect(ops.map((o) => o.kind)).toEqual(["set_dest"]);
            expect(ops[0]).toMatchObject({ key: canonicalDestKey(d.key), options: { weight } });
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("drift in one field only is repaired", () => {
  it("sameData: an extra key on either side makes the data differ", () => {
    expect(sameData({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameData({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(sameData({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(sameData({ a: { x: 1 } }, { a: { x: 1, y: 0 } })).toBe(false);
  });

  it("a persistence engine the kernel has and the config does not → one SET of the service", () => {
    const desired = [web([d21])];
    const actual = [web([d21], { ...WEB_OPTS, pe: "sip" })];
    const { ops } = diff(desired, actual, ALL);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toBeInstanceOf(SetService);
  });

  it("a persistence netmask the kernel has and the config does not → one SET of the service", () => {
    const desired = [web([d21])];
    const actual = [web([d21], { ...WEB_OPTS, netmask: "255.255.255.0" })];
    const { ops } = diff(desired, actual, ALL);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toBeInstanceOf(SetService);
  });

  it("a connection threshold the kernel has and the config does not → one SET of the destination", () => {
    const desired = [web([d21])];
    const actual = [web([dest("10.0.0.21", 80, { upperThreshold: 100 })])];
    const { ops } = diff(desired, actual, ALL);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toBeInstanceOf(SetDest);
  });
});

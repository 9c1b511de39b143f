import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { type ApplyResult, IpvsClient, IpvsOpError } from "../../../src/ipvs/client.js";
import { canonicalDestOptions, canonicalServiceOptions } from "../../../src/ipvs/codec.js";
import {
  AddDest,
  AddService,
  DelDest,
  DelService,
  diff,
  encodeOp,
  type Op,
  opCommand,
  SetDest,
  SetService,
  writeOp,
} from "../../../src/ipvs/reconcile.js";
import {
  canonicalDestKey,
  canonicalServiceKey,
  type DestKey,
  destKeyString,
  type IpvsTable,
  type ServiceKey,
  type ServiceOptions,
  serviceKeyString,
} from "../../../src/ipvs/types.js";
import { setLogLevel } from "../../../src/log.js";
import { AttrMap, AttrWriter, parseAttrs } from "../../../src/netlink/attr.js";
import { NetlinkConnection, type NetlinkSocket } from "../../../src/netlink/connection.js";
import { GenlFamily } from "../../../src/netlink/genl.js";
import {
  decodeMessages,
  encodeMessage,
  NLM_F_ACK,
  NLM_F_REQUEST,
  type NlMessage,
} from "../../../src/netlink/message.js";
import { ack, FakeNetlinkSocket } from "../../../src/netlink/testing.js";
import type { OpenOptions } from "../../../src/sys/socket-types.js";
import { anyTable } from "./arbitraries.js";
import { FAMILY_ID, FakeIpvsNetlink } from "./fake-ipvs-netlink.js";

setLogLevel("silent");

const WEB: ServiceKey = { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.100", port: 80 };
const DNS: ServiceKey = { kind: "inet", af: 2, protocol: "udp", address: "10.0.0.101", port: 53 };
const MARK: ServiceKey = { kind: "fwmark", af: 10, fwmark: 66 };
const WLC: ServiceOptions = { scheduler: "wlc" };

async function open(
  k = new FakeIpvsNetlink(),
  opts: { maxBatchMessages?: number; timeoutMs?: number } = {},
): Promise<{ k: FakeIpvsNetlink; c: IpvsClient }> {
  const c = await IpvsClient.open({ openSocket: k.opener(), ...opts });
  return { k, c };
}

/** A comparable, order-free view of a table: canonical keys and options, no stats. */
function canonical(
  table: IpvsTable,
): Record<string, { options: ServiceOptions; dests: Record<string, unknown> }> {
  const out: Record<string, { options: ServiceOptions; dests: Record<string, unknown> }> = {};
  for (const e of table) {
    const key = canonicalServiceKey(e.service.key);
    const dests: Record<string, unknown> = {};
    for (const d of e.destinations) dests[destKeyString(d.key)] = canonicalDestOptions(d.options);
    out[serviceKeyString(key)] = { options: canonicalServiceOptions(key.af, e.service.options), dests };
  }
  return out;
}

const ALL = { owned: () => true };

/** The IPVS family as FakeIpvsNetlink's nlctrl resolves it, over `conn`. */
function ipvsFamily(conn: NetlinkConnection): GenlFamily {
  return new GenlFamily(conn, {
    id: FAMILY_ID,
    name: "IPVS",
    version: 1,
    hdrSize: 0,
    maxAttr: 6,
    ops: [],
    multicastGroups: [],
  });
}

/** IPVS commands that write the table (NEW/SET/DEL_SERVICE, NEW/SET/DEL_DEST). */
const WRITE_CMDS = new Set([1, 2, 3, 5, 6, 7]);
const isWrite = (m: NlMessage) => m.header.type === FAMILY_ID && WRITE_CMDS.has(m.payload[0] as number);

/** The datagrams of apply()'s batches (every message a table write), as sent on the client's socket. */
function writeDatagrams(k: FakeIpvsNetlink): Buffer[] {
  return k.sockets[0]!.sent.filter((d) => decodeMessages(d).every(isWrite));
}

function addAll(table: IpvsTable): Op[] {
  return diff(table, [], ALL).ops;
}

function dk(address: string, port: number): Required<DestKey> {
  return canonicalDestKey({ address, port });
}

/** The DEST nest's address (IPv4) of an IPVS request, if it has one. */
function destAddress(attrs: Buffer): string | undefined {
  const nest = parseAttrs(attrs, "request").find((a) => a.type === 2);
  if (!nest) return undefined;
  const addr = AttrMap.parse(nest.data).bytes(1);
  return addr ? [...addr.subarray(0, 4)].join(".") : undefined;
}

function codes(r: ApplyResult): string[] {
  return r.failed.map((f) => `${f.error.code} ${f.op.describe()}`);
}

// ---------------------------------------------------------------------------

describe("IpvsClient.open and GET_INFO", () => {
  it("resolves the family IPVS and reads version 1.2.1, retrying the first request once", async () => {
    const k = new FakeIpvsNetlink();
    k.failNext = "ENOENT"; // the first command after the ip_vs autoload can fail
    const opened: OpenOptions[] = [];
    const base = k.opener();
    const { c } = await open(k, {});
    expect(k.commands.slice(0, 2).map((x) => x.cmd)).toEqual([15, 15]);
    expect(await c.getInfo()).toEqual({ version: "1.2.1", versionCode: 0x010201, connTableSize: 4096 });
    c.close();
    expect(k.sockets.every((s) => s.closed)).toBe(true);

    // The netns goes to the socket the client opens (the table is per namespace): one socket
    // carries reads and apply()'s batches, its receive buffer sized for a batch's answers.
    const c2 = await IpvsClient.open({
      netns: "/run/netns/lab",
      openSocket: (o) => {
        opened.push(o);
        return base(o);
      },
    });
    expect(opened.map((o) => [o.family, o.protocol, o.netns])).toEqual([["netlink", 16, "/run/netns/lab"]]);
    expect(k.sockets.at(-1)!.options).toContainEqual({ level: 1, name: 33, value: 4 * 1024 * 1024 });
    c2.close();
  });

  it("says IPVS_UNAVAILABLE when the kernel has no IPVS family, and closes its socket", async () => {
    const k = new FakeIpvsNetlink();
    k.available = false;
    const err = await IpvsClient.open({ openSocket: k.opener() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VipdError);
    expect((err as VipdError).code).toBe("IPVS_UNAVAILABLE");
    expect((err as VipdError).message).toContain("generic netlink family IPVS not found");
    expect(k.sockets.map((s) => s.closed)).toEqual([true]);
  });
});

describe("reading the table", () => {
  it("reads back what it wrote, field for field, with the 64-bit counters", async () => {
    const { k, c } = await open();
    const table: IpvsTable = [
      {
        service: {
          key: WEB,
          options: {
            scheduler: "sh",
            flags: { persistent: true, shFallback: true, shPort: true },
            timeout: 600,
            netmask: 24,
          },
        },
        destinations: [
          {
            key: { address: "10.0.0.21", port: 80 },
            options: { forwarding: "dr", weight: 3, upperThreshold: 100, lowerThreshold: 10 },
          },
          {
            key: { address: "2001:db8::21", port: 80 },
            options: {
              forwarding: "tun",
              weight: 1,
              tunnel: { type: "gue", port: 6080, flags: { csum: true } },
            },
          },
        ],
      },
      {
        service: { key: MARK, options: { scheduler: "mh", flags: { mhPort: true } } },
        destinations: [
          { key: { address: "2001:db8::22", port: 0 }, options: { forwarding: "nat", weight: 0 } },
        ],
      },
    ];
    const r = await c.apply(addAll(table));
    expect(codes(r)).toEqual([]);
    const back = await c.readTable();
    expect(canonical(back)).toEqual(canonical(table));
    // FakeIpvs reports STATS64 with every counter above 2^32.
    expect(back[0]?.service.stats?.conns).toBe(7n + (1n << 40n));
    expect(back[0]?.destinations[0]?.stats?.inBytes).toBe(7000n + (1n << 40n));
    expect(back[0]?.destinations[0]).toMatchObject({ activeConns: 3, inactConns: 4, persistConns: 5 });
    expect(await c.listDests(MARK)).toHaveLength(1);
    expect((await c.listServices()).map((s) => serviceKeyString(s.key))).toEqual([
      "tcp 10.0.0.100:80",
      "fwmark 66 (inet6)",
    ]);
    // GET_SERVICE for one service; undefined when there is none.
    expect((await c.getService(WEB))?.options.scheduler).toBe("sh");
    expect(await c.getService(DNS)).toBeUndefined();
    expect(await c.listDests(DNS)).toEqual([]);
    c.close();
    void k;
  });

  it("skips and reports entries it cannot decode, and keeps the rest", async () => {
    const { k, c } = await open();
    await c.apply(addAll([{ service: { key: WEB, options: WLC }, destinations: [] }]));
    const svc = k.ipvs.services[0]!;
    // An ESP service (protocol 50) and a destination with forwarding method 5: neither exists in the model.
    k.ipvs.services.push({ ...svc, protocol: 50, port: 500, dests: [] });
    svc.dests.push({
      af: 2,
      addr: Buffer.from([10, 0, 0, 21, ...new Array(12).fill(0)]),
      port: 80,
      fwd: 5,
      weight: 1,
      u: 0,
      l: 0,
      tunType: 0,
      tunPort: 0,
      tunFlags: 0,
    });
    svc.dests.push({
      af: 2,
      addr: Buffer.from([10, 0, 0, 22, ...new Array(12).fill(0)]),
      port: 80,
      fwd: 3,
      weight: 1,
      u: 0,
      l: 0,
      tunType: 0,
      tunPort: 0,
      tunFlags: 0,
    });
    const snap = await c.snapshot();
    expect(
      snap.table.map((e) => [
        serviceKeyString(e.service.key),
        e.destinations.map((d) => destKeyString(d.key)),
      ]),
    ).toEqual([["tcp 10.0.0.100:80", ["10.0.0.22:80"]]]);
    expect(snap.skipped.map((s) => [s.kind, s.service, s.dest, s.error.code])).toEqual([
      ["service", "protocol 50 10.0.0.100:500", undefined, "IPVS_UNSUPPORTED"],
      ["dest", "tcp 10.0.0.100:80", "10.0.0.21:80", "IPVS_UNSUPPORTED"],
    ]);
    expect(snap.skipped[1]?.error.message).toContain("unknown forwarding method 5");
    expect((await c.readTable()).length).toBe(1);
    c.close();
  });
});

describe("apply", () => {
  it("turns any table into any other (property), with few datagrams and acks only for barriers", async () => {
    await fc.assert(
      fc.asyncProperty(anyTable, anyTable, async (a, b) => {
        const { k, c } = await open(new FakeIpvsNetlink(), { maxBatchMessages: 4 });
        expect(codes(await c.apply(addAll(b)))).toEqual([]);
        // One socket carries everything: reads, and apply()'s batches with acks only for errors.
        expect(k.sockets).toHaveLength(1);
        const sock = k.sockets[0]!;
        sock.sent.length = 0;
        sock.requests.length = 0;
        const { ops } = diff(a, await c.readTable(), ALL);
        const r = await c.apply(ops);
        expect(codes(r)).toEqual([]);
        expect(r.applied).toEqual(ops);
        expect(canonical(await c.readTable())).toEqual(canonical(a));
        // Every datagram carries up to 4 messages and only its last one asks for an ack.
        const batches = writeDatagrams(k);
        // Every write went in those datagrams (reads are datagrams of their own).
        expect(batches.reduce((n, d) => n + decodeMessages(d).length, 0)).toBe(ops.length);
        for (const d of batches) {
          const msgs = decodeMessages(d);
          expect(msgs.length).toBeLessThanOrEqual(4);
          expect(msgs.map((m) => (m.header.flags & NLM_F_ACK) !== 0)).toEqual(
            msgs.map((_, i) => i === msgs.length - 1),
          );
        }
        expect(batches.length).toBeLessThanOrEqual(Math.ceil(ops.length / 4) + 3);
        c.close();
      }),
      { numRuns: 60 },
    );
  });

  it("sends 1,000 ops in datagrams of the configured size, the last message of each acked", async () => {
    const { k, c } = await open(new FakeIpvsNetlink(), { maxBatchMessages: 100 });
    const table: IpvsTable = Array.from({ length: 100 }, (_, i) => ({
      service: { key: { ...WEB, address: `10.1.0.${i}` }, options: WLC },
      destinations: Array.from({ length: 9 }, (_, j) => ({
        key: { address: `10.2.0.${i}`, port: 8000 + j },
        options: { forwarding: "nat" as const, weight: 1 },
      })),
    }));
    const ops = addAll(table);
    expect(ops).toHaveLength(1000);
    expect(k.sockets).toHaveLength(1);
    const sock = k.sockets[0]!;
    sock.sent.length = 0; // family resolution and GET_INFO
    sock.requests.length = 0;
    const r = await c.apply(ops);
    expect(r.applied).toHaveLength(1000);
    expect(r.failed).toEqual([]);
    // 100 service additions (one datagram), then 900 destinations (nine).
    expect(sock.sent).toHaveLength(10);
    expect(sock.requests).toHaveLength(1000);
    const acked = sock.requests.filter((m) => (m.header.flags & NLM_F_ACK) !== 0).map((m) => m.header.seq);
    expect(acked).toHaveLength(10);
    expect(sock.requests.map((m) => m.header.flags & ~NLM_F_ACK).every((f) => f === NLM_F_REQUEST)).toBe(
      true,
    );
    expect(k.ipvs.services.reduce((n, s) => n + s.dests.length, 0)).toBe(900);
    c.close();
  });

  it("lists every failed op with its coded error naming the entry, and applies all the others", async () => {
    const { k, c } = await open();
    k.refuse = (cmd, attrs) => (cmd === 5 && destAddress(attrs) === "10.0.0.255" ? "EINVAL" : undefined);
    const web: IpvsTable[number] = {
      service: { key: WEB, options: WLC },
      destinations: [
        { key: { address: "10.0.0.21", port: 80 }, options: { forwarding: "dr", weight: 1 } },
        { key: { address: "10.0.0.255", port: 80 }, options: { forwarding: "dr", weight: 1 } },
        { key: { address: "10.0.0.22", port: 80 }, options: { forwarding: "dr", weight: 1 } },
      ],
    };
    const ops: Op[] = [
      ...addAll([web]),
      // A port mapping under DR: the kernel would take it and ignore the port; vipd refuses it.
      new AddDest(WEB, dk("10.0.0.23", 8080), { forwarding: "dr", weight: 1 }),
      // A service that does not exist.
      new SetService(DNS, { scheduler: "rr" }, WLC),
      new AddDest(WEB, dk("10.0.0.24", 8080), { forwarding: "nat", weight: 2 }),
    ];
    const r = await c.apply(ops);
    expect(codes(r)).toEqual([
      "EINVAL add dest 10.0.0.255:80 to tcp 10.0.0.100:80: dr, weight 1",
      "IPVS_INVALID_DEST add dest 10.0.0.23:8080 to tcp 10.0.0.100:80: dr, weight 1",
      "ESRCH set service udp 10.0.0.101:53: scheduler wlc → rr",
    ]);
    const [bcast, portmap, missing] = r.failed.map((f) => f.error);
    expect(bcast).toBeInstanceOf(IpvsOpError);
    expect(bcast?.message).toBe(
      "add dest 10.0.0.255:80 to tcp 10.0.0.100:80: EINVAL (Invalid argument) — the kernel takes only unicast destination addresses (not broadcast, multicast or 0.0.0.0 in its routing tables), and of the service's family unless tunnelled",
    );
    expect(bcast?.context).toMatchObject({
      operation: "add_dest",
      service: "tcp 10.0.0.100:80",
      dest: "10.0.0.255:80",
      errno: 22,
    });
    expect(portmap?.message).toBe(
      "add dest 10.0.0.23:8080 to tcp 10.0.0.100:80: destination 10.0.0.23:8080 of tcp 10.0.0.100:80: dr forwarding cannot map ports (destination port 8080, service port 80)",
    );
    expect(missing?.message).toBe(
      "set service udp 10.0.0.101:53: ESRCH (No such process) — the service does not exist",
    );
    expect(r.applied.map((op) => op.describe())).toEqual([
      "add service tcp 10.0.0.100:80: wlc",
      "add dest 10.0.0.21:80 to tcp 10.0.0.100:80: dr, weight 1",
      "add dest 10.0.0.22:80 to tcp 10.0.0.100:80: dr, weight 1",
      "add dest 10.0.0.24:8080 to tcp 10.0.0.100:80: nat, weight 2",
    ]);
    expect((await c.listDests(WEB)).map((d) => destKeyString(d.key))).toEqual([
      "10.0.0.21:80",
      "10.0.0.22:80",
      "10.0.0.24:8080",
    ]);
    c.close();
  });

  it("skips the destinations of a service the kernel refused to add, naming the cause", async () => {
    const { c } = await open();
    const ops = addAll([
      {
        service: { key: WEB, options: { scheduler: "nope" } }, // no ip_vs_nope: ENOENT
        destinations: [
          { key: { address: "10.0.0.21", port: 80 }, options: { forwarding: "nat", weight: 1 } },
        ],
      },
      {
        service: { key: DNS, options: { scheduler: "rr" } },
        destinations: [
          { key: { address: "10.0.0.31", port: 53 }, options: { forwarding: "nat", weight: 1 } },
        ],
      },
    ]);
    const r = await c.apply(ops);
    expect(r.failed.map((f) => [f.error.code, f.error.message])).toEqual([
      [
        "ENOENT",
        "add service tcp 10.0.0.100:80: ENOENT (No such file or directory) — no such scheduler or persistence engine module (ip_vs_nope)",
      ],
      [
        "IPVS_SKIPPED",
        'add dest 10.0.0.21:80 to tcp 10.0.0.100:80: skipped because "add service tcp 10.0.0.100:80" failed (ENOENT)',
      ],
    ]);
    expect(r.applied.map((op) => op.kind)).toEqual(["add_service", "add_dest"]);
    c.close();
  });

  it("reports every op of a datagram the kernel never answered as a timeout (outcome unknown)", async () => {
    const { k, c } = await open(new FakeIpvsNetlink(), { timeoutMs: 30 });
    k.silent = true;
    const r = await c.apply(addAll([{ service: { key: WEB, options: WLC }, destinations: [] }]));
    expect(r.failed.map((f) => f.error.code)).toEqual(["NETLINK_TIMEOUT"]);
    expect(r.failed[0]?.error.message).toContain("outcome unknown");
    c.close();
  });

  it("works over the family's own connection too (one ack per op)", async () => {
    const k = new FakeIpvsNetlink();
    const sock = k.opener()({ family: "netlink", protocol: 16 }) as NetlinkSocket;
    const fam = ipvsFamily(new NetlinkConnection(sock));
    const c = new IpvsClient(fam);
    k.refuse = (cmd, attrs) => (cmd === 5 && destAddress(attrs) === "10.0.0.255" ? "EINVAL" : undefined);
    const r = await c.apply(
      addAll([
        {
          service: { key: WEB, options: WLC },
          destinations: [
            { key: { address: "10.0.0.255", port: 80 }, options: { forwarding: "dr", weight: 1 } },
            { key: { address: "10.0.0.21", port: 80 }, options: { forwarding: "dr", weight: 1 } },
          ],
        },
      ]),
    );
    expect(codes(r)).toEqual(["EINVAL add dest 10.0.0.255:80 to tcp 10.0.0.100:80: dr, weight 1"]);
    expect(r.applied).toHaveLength(2);
    expect(k.commands.every((x) => (x.flags & NLM_F_ACK) !== 0)).toBe(true);
    c.close();
  });
});

describe("the wire", () => {
  it("writes every op into a shared writer byte for byte as encodeOp encodes it (property)", () => {
    fc.assert(
      fc.property(anyTable, anyTable, (a, b) => {
        const { ops } = diff(a, b, ALL);
        const w = new AttrWriter(64);
        for (const op of ops) {
          const want = encodeOp(op).payload.toString("hex");
          expect(writeOp(op, w.reset()).toBuffer().toString("hex")).toBe(want);
          // The path for ops diff() made (checks skipped) writes the same bytes.
          expect(writeOp(op, w.reset(), { validated: true }).toBuffer().toString("hex")).toBe(want);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("sends every op framed as encodeMessage frames encodeOp's payload, acks only for barriers (property)", async () => {
    await fc.assert(
      fc.asyncProperty(anyTable, anyTable, async (a, b) => {
        const { ops } = diff(a, b, ALL);
        const sock = new FakeNetlinkSocket((req) =>
          (req.header.flags & NLM_F_ACK) !== 0 ? ack(req) : undefined,
        );
        const fam = ipvsFamily(new NetlinkConnection(sock, { maxBatchMessages: 3, initialSeq: 1 }));
        const w = new AttrWriter(64);
        const results = await fam.batch(
          ops.map((op) => ({
            cmd: opCommand(op),
            attrs: writeOp(op, w.reset(), { validated: true }).toBuffer(),
            operation: () => op.describe(),
          })),
          { acks: "errors" },
        );
        expect(results.every((r) => r.ok)).toBe(true);
        const sent = sock.sent.flatMap((d) => {
          const n = decodeMessages(d).length;
          let off = 0;
          return decodeMessages(d).map((m, i) => {
            const bytes = d.subarray(off, off + ((m.header.length + 3) & ~3));
            off += bytes.length;
            return { bytes, barrier: i === n - 1 };
          });
        });
        expect(sent).toHaveLength(ops.length);
        ops.forEach((op, i) => {
          const { cmd, payload } = encodeOp(op);
          const want = encodeMessage({
            type: FAMILY_ID,
            flags: NLM_F_REQUEST | (sent[i]!.barrier ? NLM_F_ACK : 0),
            seq: i + 1,
            payload: [Buffer.from([cmd, 1, 0, 0]), payload],
          });
          expect(sent[i]!.bytes.toString("hex")).toBe(want.toString("hex"));
        });
        expect(sock.sent.length).toBe(Math.ceil(ops.length / 3));
      }),
      { numRuns: 100 },
    );
  });

  it("covers deletions and every destination op kind", () => {
    const key = dk("2001:db8::21", 80);
    const ops: Op[] = [
      new DelService(MARK, 1),
      new AddService(MARK, { scheduler: "mh", flags: { mhFallback: true } }),
      new AddService(WEB, {
        scheduler: "sh",
        flags: { persistent: true, shPort: true },
        netmask: 24,
        pe: "sip",
      }),
      new SetService(DNS, { scheduler: "rr", flags: { onePacket: true }, timeout: 30 }, WLC),
      new AddDest(MARK, key, {
        forwarding: "tun",
        weight: 1,
        tunnel: { type: "gre", flags: { csum: true } },
      }),
      new SetDest(
        WEB,
        dk("10.0.0.21", 80),
        { forwarding: "tun", weight: 7 },
        { forwarding: "dr", weight: 1 },
      ),
      new DelDest(MARK, key),
    ];
    const w = new AttrWriter(16);
    for (const op of ops) {
      expect(writeOp(op, w.reset()).toBuffer().equals(encodeOp(op).payload)).toBe(true);
      expect(writeOp(op, w.reset(), { validated: true }).toBuffer().equals(encodeOp(op).payload)).toBe(true);
    }
  });

  it("refuses an op the codec cannot encode without sending it, and sends the rest", async () => {
    const { k, c } = await open(new FakeIpvsNetlink(), { maxBatchMessages: 10 });
    const bad = new AddDest(
      WEB,
      { address: "10.0.0.21", port: 8080, af: 2 },
      { forwarding: "dr", weight: 1 },
    );
    const good = new AddService(WEB, WLC);
    const before = k.commands.length;
    const r = await c.apply([bad, good]);
    expect(r.failed.map((f) => f.error.code)).toEqual(["IPVS_INVALID_DEST"]);
    expect(r.applied).toEqual([good]);
    expect(k.commands.slice(before).map((x) => x.cmd)).toEqual([1]);
    // A writer that failed mid-op is left as it was.
    const w = new AttrWriter().u16(1, 2);
    expect(() => writeOp(bad, w)).toThrow();
    expect(w.toBuffer().toString("hex")).toBe("0600010002000000");
    c.close();
  });
});

describe("one op at a time", () => {
  it("throws coded errors that name the operation and the entry", async () => {
    const { c } = await open();
    await c.newService(WEB, WLC);
    const dup = await c.newService(WEB, WLC).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(IpvsOpError);
    expect(dup).toMatchObject({
      code: "EEXIST",
      message: "add service tcp 10.0.0.100:80: EEXIST (File exists) — the service already exists",
      context: { operation: "add_service", service: "tcp 10.0.0.100:80", errno: 17 },
    });
    expect(await c.setService(DNS, WLC).catch((e: unknown) => (e as VipdError).code)).toBe("ESRCH");
    await c.newDest(WEB, { address: "10.0.0.21", port: 80 }, { forwarding: "nat", weight: 1 });
    await c.setDest(
      WEB,
      { address: "10.0.0.21", port: 80 },
      { forwarding: "nat", weight: 9, upperThreshold: 50 },
    );
    expect((await c.listDests(WEB))[0]?.options).toEqual({
      forwarding: "nat",
      weight: 9,
      upperThreshold: 50,
      lowerThreshold: 0,
    });
    const gone = await c.delDest(WEB, { address: "10.0.0.99", port: 80 }).catch((e: unknown) => e);
    expect(gone).toMatchObject({
      code: "ENOENT",
      context: { operation: "del_dest", dest: "10.0.0.99:80" },
    });
    expect((gone as Error).message).toContain("the destination does not exist");
    await c.setService(WEB, { scheduler: "rr" });
    expect((await c.getService(WEB))?.options.scheduler).toBe("rr");
    await c.delDest(WEB, { address: "10.0.0.21", port: 80 });
    await c.delService(WEB);
    expect(await c.readTable()).toEqual([]);
    c.close();
  });

  it("flushes the table and zeroes counters", async () => {
    const { k, c } = await open();
    await c.apply(
      addAll([
        { service: { key: WEB, options: WLC }, destinations: [] },
        { service: { key: DNS, options: WLC }, destinations: [] },
      ]),
    );
    await c.zero(WEB);
    await c.zero();
    expect(k.zeroed).toBe(2);
    const zeroCmds = k.commands.filter((x) => x.cmd === 16);
    expect(zeroCmds.map((x) => x.payload.length > 0)).toEqual([true, false]);
    await c.flush();
    expect(await c.readTable()).toEqual([]);
    c.close();
  });

  it("runs requests one at a time, so dumps never overlap", async () => {
    const { c } = await open();
    await c.apply(addAll([{ service: { key: WEB, options: WLC }, destinations: [] }]));
    const [a, b, info] = await Promise.all([c.readTable(), c.snapshot(), c.getInfo()]);
    expect(a).toHaveLength(1);
    expect(b.table).toHaveLength(1);
    expect(info.version).toBe("1.2.1");
    c.close();
  });
});

describe("sync daemons", () => {
  it("starts, lists and stops the master and backup daemons", async () => {
    const { k, c } = await open();
    await c.startDaemon({ state: "master", interface: "eth1", syncId: 7 });
    await c.startDaemon({ state: "backup", interface: "eth1", syncId: 7 });
    expect(await c.getDaemons()).toEqual([
      { state: "master", interface: "eth1", syncId: 7 },
      { state: "backup", interface: "eth1", syncId: 7 },
    ]);
    expect(
      await c.startDaemon({ state: "master", interface: "eth1", syncId: 7 }).catch((e: VipdError) => e.code),
    ).toBe("EEXIST");
    await c.stopDaemon("master");
    expect(k.daemons.map((d) => d.state)).toEqual([2]);
    expect(await c.stopDaemon("master").catch((e: VipdError) => e.code)).toBe("ESRCH");
    c.close();
  });
});

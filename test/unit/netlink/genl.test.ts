import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { setLogLevel } from "../../../src/log.js";
import { AttrWriter } from "../../../src/netlink/attr.js";
import { NetlinkConnection, NetlinkError } from "../../../src/netlink/connection.js";
import {
  CTRL_ATTR_FAMILY_NAME,
  decodeFamily,
  decodeGenl,
  encodeGenlHeader,
  encodeGetFamily,
  GENL_ID_CTRL,
  GenlClient,
  GenlFamily,
  type GenlFamilyInfo,
} from "../../../src/netlink/genl.js";
import {
  decodeMessages,
  encodeMessage,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  type NlMessage,
} from "../../../src/netlink/message.js";
import { ack, done, FakeNetlinkSocket, nack, part, reply } from "../../../src/netlink/testing.js";
import type { OpenOptions } from "../../../src/sys/socket-types.js";

setLogLevel("silent");

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// The kernel's answer to CTRL_CMD_GETFAMILY "nlctrl" (6.18), captured in a netns.
const NLCTRL_REPLY = hex(
  "88000000 1000 0000 01000000 c81e0000" + // nlmsghdr: len 136, type GENL_ID_CTRL, seq 1, pid
    "01 02 0000" + // genlmsghdr: CTRL_CMD_NEWFAMILY, version 2
    "0b00 0200 6e6c6374726c00 00" + // FAMILY_NAME "nlctrl"
    "0600 0100 1000 0000" + // FAMILY_ID 0x10
    "0800 0300 02000000" + // VERSION 2
    "0800 0400 00000000" + // HDRSIZE 0
    "0800 0500 00000000" + // MAXATTR 0
    "2c00 0600" + // OPS
    "1400 0100 0800 0100 03000000 0800 0200 0e000000" + // op 3 (GETFAMILY), flags 0x0e
    "1400 0200 0800 0100 0a000000 0800 0200 0c000000" + // op 10 (GETPOLICY), flags 0x0c
    "1c00 0700" + // MCAST_GROUPS
    "1800 0100 0800 0200 10000000 0b00 0100 6e6f7469667900 00", // group "notify" id 0x10
);

function withSeq(buf: Buffer, seq: number): Buffer {
  const b = Buffer.from(buf);
  b.writeUInt32LE(seq, 8);
  return b;
}

const IPVS: GenlFamilyInfo = {
  id: 0x23,
  name: "IPVS",
  version: 1,
  hdrSize: 0,
  maxAttr: 6,
  ops: [],
  multicastGroups: [{ name: "events", id: 9 }],
};

async function rejection(p: Promise<unknown>): Promise<VipdError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VipdError);
    return err as VipdError;
  }
  throw new Error("expected a rejection");
}

describe("generic netlink codec", () => {
  it("encodes CTRL_CMD_GETFAMILY for IPVS byte by byte", () => {
    const buf = encodeMessage({ ...encodeGetFamily("IPVS"), flags: NLM_F_REQUEST | NLM_F_ACK, seq: 1 });
    expect(buf.toString("hex")).toBe(
      [
        "20000000", // nlmsg_len 32
        "1000", // type GENL_ID_CTRL
        "0500", // NLM_F_REQUEST | NLM_F_ACK
        "01000000", // seq 1
        "00000000", // pid 0 (the kernel fills in ours)
        "03010000", // genlmsghdr: cmd CTRL_CMD_GETFAMILY (3), version 1, reserved
        "0900", // nla_len 9 = 4 + "IPVS\0"
        "0200", // CTRL_ATTR_FAMILY_NAME
        "4950565300", // "IPVS\0"
        "000000", // padding to 4
      ].join(""),
    );
  });

  it("decodes the kernel's nlctrl family reply", () => {
    const [m] = decodeMessages(NLCTRL_REPLY);
    const g = decodeGenl(m!);
    expect(g.cmd).toBe(1);
    expect(g.version).toBe(2);
    expect(g.attrs.string(CTRL_ATTR_FAMILY_NAME)).toBe("nlctrl");
    expect(decodeFamily(m!)).toEqual({
      id: 0x10,
      name: "nlctrl",
      version: 2,
      hdrSize: 0,
      maxAttr: 0,
      ops: [
        { id: 3, flags: 0x0e },
        { id: 10, flags: 0x0c },
      ],
      multicastGroups: [{ name: "notify", id: 0x10 }],
    });
  });

  it("rejects a message too short for the genl header, and a reply without a family id", () => {
    const short = decodeMessages(encodeMessage({ type: 0x10, payload: Buffer.from([1, 2]) }))[0]!;
    expect(() => decodeGenl(short)).toThrow(expect.objectContaining({ code: "NETLINK_MALFORMED" }));
    const noId = decodeMessages(
      encodeMessage({
        type: 0x10,
        payload: [encodeGenlHeader({ cmd: 1, version: 2 }), new AttrWriter().string(2, "x").toBuffer()],
      }),
    )[0]!;
    const err = (() => {
      try {
        decodeFamily(noId);
      } catch (e) {
        return e as VipdError;
      }
      return undefined;
    })();
    expect(err?.code).toBe("NETLINK_ATTR_MISSING");
    expect(err?.message).toContain("CTRL_ATTR_FAMILY_ID");
  });
});

describe("GenlClient", () => {
  function kernel(req: NlMessage): Buffer[] {
    if (req.header.type !== GENL_ID_CTRL) return [nack(req, 95)];
    const g = decodeGenl(req);
    const name = g.attrs.string(CTRL_ATTR_FAMILY_NAME);
    if (name === "nlctrl") return [withSeq(NLCTRL_REPLY, req.header.seq), ack(req)];
    return [nack(req, 2)];
  }

  it("resolves a family through nlctrl and caches the answer", async () => {
    const sock = new FakeNetlinkSocket(kernel);
    const client = new GenlClient(new NetlinkConnection(sock));
    const [a, b] = await Promise.all([client.resolveFamily("nlctrl"), client.resolveFamily("nlctrl")]);
    expect(a.id).toBe(0x10);
    expect(b).toBe(a);
    expect(sock.requests).toHaveLength(1);
    const req = sock.requests[0]!;
    expect(req.header.flags).toBe(NLM_F_REQUEST | NLM_F_ACK);
    // genlmsghdr {3, 1}, then nla_len 11 (4 + "nlctrl\0"), CTRL_ATTR_FAMILY_NAME, one byte of padding.
    expect(req.payload.toString("hex")).toBe(
      "030100000b000200" + Buffer.from("nlctrl\0").toString("hex") + "00",
    );
    client.close();
  });

  it("rejects an unknown family with ENOENT naming it, and does not cache the failure", async () => {
    const sock = new FakeNetlinkSocket(kernel);
    const client = new GenlClient(new NetlinkConnection(sock));
    const err = (await rejection(client.resolveFamily("NOPE"))) as NetlinkError;
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err.code).toBe("ENOENT");
    expect(err.operation).toBe('resolve generic netlink family "NOPE"');
    expect(err.message).toBe(
      'resolve generic netlink family "NOPE" failed: ENOENT (No such file or directory)',
    );
    await rejection(client.resolveFamily("NOPE"));
    expect(sock.requests).toHaveLength(2);
  });

  it("opens a NETLINK_GENERIC socket", async () => {
    const sock = new FakeNetlinkSocket(kernel);
    const opened: OpenOptions[] = [];
    const client = await GenlClient.open(sock.opener(opened), { netns: "/run/netns/t" });
    expect(opened[0]).toMatchObject({ family: "netlink", protocol: 16, netns: "/run/netns/t" });
    const fam = await client.family("nlctrl");
    expect(fam).toBeInstanceOf(GenlFamily);
    expect(fam.version).toBe(2);
    client.close();
  });
});

describe("GenlFamily", () => {
  it("builds requests with the family id and version, and decodes replies", async () => {
    const sock = new FakeNetlinkSocket((req) => [
      reply(req, 0x23, [
        encodeGenlHeader({ cmd: 15, version: 1 }),
        new AttrWriter().u32(1, 0x010201).toBuffer(),
      ]),
      ack(req),
    ]);
    const fam = new GenlFamily(new NetlinkConnection(sock), IPVS);
    const replies = await fam.request(15, undefined, { operation: "get IPVS info" });
    expect(sock.requests[0]!.header).toMatchObject({ type: 0x23, flags: NLM_F_REQUEST | NLM_F_ACK });
    expect(sock.requests[0]!.payload.toString("hex")).toBe("0f010000");
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ cmd: 15, version: 1 });
    expect(replies[0]!.attrs.u32(1)).toBe(0x010201);
  });

  it("dumps, decoding every part", async () => {
    const sock = new FakeNetlinkSocket((req) => [
      part(req, 0x23, [encodeGenlHeader({ cmd: 1, version: 1 }), new AttrWriter().u16(1, 2).toBuffer()]),
      part(req, 0x23, [encodeGenlHeader({ cmd: 1, version: 1 }), new AttrWriter().u16(1, 10).toBuffer()]),
      done(req),
    ]);
    const fam = new GenlFamily(new NetlinkConnection(sock), IPVS);
    const out = await fam.dump(4, new AttrWriter().flag(9), { operation: "list services" });
    expect(sock.requests[0]!.header.flags).toBe(NLM_F_REQUEST | NLM_F_DUMP);
    expect(sock.requests[0]!.payload.toString("hex")).toBe("0401000004000900");
    expect(out.map((g) => g.attrs.u16(1))).toEqual([2, 10]);
  });

  it("batches commands with per-item results", async () => {
    const sock = new FakeNetlinkSocket((req) =>
      decodeGenl(req).attrs.u32(1) === 2 ? nack(req, 17) : ack(req),
    );
    const fam = new GenlFamily(new NetlinkConnection(sock), IPVS);
    const results = await fam.batch(
      [1, 2, 3].map((n) => ({ cmd: 1, attrs: new AttrWriter().u32(1, n), operation: `add service ${n}` })),
    );
    expect(sock.sent).toHaveLength(1);
    expect(results.map((r) => (r.ok ? "ok" : (r.error as VipdError).code))).toEqual(["ok", "EEXIST", "ok"]);
  });

  it("retries the first request once when asked to (module autoload)", async () => {
    let calls = 0;
    const sock = new FakeNetlinkSocket((req) => {
      calls++;
      return calls === 1 || calls === 3 ? nack(req, 22) : ack(req);
    });
    const fam = new GenlFamily(new NetlinkConnection(sock), IPVS, { retryFirstRequest: true });
    await expect(fam.request(1, undefined, { operation: "first" })).resolves.toEqual([]);
    expect(calls).toBe(2);
    // Only the first request gets a retry.
    expect((await rejection(fam.request(1, undefined, { operation: "later" }))).code).toBe("EINVAL");
    expect(calls).toBe(3);
  });

  it("in a first batch, re-sends only the failed items", async () => {
    const seen: number[] = [];
    const sock = new FakeNetlinkSocket((req) => {
      const n = decodeGenl(req).attrs.u32(1)!;
      seen.push(n);
      return n === 2 && seen.filter((x) => x === 2).length === 1 ? nack(req, 2) : ack(req);
    });
    const fam = new GenlFamily(new NetlinkConnection(sock), IPVS, {
      retryFirstRequest: (e) => e instanceof NetlinkError,
    });
    const results = await fam.batch(
      [1, 2, 3].map((n) => ({ cmd: 1, attrs: new AttrWriter().u32(1, n), operation: `op ${n}` })),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    expect(seen).toEqual([1, 2, 3, 2]);
  });

  it("without the option, a failed first request is not retried", async () => {
    const sock = new FakeNetlinkSocket((req) => nack(req, 22));
    const fam = new GenlFamily(new NetlinkConnection(sock), IPVS);
    await rejection(fam.request(1, undefined, { operation: "x" }));
    expect(sock.requests).toHaveLength(1);
  });

  it("joins a multicast group and delivers this family's notifications", () => {
    const sock = new FakeNetlinkSocket();
    const conn = new NetlinkConnection(sock);
    const fam = new GenlFamily(conn, IPVS);
    const got: number[] = [];
    const stop = fam.subscribe("events", (g) => got.push(g.cmd));
    expect(sock.options).toContainEqual({ level: 270, name: 1, value: 9 });
    sock.notify(encodeMessage({ type: 0x23, payload: encodeGenlHeader({ cmd: 7, version: 1 }) }), 1 << 8);
    sock.notify(encodeMessage({ type: 0x24, payload: encodeGenlHeader({ cmd: 8, version: 1 }) }), 1 << 8);
    expect(got).toEqual([7]);
    stop();
    expect(sock.options).toContainEqual({ level: 270, name: 2, value: 9 });
    expect(() => fam.subscribe("nope", () => {})).toThrow(
      expect.objectContaining({ code: "NETLINK_NO_SUCH_GROUP" }),
    );
  });
});

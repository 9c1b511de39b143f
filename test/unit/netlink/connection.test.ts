import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { setLogLevel } from "../../../src/log.js";
import { NetlinkConnection, NetlinkError } from "../../../src/netlink/connection.js";
import {
  encodeMessage,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  type NlMessage,
  SOL_NETLINK,
} from "../../../src/netlink/message.js";
import { ack, done, FakeNetlinkSocket, nack, part, reply } from "../../../src/netlink/testing.js";
import type { OpenOptions } from "../../../src/sys/socket-types.js";

const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const payloadOf = (s: string) => Buffer.from(s);
const texts = (msgs: NlMessage[]) => msgs.map((m) => m.payload.toString());

async function rejection(p: Promise<unknown>): Promise<VipdError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VipdError);
    return err as VipdError;
  }
  throw new Error("expected a rejection");
}

setLogLevel("silent");

afterEach(() => {
  vi.useRealTimers();
});

describe("NetlinkConnection: setup", () => {
  it("opens a netlink socket, binds it and asks for extended and capped acks", async () => {
    const sock = new FakeNetlinkSocket();
    const opened: OpenOptions[] = [];
    const conn = await NetlinkConnection.open(sock.opener(opened), {
      protocol: 16,
      netns: "/run/netns/x",
      groups: 0x11,
    });
    expect(opened).toEqual([
      { family: "netlink", protocol: 16, netns: "/run/netns/x", recvBufferSize: 65536 },
    ]);
    expect(sock.bound).toEqual({ family: "netlink", pid: 0, groups: 0x11 });
    expect(sock.options).toContainEqual({ level: SOL_NETLINK, name: NETLINK_EXT_ACK, value: 1 });
    expect(sock.options).toContainEqual({ level: SOL_NETLINK, name: NETLINK_CAP_ACK, value: 1 });
    expect(conn.portId()).toBe(4242);
    conn.close();
    expect(sock.closed).toBe(true);
  });
});

describe("NetlinkConnection: open failures", () => {
  it("wraps a socket that cannot be opened in NETLINK_OPEN_FAILED naming the namespace", async () => {
    const opener = () => {
      throw Object.assign(new Error("open /run/netns/gone: No such file or directory"), { code: "ENOENT" });
    };
    const err = await rejection(NetlinkConnection.open(opener, { protocol: 0, netns: "/run/netns/gone" }));
    expect(err.code).toBe("NETLINK_OPEN_FAILED");
    expect(err.message).toMatch(
      /^opening a netlink socket \(protocol 0\) in \/run\/netns\/gone failed: ENOENT/,
    );
    expect(err.context).toMatchObject({ netns: "/run/netns/gone", errnoCode: "ENOENT" });
  });

  it("closes the socket when binding fails", async () => {
    const sock = new FakeNetlinkSocket();
    sock.bind = () => {
      throw new Error("bind EADDRINUSE");
    };
    await expect(NetlinkConnection.open(sock.opener(), { protocol: 0 })).rejects.toThrow("bind EADDRINUSE");
    expect(sock.closed).toBe(true);
  });
});

describe("NetlinkConnection: request", () => {
  it("resolves on the ACK, with the sequence number and flags set", async () => {
    const sock = new FakeNetlinkSocket((req) => ack(req));
    const conn = new NetlinkConnection(sock, { initialSeq: 100 });
    await expect(
      conn.request({ type: RTM_NEWADDR, flags: 0x600, payload: payloadOf("x") }, { operation: "add" }),
    ).resolves.toEqual([]);
    expect(sock.requests[0]!.header).toMatchObject({
      type: RTM_NEWADDR,
      flags: 0x600 | NLM_F_REQUEST | NLM_F_ACK,
      seq: 100,
      pid: 0,
    });
    expect(conn.inFlight).toBe(0);
  });

  it("ignores datagrams from another sender than the kernel (a forged answer does not resolve the request)", async () => {
    let forged: Buffer | undefined;
    const sock = new FakeNetlinkSocket((req) => {
      forged = Buffer.concat([reply(req, 16, payloadOf("forged")), nack(req, 1)]);
      return undefined;
    });
    const conn = new NetlinkConnection(sock);
    const answer = conn.request({ type: 16 }, { operation: "get" });
    await Promise.resolve();
    const req = sock.requests[0]!;
    sock.deliver(forged!, { from: { family: "netlink", pid: 31337, groups: 0 } });
    expect(conn.inFlight).toBe(1);
    sock.deliver(Buffer.concat([reply(req, 16, payloadOf("real")), ack(req)]));
    expect(texts(await answer)).toEqual(["real"]);
  });

  it("returns replies that came before the ACK", async () => {
    const sock = new FakeNetlinkSocket((req) => [reply(req, 16, payloadOf("family")), ack(req)]);
    const conn = new NetlinkConnection(sock);
    expect(texts(await conn.request({ type: 16 }, { operation: "get" }))).toEqual(["family"]);
  });

  it("without ack, resolves on the first reply", async () => {
    const sock = new FakeNetlinkSocket((req) => reply(req, 16, payloadOf("one")));
    const conn = new NetlinkConnection(sock);
    expect(texts(await conn.request({ type: 18 }, { operation: "get", ack: false }))).toEqual(["one"]);
    expect(sock.requests[0]!.header.flags & NLM_F_ACK).toBe(0);
  });

  it("rejects with a NetlinkError coded by errno, naming the operation, with extack", async () => {
    const sock = new FakeNetlinkSocket((req) =>
      nack(req, 17, { message: "address already assigned", offset: 24 }),
    );
    const conn = new NetlinkConnection(sock);
    const body = Buffer.concat([Buffer.alloc(8), Buffer.from("08000200 0a000064".replace(/ /g, ""), "hex")]);
    const err = await rejection(
      conn.request({ type: RTM_NEWADDR, payload: body }, { operation: "add address 10.0.0.100/24 on veth0" }),
    );
    expect(err).toBeInstanceOf(NetlinkError);
    const ne = err as NetlinkError;
    expect(ne.code).toBe("EEXIST");
    expect(ne.errno).toBe(17);
    expect(ne.operation).toBe("add address 10.0.0.100/24 on veth0");
    expect(ne.extack).toEqual({ message: "address already assigned", offset: 24 });
    expect(ne.message).toBe(
      "add address 10.0.0.100/24 on veth0 failed: EEXIST (File exists): address already assigned [at byte 24, attribute type 2]",
    );
    expect(ne.context).toMatchObject({
      errno: 17,
      extackMessage: "address already assigned",
      extackOffset: 24,
      attributeType: 2,
    });
  });

  it("keeps several requests apart by sequence number, whatever order the answers come in", async () => {
    const held: NlMessage[] = [];
    const sock = new FakeNetlinkSocket((req) => {
      held.push(req);
      return undefined;
    });
    const conn = new NetlinkConnection(sock);
    const a = conn.request({ type: 16, payload: payloadOf("a") }, { operation: "a" });
    const b = conn.dump({ type: RTM_GETADDR }, { operation: "b" });
    const c = conn.request({ type: 16 }, { operation: "c" });
    expect(conn.inFlight).toBe(3);
    const [ra, rb, rc] = held;
    sock.deliver(Buffer.concat([nack(rc!, 1), part(rb!, 20, payloadOf("b1"))]));
    sock.deliver(Buffer.concat([reply(ra!, 16, payloadOf("a-reply")), part(rb!, 20, payloadOf("b2"))]));
    sock.deliver(ack(ra!));
    sock.deliver(done(rb!));
    expect(texts(await a)).toEqual(["a-reply"]);
    expect(texts(await b)).toEqual(["b1", "b2"]);
    expect((await rejection(c)).code).toBe("EPERM");
  });

  it("times out with NETLINK_TIMEOUT naming the operation, and drops a late answer", async () => {
    vi.useFakeTimers();
    const held: NlMessage[] = [];
    const sock = new FakeNetlinkSocket((req) => {
      held.push(req);
      return undefined;
    });
    const conn = new NetlinkConnection(sock, { timeoutMs: 2000 });
    const notes: NlMessage[] = [];
    conn.on("notification", (m) => notes.push(m));
    const p = rejection(conn.request({ type: 16 }, { operation: "resolve family IPVS" }));
    const q = rejection(conn.request({ type: 16 }, { operation: "quick", timeoutMs: 10 }));
    await vi.advanceTimersByTimeAsync(10);
    expect((await q).code).toBe("NETLINK_TIMEOUT");
    expect(conn.inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(1990);
    const err = await p;
    expect(err.code).toBe("NETLINK_TIMEOUT");
    expect(err.message).toBe("resolve family IPVS: no answer from the kernel within 2000 ms");
    expect(err.context).toMatchObject({ operation: "resolve family IPVS", timeoutMs: 2000 });
    sock.deliver(Buffer.concat([reply(held[0]!, 16, payloadOf("late")), ack(held[0]!)]));
    expect(notes).toEqual([]);
    expect(conn.inFlight).toBe(0);
  });

  it("fails a request whose send fails", async () => {
    const sock = new FakeNetlinkSocket((req) => ack(req));
    sock.failNextSend = Object.assign(new Error("sendmsg ENOBUFS"), { code: "ENOBUFS" });
    const conn = new NetlinkConnection(sock);
    const err = await rejection(conn.request({ type: 16 }, { operation: "op" }));
    expect(err.code).toBe("NETLINK_SEND_FAILED");
    expect(err.message).toContain("op: sending to the kernel failed");
    expect(conn.inFlight).toBe(0);
  });
});

describe("NetlinkConnection: dump", () => {
  it("collects multi-part answers across several datagrams until DONE", async () => {
    const sock = new FakeNetlinkSocket((req) => [
      Buffer.concat([part(req, 20, payloadOf("1")), part(req, 20, payloadOf("2"))]),
      part(req, 20, payloadOf("3")),
      Buffer.concat([part(req, 20, payloadOf("4")), done(req)]),
    ]);
    const conn = new NetlinkConnection(sock);
    expect(texts(await conn.dump({ type: RTM_GETADDR }, { operation: "list addresses" }))).toEqual([
      "1",
      "2",
      "3",
      "4",
    ]);
    expect(sock.requests[0]!.header.flags).toBe(NLM_F_REQUEST | NLM_F_DUMP);
  });

  it("rejects when DONE carries an errno", async () => {
    const sock = new FakeNetlinkSocket((req) => [
      part(req, 20, payloadOf("1")),
      done(req, 16, { message: "table busy" }),
    ]);
    const conn = new NetlinkConnection(sock);
    const err = (await rejection(
      conn.dump({ type: RTM_GETADDR }, { operation: "list services" }),
    )) as NetlinkError;
    expect(err.code).toBe("EBUSY");
    expect(err.message).toBe("list services failed: EBUSY (Device or resource busy): table busy");
  });

  it("rejects when the dump cannot start (NLMSG_ERROR instead of parts)", async () => {
    const sock = new FakeNetlinkSocket((req) => nack(req, 95));
    const conn = new NetlinkConnection(sock);
    expect((await rejection(conn.dump({ type: 30 }, { operation: "dump x" }))).code).toBe("EOPNOTSUPP");
  });

  it("re-issues a dump the kernel marks inconsistent (NLM_F_DUMP_INTR)", async () => {
    let n = 0;
    const sock = new FakeNetlinkSocket((req) => {
      n++;
      if (n === 1) {
        const intr = encodeMessage({
          type: 20,
          flags: NLM_F_MULTI | NLM_F_DUMP_INTR,
          seq: req.header.seq,
          payload: payloadOf("stale"),
        });
        return [intr, done(req)];
      }
      return [part(req, 20, payloadOf("fresh")), done(req)];
    });
    const conn = new NetlinkConnection(sock);
    expect(texts(await conn.dump({ type: RTM_GETADDR }, { operation: "list" }))).toEqual(["fresh"]);
    expect(sock.requests).toHaveLength(2);
  });

  it("gives up on a dump that stays inconsistent", async () => {
    const sock = new FakeNetlinkSocket((req) => [
      encodeMessage({
        type: 20,
        flags: NLM_F_MULTI | NLM_F_DUMP_INTR,
        seq: req.header.seq,
        payload: payloadOf("x"),
      }),
      done(req),
    ]);
    const conn = new NetlinkConnection(sock);
    const err = await rejection(conn.dump({ type: RTM_GETADDR }, { operation: "list", retries: 1 }));
    expect(err.code).toBe("NETLINK_DUMP_INTERRUPTED");
    expect(sock.requests).toHaveLength(2);
  });
});

describe("NetlinkConnection: batch", () => {
  it("sends one datagram, keeps going after a failure and reports each result", async () => {
    const sock = new FakeNetlinkSocket((req) =>
      req.payload.toString() === "b" ? nack(req, 17, { message: "exists" }) : ack(req),
    );
    const conn = new NetlinkConnection(sock);
    const results = await conn.batch(
      ["a", "b", "c"].map((s) => ({
        msg: { type: 24, flags: 0x400, payload: payloadOf(s) },
        operation: `add ${s}`,
      })),
    );
    expect(sock.sent).toHaveLength(1);
    expect(sock.requests.map((r) => r.payload.toString())).toEqual(["a", "b", "c"]);
    for (const r of sock.requests) expect(r.header.flags).toBe(0x400 | NLM_F_REQUEST | NLM_F_ACK);
    expect(new Set(sock.requests.map((r) => r.header.seq)).size).toBe(3);
    expect(results[0]).toEqual({ ok: true, replies: [] });
    expect(results[2]).toEqual({ ok: true, replies: [] });
    const failed = results[1]!;
    expect(failed.ok).toBe(false);
    if (!failed.ok) {
      expect(failed.error).toBeInstanceOf(NetlinkError);
      expect(failed.error.message).toBe("add b failed: EEXIST (File exists): exists");
    }
  });

  it("splits a batch into datagrams by message count and byte size", async () => {
    const sock = new FakeNetlinkSocket((req) => ack(req));
    const conn = new NetlinkConnection(sock, { maxBatchMessages: 2, maxBatchBytes: 64 });
    const items = [8, 8, 8, 40, 40].map((n, i) => ({
      msg: { type: 24, payload: Buffer.alloc(n, i) },
      operation: `op ${i}`,
    }));
    const results = await conn.batch(items);
    expect(results.every((r) => r.ok)).toBe(true);
    // 2 by count, then 24+56 > 64 bytes, then the last alone.
    expect(sock.sent.map((d) => d.length)).toEqual([48, 24, 56, 56]);
    const seqs = sock.requests.map((r) => r.header.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(5);
  });

  it("times out only the items the kernel never answered", async () => {
    vi.useFakeTimers();
    const sock = new FakeNetlinkSocket((req) => (req.payload.toString() === "lost" ? undefined : ack(req)));
    const conn = new NetlinkConnection(sock, { timeoutMs: 50 });
    const p = conn.batch(
      ["ok", "lost"].map((s) => ({ msg: { type: 24, payload: payloadOf(s) }, operation: s })),
    );
    await vi.advanceTimersByTimeAsync(50);
    const results = await p;
    expect(results[0]!.ok).toBe(true);
    const lost = results[1]!;
    expect(lost.ok === false && (lost.error as VipdError).code).toBe("NETLINK_TIMEOUT");
  });

  it("fails every item of a datagram that could not be sent, and carries on", async () => {
    const sock = new FakeNetlinkSocket((req) => ack(req));
    sock.failNextSend = new Error("EMSGSIZE");
    const conn = new NetlinkConnection(sock, { maxBatchMessages: 2 });
    const results = await conn.batch([1, 2, 3].map((i) => ({ msg: { type: 24 }, operation: `op ${i}` })));
    expect(results.map((r) => (r.ok ? "ok" : (r.error as VipdError).code))).toEqual([
      "NETLINK_SEND_FAILED",
      "NETLINK_SEND_FAILED",
      "ok",
    ]);
  });
});

describe('NetlinkConnection: batch with acks: "errors"', () => {
  /** Like the kernel: a message without NLM_F_ACK is answered only when it fails. */
  function quietKernel(refuse: (req: NlMessage) => number | undefined = () => undefined) {
    return (req: NlMessage) => {
      const errno = refuse(req);
      if (errno !== undefined) return nack(req, errno, { message: `refused ${req.payload}`, offset: 20 });
      return (req.header.flags & NLM_F_ACK) !== 0 ? ack(req) : undefined;
    };
  }
  const items = (names: string[]) =>
    names.map((s) => ({
      msg: { type: 24, flags: 0x400, payload: payloadOf(`${s}.......`) },
      operation: `add ${s}`,
    }));

  it("asks only the last message of each datagram for an ack; successes get no answer", async () => {
    const sock = new FakeNetlinkSocket(quietKernel());
    const answered: Buffer[] = [];
    sock.on("message", (b: Buffer) => answered.push(b));
    const conn = new NetlinkConnection(sock, { maxBatchMessages: 3 });
    let named = 0;
    const results = await conn.batch(
      ["a", "b", "c", "d", "e"].map((s) => ({
        msg: { type: 24, flags: 0x400 | NLM_F_ACK, payload: payloadOf(s) },
        operation: () => {
          named++;
          return `add ${s}`;
        },
      })),
      { acks: "errors" },
    );
    expect(results).toEqual(Array.from({ length: 5 }, () => ({ ok: true, replies: [] })));
    expect(sock.sent).toHaveLength(2);
    expect(sock.requests.map((r) => r.payload.toString())).toEqual(["a", "b", "c", "d", "e"]);
    expect(sock.requests.map((r) => r.header.flags)).toEqual([
      0x400 | NLM_F_REQUEST,
      0x400 | NLM_F_REQUEST,
      0x400 | NLM_F_REQUEST | NLM_F_ACK,
      0x400 | NLM_F_REQUEST,
      0x400 | NLM_F_REQUEST | NLM_F_ACK,
    ]);
    // Only the two barriers were answered, and no operation was named.
    expect(answered).toHaveLength(2);
    expect(named).toBe(0);
    // The bytes are what encodeMessage makes for each message, one after the other.
    expect(Buffer.concat(sock.sent).toString("hex")).toBe(
      Buffer.concat(
        sock.requests.map((r) =>
          encodeMessage({ type: 24, flags: r.header.flags, seq: r.header.seq, payload: r.payload }),
        ),
      ).toString("hex"),
    );
    expect(conn.inFlight).toBe(0);
  });

  it("takes requests that write themselves into the datagram: same bytes, failures and refusals by index", async () => {
    const names = ["a", "b", "x", "c", "d"];
    const sock = new FakeNetlinkSocket(
      quietKernel((req) => (req.payload.toString().startsWith("c") ? 17 : undefined)),
    );
    const conn = new NetlinkConnection(sock, { maxBatchMessages: 2 });
    const named: number[] = [];
    const results = await conn.batch(
      {
        length: names.length,
        type: () => 24,
        flags: () => 0x400,
        write: (i, w) => {
          w.append(payloadOf(`${names[i]}.......`));
          if (names[i] === "x") throw new Error("cannot encode x");
        },
        operation: (i) => {
          named.push(i);
          return `add ${names[i]}`;
        },
      },
      { acks: "errors" },
    );
    expect(results.map((r) => r.ok)).toEqual([true, true, false, false, true]);
    expect((results[2] as { error: Error }).error.message).toBe("cannot encode x");
    const refused = (results[3] as { error: Error }).error;
    expect(refused).toBeInstanceOf(NetlinkError);
    expect(refused.message).toMatch(/^add c failed: EEXIST/);
    // Only the refused request was named; x never reached the kernel.
    expect(named).toEqual([3]);
    expect(sock.requests.map((r) => r.payload.toString().slice(0, 1))).toEqual(["a", "b", "c", "d"]);
    expect(sock.sent).toHaveLength(2);
    expect(sock.requests.map((r) => r.header.flags)).toEqual([
      0x400 | NLM_F_REQUEST,
      0x400 | NLM_F_REQUEST | NLM_F_ACK,
      0x400 | NLM_F_REQUEST,
      0x400 | NLM_F_REQUEST | NLM_F_ACK,
    ]);
    expect(Buffer.concat(sock.sent).toString("hex")).toBe(
      Buffer.concat(
        sock.requests.map((r) =>
          encodeMessage({ type: 24, flags: r.header.flags, seq: r.header.seq, payload: r.payload }),
        ),
      ).toString("hex"),
    );
    expect(conn.inFlight).toBe(0);
  });

  it("reports a failure in the middle of a datagram for exactly that item, with the attribute extack points at", async () => {
    const sock = new FakeNetlinkSocket(
      quietKernel((req) => (req.payload.toString().startsWith("b") ? 17 : undefined)),
    );
    const conn = new NetlinkConnection(sock);
    const results = await conn.batch(items(["a", "b", "c"]), { acks: "errors" });
    expect(sock.sent).toHaveLength(1);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    const failed = results[1]!;
    if (failed.ok) throw new Error("expected a failure");
    expect(failed.error).toBeInstanceOf(NetlinkError);
    expect(failed.error.message).toBe(
      "add b failed: EEXIST (File exists): refused b....... [at byte 20, attribute type 11822]",
    );
    expect((failed.error as NetlinkError).context).toMatchObject({
      seq: sock.requests[1]!.header.seq,
      attributeType: 0x2e2e,
    });
  });

  it("reports a refused barrier for that item only, and the items before it as done", async () => {
    const sock = new FakeNetlinkSocket(
      quietKernel((req) => (req.payload.toString().startsWith("c") ? 1 : undefined)),
    );
    const conn = new NetlinkConnection(sock);
    const results = await conn.batch(items(["a", "b", "c"]), { acks: "errors" });
    expect(results.map((r) => (r.ok ? "ok" : (r.error as VipdError).code))).toEqual(["ok", "ok", "EPERM"]);
  });

  it("waits for the barrier before the next datagram: the ack ends the datagram", async () => {
    const sock = new FakeNetlinkSocket(() => undefined); // answers by hand below
    const conn = new NetlinkConnection(sock, { maxBatchMessages: 2 });
    const p = conn.batch(items(["a", "b", "c"]), { acks: "errors" });
    await Promise.resolve();
    expect(sock.sent).toHaveLength(1);
    const [a, b] = sock.requests;
    // A failure of the first message, then the barrier's ack, in one datagram.
    sock.deliver(Buffer.concat([nack(a!, 22), ack(b!)]));
    await vi.waitFor(() => expect(sock.sent).toHaveLength(2));
    sock.deliver(ack(sock.requests[2]!));
    const results = await p;
    expect(results.map((r) => (r.ok ? "ok" : (r.error as VipdError).code))).toEqual(["EINVAL", "ok", "ok"]);
    // A late answer for a message of a finished datagram is dropped, not taken for a notification.
    const notes: NlMessage[] = [];
    conn.on("notification", (m) => notes.push(m));
    sock.deliver(nack(a!, 22));
    expect(notes).toEqual([]);
  });

  it("times out every item of an unanswered datagram, naming each operation (outcome unknown)", async () => {
    vi.useFakeTimers();
    // Refuses "a", and never answers the barrier.
    const sock = new FakeNetlinkSocket((req) =>
      req.payload.toString().startsWith("a") ? nack(req, 2) : undefined,
    );
    const conn = new NetlinkConnection(sock, { timeoutMs: 50 });
    const p = conn.batch(items(["a", "b", "c"]), { acks: "errors" });
    await vi.advanceTimersByTimeAsync(50);
    const results = await p;
    expect(results.map((r) => (r.ok ? "ok" : (r.error as VipdError).code))).toEqual([
      "ENOENT",
      "NETLINK_TIMEOUT",
      "NETLINK_TIMEOUT",
    ]);
    expect(results.map((r) => (r.ok ? "" : r.error.message)).slice(1)).toEqual([
      "add b: no answer to its datagram from the kernel within 50 ms (outcome unknown)",
      "add c: no answer to its datagram from the kernel within 50 ms (outcome unknown)",
    ]);
    expect(conn.inFlight).toBe(0);
  });

  it("fails every item of a datagram that could not be sent, naming each, and carries on", async () => {
    const sock = new FakeNetlinkSocket(quietKernel());
    sock.failNextSend = new Error("EMSGSIZE");
    const conn = new NetlinkConnection(sock, { maxBatchMessages: 2 });
    const results = await conn.batch(items(["a", "b", "c"]), { acks: "errors" });
    expect(results.map((r) => (r.ok ? "ok" : (r.error as VipdError).code))).toEqual([
      "NETLINK_SEND_FAILED",
      "NETLINK_SEND_FAILED",
      "ok",
    ]);
    expect(results.map((r) => (r.ok ? "" : r.error.message))).toEqual([
      "add a: sending to the kernel failed: EMSGSIZE",
      "add b: sending to the kernel failed: EMSGSIZE",
      "",
    ]);
  });

  it("returns replies to the items that have any, and fails everything once closed", async () => {
    const sock = new FakeNetlinkSocket((req) => {
      const r = req.payload.toString().startsWith("b") ? [reply(req, 24, payloadOf("hello"))] : [];
      return (req.header.flags & NLM_F_ACK) !== 0 ? [...r, ack(req)] : r;
    });
    const conn = new NetlinkConnection(sock);
    const results = await conn.batch(items(["a", "b", "c"]), { acks: "errors" });
    expect(results.map((r) => (r.ok ? texts(r.replies) : "failed"))).toEqual([[], ["hello"], []]);
    conn.close();
    const after = await conn.batch(items(["d", "e"]), { acks: "errors" });
    expect(after.map((r) => (r.ok ? "ok" : (r.error as VipdError).code))).toEqual([
      "NETLINK_CLOSED",
      "NETLINK_CLOSED",
    ]);
  });
});

describe("NetlinkConnection: unsolicited and broken input", () => {
  it("emits multicast and seq-0 messages as notifications", async () => {
    const held: NlMessage[] = [];
    const sock = new FakeNetlinkSocket((req) => {
      held.push(req);
      return undefined;
    });
    const conn = new NetlinkConnection(sock);
    const notes: string[] = [];
    conn.on("notification", (m) => notes.push(m.payload.toString()));
    const p = conn.request({ type: 20 }, { operation: "add" });
    // A multicast copy with our seq (what rtnetlink sends to the groups) is not our answer.
    sock.notify(
      encodeMessage({ type: 20, seq: held[0]!.header.seq, pid: 4242, payload: payloadOf("mcast") }),
      0x10,
    );
    sock.deliver(encodeMessage({ type: 16, seq: 0, payload: payloadOf("seq0") }));
    expect(notes).toEqual(["mcast", "seq0"]);
    expect(conn.inFlight).toBe(1);
    sock.deliver(ack(held[0]!));
    await expect(p).resolves.toEqual([]);
  });

  it("fails requests in flight on a malformed datagram with NETLINK_MALFORMED", async () => {
    const sock = new FakeNetlinkSocket(() => undefined);
    const conn = new NetlinkConnection(sock);
    const p = rejection(conn.request({ type: 16 }, { operation: "op" }));
    const bad = Buffer.alloc(20);
    bad.writeUInt32LE(400, 0);
    sock.deliver(bad);
    const err = await p;
    expect(err.code).toBe("NETLINK_MALFORMED");
    expect(err.context.offset).toBe(0);
  });

  it("fails requests in flight on a truncated datagram", async () => {
    const sock = new FakeNetlinkSocket(() => undefined);
    const conn = new NetlinkConnection(sock);
    const overruns: Error[] = [];
    conn.on("overrun", (e) => overruns.push(e));
    const p = rejection(conn.request({ type: 16 }, { operation: "op" }));
    sock.deliver(Buffer.alloc(16), { truncated: true });
    expect((await p).code).toBe("NETLINK_TRUNCATED");
    expect(overruns).toHaveLength(1);
  });

  it("reports ENOBUFS from the socket as an overrun", async () => {
    const sock = new FakeNetlinkSocket(() => undefined);
    const conn = new NetlinkConnection(sock);
    const overruns: Error[] = [];
    conn.on("overrun", (e) => overruns.push(e));
    const p = rejection(conn.request({ type: 16 }, { operation: "op" }));
    sock.emit("error", Object.assign(new Error("recvmsg ENOBUFS"), { code: "ENOBUFS" }));
    expect((await p).code).toBe("NETLINK_OVERRUN");
    expect((overruns[0] as VipdError).code).toBe("NETLINK_OVERRUN");
  });

  it("rejects requests in flight and new ones once closed", async () => {
    const sock = new FakeNetlinkSocket(() => undefined);
    const conn = new NetlinkConnection(sock);
    const p = rejection(conn.request({ type: 16 }, { operation: "op" }));
    conn.close();
    expect((await p).code).toBe("NETLINK_CLOSED");
    expect((await rejection(conn.request({ type: 16 }, { operation: "late" }))).code).toBe("NETLINK_CLOSED");
    const results = await conn.batch([{ msg: { type: 16 }, operation: "b" }]);
    const r0 = results[0]!;
    expect(r0.ok === false && (r0.error as VipdError).code).toBe("NETLINK_CLOSED");
  });

  it("rejects requests in flight when the socket closes under it", async () => {
    const sock = new FakeNetlinkSocket(() => undefined);
    const conn = new NetlinkConnection(sock);
    const p = rejection(conn.request({ type: 16 }, { operation: "op" }));
    sock.close();
    expect((await p).code).toBe("NETLINK_CLOSED");
    expect(conn.closed).toBe(true);
  });

  it("never throws out of the receive path, whatever the datagram", () => {
    const sock = new FakeNetlinkSocket(() => undefined);
    const conn = new NetlinkConnection(sock);
    conn.on("error", () => {});
    conn.on("notification", () => {});
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 3 }), (bytes, seq) => {
        const b = Buffer.from(bytes);
        if (b.length >= 16) b.writeUInt32LE(seq, 8);
        const p = conn.request({ type: 16 }, { operation: "fuzz", timeoutMs: 1 }).catch((e: unknown) => {
          expect(e).toBeInstanceOf(VipdError);
        });
        sock.deliver(b);
        return p !== undefined;
      }),
    );
    conn.close();
  });
});

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DnsCheckConfig, DnsRcode, DnsRecordType } from "../../../../src/config/types.js";
import { dnsCheck } from "../../../../src/health/checkers/dns.js";
import { RECORD_TYPES } from "../../../../src/health/dns-message.js";
import type { CheckTarget } from "../../../../src/health/types.js";
import { type Dnsmasq, dnsReply, startDnsmasq } from "./dnsmasq.js";

function spec(name: string, recordType: DnsRecordType = "A", rcode: DnsRcode = "NOERROR"): DnsCheckConfig {
  return {
    type: "dns",
    name,
    recordType,
    rcode,
    intervalMs: 1000,
    fastIntervalMs: 1000,
    downIntervalMs: 1000,
    timeoutMs: 1000,
    rise: 1,
    fall: 1,
    initial: "down",
  };
}

const never = () => new AbortController().signal;

/** Binds 127.0.0.1 (or ::1) on port 0. */
function bound(family: 4 | 6 = 4): Promise<{ socket: Socket; target: CheckTarget }> {
  const address = family === 6 ? "::1" : "127.0.0.1";
  const socket = createSocket(family === 6 ? "udp6" : "udp4");
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, address, () =>
      resolve({ socket, target: { address, port: socket.address().port, family } }),
    );
  });
}

const close = (s: Socket) => new Promise<void>((resolve) => s.close(() => resolve()));

/**
 * Whether the checker released its socket: its source port can be bound again. (A port in use
 * gives EADDRINUSE.)
 */
async function portFree(peer: RemoteInfo): Promise<boolean> {
  const s = createSocket(peer.family === "IPv6" ? "udp6" : "udp4");
  return new Promise((resolve) => {
    s.once("error", () => resolve(false));
    s.bind(peer.port, peer.address, () => s.close(() => resolve(true)));
  });
}

/**
 * A fake server: `answer` gets each query and its sender and returns the datagrams to send back
 * (none: stay silent). Returns the first query's sender, to check the checker's socket later.
 */
async function fake(answer: (query: Buffer, ac: AbortController) => Buffer[], family: 4 | 6 = 4) {
  const { socket, target } = await bound(family);
  const ac = new AbortController();
  let sender: RemoteInfo | undefined;
  socket.on("message", (query, rinfo) => {
    sender ??= rinfo;
    for (const reply of answer(query, ac)) socket.send(reply, rinfo.port, rinfo.address);
  });
  return {
    target,
    signal: ac.signal,
    sender: () => sender!,
    close: () => close(socket),
  };
}

const idOf = (query: Buffer) => query.readUInt16BE(0);
const a = (name: string) => ({ name, type: RECORD_TYPES.A, data: Buffer.from([192, 0, 2, 10]) });

describe("dnsCheck against dnsmasq", () => {
  let server: Dnsmasq;
  let target: CheckTarget;
  beforeAll(async () => {
    server = await startDnsmasq({ "rs1.test": "192.0.2.10", "v6.test": "2001:db8::10" });
    target = { address: "127.0.0.1", port: server.port, family: 4 };
  });
  afterAll(() => server?.stop());

  it("an A record for the name is up", async () => {
    expect(await dnsCheck(target, spec("rs1.test"), never())).toMatchObject({
      ok: true,
      code: "ok",
      reason: "NOERROR, 1 A record",
    });
    expect(await dnsCheck(target, spec("v6.test.", "AAAA"), never())).toMatchObject({ ok: true });
  });

  it("NXDOMAIN where NOERROR is expected is dns_rcode", async () => {
    expect(await dnsCheck(target, spec("unknown.test"), never())).toMatchObject({
      ok: false,
      code: "dns_rcode",
      reason: "rcode NXDOMAIN, expected NOERROR",
    });
  });

  it("NXDOMAIN expected and returned is up", async () => {
    expect(await dnsCheck(target, spec("unknown.test", "A", "NXDOMAIN"), never())).toMatchObject({
      ok: true,
      code: "ok",
    });
  });

  it("NOERROR without a record of the type is dns_no_answer", async () => {
    expect(await dnsCheck(target, spec("rs1.test", "AAAA"), never())).toMatchObject({
      ok: false,
      code: "dns_no_answer",
      reason: "no AAAA record for rs1.test",
    });
  });
});

describe("dnsCheck against fake servers", () => {
  it("a server that never answers is a timeout, and the socket is released", async () => {
    const server = await fake((_query, ac) => {
      ac.abort(); // the query arrived: now let the check time out
      return [];
    });
    try {
      expect(await dnsCheck(server.target, spec("rs1.test"), server.signal)).toMatchObject({
        ok: false,
        code: "timeout",
      });
      expect(await portFree(server.sender())).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("a closed port is refused (the kernel reports ICMP port unreachable on a connected socket)", async () => {
    const { socket, target } = await bound();
    await close(socket);
    expect(await dnsCheck(target, spec("rs1.test"), never())).toMatchObject({ ok: false, code: "refused" });
  });

  it("ignores replies with another id or question, and takes the one that matches", async () => {
    const server = await fake((query) => {
      const id = idOf(query);
      return [
        dnsReply({ id: id ^ 1, question: { name: "rs1.test", type: 1 }, answers: [a("rs1.test")] }),
        dnsReply({ id, question: { name: "other.test", type: 1 }, answers: [a("other.test")] }),
        dnsReply({ id, question: { name: "rs1.test", type: 28 }, rcode: 3 }),
        dnsReply({ id, question: { name: "RS1.test", type: 1 }, answers: [a("RS1.test")] }),
      ];
    });
    try {
      expect(await dnsCheck(server.target, spec("rs1.test"), never())).toMatchObject({
        ok: true,
        code: "ok",
      });
      expect(await portFree(server.sender())).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("a reply that does not decode is dns_malformed", async () => {
    const server = await fake((query) => {
      const bad = dnsReply({ id: idOf(query), question: { name: "rs1.test", type: 1 } });
      bad[12] = 0xc0; // the question's name becomes a pointer to itself
      bad[13] = 12;
      return [bad];
    });
    try {
      const r = await dnsCheck(server.target, spec("rs1.test"), never());
      expect(r).toMatchObject({ ok: false, code: "dns_malformed" });
      expect(r.reason).toMatch(/^malformed reply: compression pointer/);
      expect(await portFree(server.sender())).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("judges a truncated reply on what it carries, without retrying over TCP", async () => {
    const server = await fake((query) => [
      dnsReply({
        id: idOf(query),
        truncated: true,
        question: { name: "rs1.test", type: 1 },
        answers: [a("rs1.test")],
        extraAnswerCount: 10,
      }),
    ]);
    try {
      expect(await dnsCheck(server.target, spec("rs1.test"), never())).toMatchObject({
        ok: true,
        reason: "NOERROR, 1 A record (truncated)",
      });
    } finally {
      await server.close();
    }
  });

  it("takes an error reply without a question section on its id", async () => {
    const server = await fake((query) => [dnsReply({ id: idOf(query), rcode: 4 })]);
    try {
      expect(await dnsCheck(server.target, spec("rs1.test"), never())).toMatchObject({
        ok: false,
        code: "dns_rcode",
        reason: "rcode NOTIMP, expected NOERROR",
      });
    } finally {
      await server.close();
    }
  });

  it("does not count a CNAME as the record asked for", async () => {
    const server = await fake((query) => [
      dnsReply({
        id: idOf(query),
        question: { name: "www.test", type: 1 },
        answers: [{ name: "www.test", type: RECORD_TYPES.CNAME, data: Buffer.from([0]) }],
      }),
    ]);
    try {
      expect(await dnsCheck(server.target, spec("www.test"), never())).toMatchObject({
        code: "dns_no_answer",
      });
    } finally {
      await server.close();
    }
  });

  it("queries over IPv6 with a udp6 socket", async () => {
    const server = await fake(
      (query) => [
        dnsReply({ id: idOf(query), question: { name: "rs1.test", type: 1 }, answers: [a("rs1.test")] }),
      ],
      6,
    );
    try {
      expect(await dnsCheck(server.target, spec("rs1.test"), never())).toMatchObject({ ok: true });
      expect(server.sender().family).toBe("IPv6");
    } finally {
      await server.close();
    }
  });

  it("sends nothing and resolves timeout when already aborted", async () => {
    let queries = 0;
    const server = await fake(() => {
      queries++;
      return [];
    });
    try {
      expect(await dnsCheck(server.target, spec("rs1.test"), AbortSignal.abort())).toMatchObject({
        code: "timeout",
      });
      expect(queries).toBe(0);
    } finally {
      await server.close();
    }
  });
});

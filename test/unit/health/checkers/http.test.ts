import { createHash } from "node:crypto";
import diagnostics from "node:diagnostics_channel";
import type http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { closeKeptConnections, httpCheck } from "../../../../src/health/checkers/http.js";
import {
  closedPort,
  deadline,
  type Handler,
  type Host,
  httpServer,
  httpSpec,
  serve,
  type Tracked,
} from "./servers.js";

const servers: Tracked[] = [];
afterEach(async () => {
  await closeKeptConnections();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function server(handler: Handler, host: Host = "127.0.0.1") {
  const srv = await httpServer(handler, host);
  servers.push(srv);
  return srv;
}

const reply =
  (status: number, body = "", headers: http.OutgoingHttpHeaders = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };

const hex = (algorithm: string, data: string | Buffer) => createHash(algorithm).update(data).digest("hex");

describe.each<Host>(["127.0.0.1", "::1"])("http check on %s", (host) => {
  it("is ok on a 200, sends the default Host and user-agent, and closes its connection", async () => {
    const srv = await server(reply(200, "fine"), host);
    const result = await httpCheck(srv.target, httpSpec({ path: "/health" }), deadline());
    expect(result).toMatchObject({ ok: true, code: "ok", reason: "ok" });
    const bracketed = host === "::1" ? "[::1]" : host;
    expect(srv.seen).toHaveLength(1);
    expect(srv.seen[0]).toMatchObject({ method: "GET", url: "/health" });
    expect(srv.seen[0]!.headers).toMatchObject({
      host: `${bracketed}:${srv.port}`,
      "user-agent": "vipd-check",
    });
    await srv.allClosed();
  });

  it("is refused on a closed port", async () => {
    const result = await httpCheck(await closedPort(host), httpSpec(), deadline());
    expect(result).toMatchObject({ ok: false, code: "refused", reason: "refused" });
  });
});

describe("http check: status", () => {
  it("is status on a 503", async () => {
    const srv = await server(reply(503, "down"));
    const result = await httpCheck(srv.target, httpSpec(), deadline());
    expect(result).toMatchObject({ ok: false, code: "status", reason: "status 503" });
    await srv.allClosed();
  });

  it("accepts any status within the configured ranges", async () => {
    const ranges = httpSpec({
      status: [
        { min: 200, max: 299 },
        { min: 301, max: 301 },
      ],
    });
    const expected: Array<[number, string]> = [
      [200, "ok"],
      [204, "ok"],
      [299, "ok"],
      [301, "ok"],
      [302, "status 302"],
      [404, "status 404"],
    ];
    for (const [status, reason] of expected) {
      const srv = await server(reply(status));
      const result = await httpCheck(srv.target, ranges, deadline());
      expect(result.reason, `status ${status}`).toBe(reason);
      expect(result.ok).toBe(reason === "ok");
    }
  });

  it("does not follow a redirect: a 301 is a status like another", async () => {
    const srv = await server((req, res) => {
      if (req.url === "/") res.writeHead(301, { location: "/moved" }).end();
      else res.writeHead(200).end("moved here");
    });
    const accepting = httpSpec({ status: [{ min: 200, max: 399 }] });
    expect(await httpCheck(srv.target, accepting, deadline())).toMatchObject({ ok: true, code: "ok" });
    expect(await httpCheck(srv.target, httpSpec(), deadline())).toMatchObject({
      ok: false,
      code: "status",
      reason: "status 301",
    });
    expect(srv.seen.map((s) => s.url)).toEqual(["/", "/"]);
  });
});

describe("http check: body", () => {
  it("finds a substring, or says it lacks it", async () => {
    const srv = await server(reply(200, "status: ok\n"));
    expect(await httpCheck(srv.target, httpSpec({ expect: "ok" }), deadline())).toMatchObject({
      ok: true,
      code: "ok",
    });
    expect(await httpCheck(srv.target, httpSpec({ expect: "ready" }), deadline())).toMatchObject({
      ok: false,
      code: "body_mismatch",
      reason: "body lacks 'ready'",
    });
    await srv.allClosed();
  });

  it("matches a regular expression, or says it does not", async () => {
    const srv = await server(reply(200, "queue depth 17\n"));
    expect(await httpCheck(srv.target, httpSpec({ expectRegex: "depth \\d+$" }), deadline())).toMatchObject({
      code: "body_mismatch",
      reason: "body does not match /depth \\d+$/",
    });
    expect(
      await httpCheck(srv.target, httpSpec({ expectRegex: "depth \\d+\\s*$" }), deadline()),
    ).toMatchObject({
      ok: true,
      code: "ok",
    });
  });

  it("is error on an invalid regular expression, without throwing", async () => {
    const srv = await server(reply(200, "x"));
    const result = await httpCheck(srv.target, httpSpec({ expectRegex: "(" }), deadline());
    expect(result.code).toBe("error");
    expect(result.reason).toMatch(/^invalid expect_regex: /);
  });

  it.each(["sha256", "md5"] as const)("checks a %s digest of the raw bytes", async (algorithm) => {
    const body = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x80]); // not valid UTF-8
    const srv = await server((_req, res) => res.writeHead(200).end(body));
    const good = hex(algorithm, body);
    expect(
      await httpCheck(srv.target, httpSpec({ digest: { algorithm, hex: good.toUpperCase() } }), deadline()),
    ).toMatchObject({ ok: true, code: "ok" });
    const wrong = hex(algorithm, "something else");
    expect(
      await httpCheck(srv.target, httpSpec({ digest: { algorithm, hex: wrong } }), deadline()),
    ).toMatchObject({
      ok: false,
      code: "digest_mismatch",
      reason: `digest ${algorithm} ${good.slice(0, 12)}… ≠ expected ${wrong.slice(0, 12)}…`,
    });
  });

  it("reads only max_body_bytes of an endless body, hashes those, and closes the connection", async () => {
    // The server streams a known pattern until the client goes away: a check that read on
    // would never end, so `ok` proves the rest was left unread.
    const pattern = Buffer.alloc(64 * 1024);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 31) & 0xff;
    const srv = await server((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const pump = () => {
        while (!res.destroyed && res.write(pattern));
      };
      res.on("drain", pump);
      pump();
    });
    const max = 100_000; // more than one chunk, less than two
    const prefix = Buffer.concat([pattern, pattern]).subarray(0, max);
    const result = await httpCheck(
      srv.target,
      httpSpec({ maxBodyBytes: max, digest: { algorithm: "sha256", hex: hex("sha256", prefix) } }),
      deadline(),
    );
    expect(result).toMatchObject({ ok: true, code: "ok" });
    const longer = hex("sha256", Buffer.concat([prefix, Buffer.from([0])]));
    const again = await httpCheck(
      srv.target,
      httpSpec({ maxBodyBytes: max, digest: { algorithm: "sha256", hex: longer } }),
      deadline(),
    );
    expect(again).toMatchObject({ code: "digest_mismatch" });
    expect(again.reason).toContain(`sha256 ${hex("sha256", prefix).slice(0, 12)}…`);
    await srv.allClosed();
  });

  it("sends HEAD and expects no body", async () => {
    const srv = await server(reply(200, "ignored for HEAD", { "content-length": 16 }));
    const result = await httpCheck(srv.target, httpSpec({ method: "HEAD" }), deadline());
    expect(result).toMatchObject({ ok: true, code: "ok" });
    expect(srv.seen[0]!.method).toBe("HEAD");
  });
});

describe("http check: request", () => {
  it("sends the configured method, headers and Host", async () => {
    const srv = await server(reply(200));
    const spec = httpSpec({
      method: "OPTIONS",
      path: "/status?full=1",
      host: "www.example.test",
      headers: { "x-check": "vipd", authorization: "Bearer t0ken" },
    });
    expect(await httpCheck(srv.target, spec, deadline())).toMatchObject({ ok: true });
    expect(srv.seen[0]).toMatchObject({ method: "OPTIONS", url: "/status?full=1" });
    expect(srv.seen[0]!.headers).toMatchObject({
      host: "www.example.test",
      "x-check": "vipd",
      authorization: "Bearer t0ken",
      "user-agent": "vipd-check",
    });
  });

  it("opens a fresh connection per check", async () => {
    const srv = await server(reply(200, "ok"));
    for (let i = 0; i < 2; i++)
      expect(await httpCheck(srv.target, httpSpec({ expect: "ok" }), deadline())).toMatchObject({ ok: true });
    expect(srv.opened()).toBe(2);
    expect(srv.seen[0]!.socket).not.toBe(srv.seen[1]!.socket);
    await srv.allClosed();
  });

  it("reuses one connection with keepalive, until closeKeptConnections", async () => {
    const srv = await server(reply(200, "ok"));
    const spec = httpSpec({ keepalive: true, expect: "ok" });
    for (let i = 0; i < 3; i++)
      expect(await httpCheck(srv.target, spec, deadline())).toMatchObject({ ok: true });
    // And without a body expectation (the body is drained, not destroyed).
    expect(await httpCheck(srv.target, httpSpec({ keepalive: true }), deadline())).toMatchObject({
      ok: true,
    });
    expect(srv.opened()).toBe(1);
    expect(srv.open()).toBe(1);
    await closeKeptConnections();
    await srv.allClosed();
  });

  it("forgets a kept connection after a failed check", async () => {
    let status = 503;
    const srv = await server((_req, res) => res.writeHead(status).end("x"));
    const spec = httpSpec({ keepalive: true });
    expect(await httpCheck(srv.target, spec, deadline())).toMatchObject({ code: "status" });
    await srv.allClosed();
    status = 200;
    expect(await httpCheck(srv.target, spec, deadline())).toMatchObject({ ok: true });
    expect(await httpCheck(srv.target, spec, deadline())).toMatchObject({ ok: true });
    expect(srv.opened()).toBe(2);
  });
});

describe("http check: failures", () => {
  it("times out on a server that never answers, and closes the connection", async () => {
    const srv = await server(() => {});
    const result = await httpCheck(srv.target, httpSpec(), deadline(200));
    expect(result).toMatchObject({ ok: false, code: "timeout", reason: "timeout (headers)" });
    expect(srv.seen).toHaveLength(1);
    await srv.allClosed();
  });

  it("times out mid-body, and closes the connection", async () => {
    const srv = await server((_req, res) => {
      res.writeHead(200, { "content-length": 100 });
      res.write("partial");
    });
    const result = await httpCheck(srv.target, httpSpec({ expect: "done" }), deadline(200));
    expect(result).toMatchObject({ ok: false, code: "timeout", reason: "timeout (body)" });
    await srv.allClosed();
  });

  it("is reset when the server resets the connection on receiving the request", async () => {
    const srv = await server((req) => req.socket.resetAndDestroy());
    const result = await httpCheck(srv.target, httpSpec(), deadline());
    expect(result).toMatchObject({ ok: false, code: "reset", reason: "reset" });
  });

  it("is reset when the server resets the connection mid-body", async () => {
    // The RST is sent once undici has the headers (its diagnostics channel says so, in this
    // process): the bytes before it are read by then. A RST that overtakes unread bytes reads as
    // an EOF on Linux (undici: "other side closed", the check: `closed`), so the test pins the order.
    let socket: net.Socket | undefined;
    const srv = await server((req, res) => {
      socket = req.socket;
      res.writeHead(200, { "content-length": 100 });
      res.write("partial");
    });
    const reset = () => socket?.resetAndDestroy();
    diagnostics.subscribe("undici:request:headers", reset);
    try {
      const result = await httpCheck(srv.target, httpSpec({ expect: "done" }), deadline());
      expect(result).toMatchObject({ ok: false, code: "reset", reason: "reset" });
    } finally {
      diagnostics.unsubscribe("undici:request:headers", reset);
    }
  });

  it("is closed when the body ends short of its content-length", async () => {
    const srv = await server((req, res) => {
      res.writeHead(200, { "content-length": 100, connection: "close" });
      res.write("partial", () => req.socket.end());
    });
    const result = await httpCheck(srv.target, httpSpec({ expect: "done" }), deadline());
    expect(result).toMatchObject({ ok: false, code: "closed", reason: "closed by the server mid-body" });
  });

  it("is closed when the server closes before answering", async () => {
    const srv = await server((req) => req.socket.end());
    const result = await httpCheck(srv.target, httpSpec(), deadline());
    expect(result).toMatchObject({ ok: false, code: "closed", reason: "closed by the server" });
  });

  it("is protocol when the server does not speak HTTP", async () => {
    const srv = await serve(
      net.createServer((socket) => socket.once("data", () => socket.write("hello\n"))),
      "127.0.0.1",
    );
    servers.push(srv);
    const result = await httpCheck(srv.target, httpSpec(), deadline());
    expect(result).toMatchObject({
      ok: false,
      code: "protocol",
      reason: "protocol: Response does not match the HTTP/1.1 protocol (Expected HTTP/, RTSP/ or ICE/)",
    });
    await srv.allClosed();
  });

  it("resolves at once with timeout when the signal has already fired", async () => {
    const srv = await server(reply(200));
    const result = await httpCheck(srv.target, httpSpec(), AbortSignal.abort());
    expect(result).toMatchObject({ ok: false, code: "timeout", reason: "timeout (connect)" });
    expect(srv.opened()).toBe(0);
  });
});

import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { tcpCheck } from "../../../../src/health/checkers/tcp.js";
import { closedPort, deadline, type Host, serve, type Tracked, tcpSpec } from "./servers.js";

const servers: Tracked[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function tcpServer(onConnection: (socket: net.Socket) => void, host: Host = "127.0.0.1") {
  const tracked = await serve(net.createServer(onConnection), host);
  servers.push(tracked);
  return tracked;
}

/** A line server: answers `reply` to the first data it gets, then closes its side. */
const answers = (reply: string) => (socket: net.Socket) => socket.once("data", () => socket.end(reply));

describe.each<Host>(["127.0.0.1", "::1"])("tcp check on %s", (host) => {
  it("is ok on an open port, and closes its connection", async () => {
    const srv = await tcpServer(() => {}, host);
    const result = await tcpCheck(srv.target, tcpSpec(), deadline());
    expect(result).toMatchObject({ ok: true, code: "ok", reason: "ok" });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    await srv.allClosed();
    expect(srv.opened()).toBe(1);
  });

  it("is refused on a closed port", async () => {
    const result = await tcpCheck(await closedPort(host), tcpSpec(), deadline());
    expect(result).toMatchObject({ ok: false, code: "refused", reason: "refused" });
  });

  it("is ok when the reply to `send` contains `expect`", async () => {
    let got = "";
    const srv = await tcpServer((socket) => {
      socket.once("data", (d) => {
        got = d.toString();
        socket.write("+PONG\r\n");
      });
    }, host);
    const result = await tcpCheck(srv.target, tcpSpec({ send: "PING\r\n", expect: "PONG" }), deadline());
    expect(result).toMatchObject({ ok: true, code: "ok", reason: "ok" });
    expect(got).toBe("PING\r\n");
    await srv.allClosed();
  });
});

describe("tcp check", () => {
  it("finds `expect` split across two segments", async () => {
    const srv = await tcpServer((socket) => {
      socket.once("data", () => {
        socket.write("...PO", () => setImmediate(() => socket.write("NG...")));
      });
    });
    const result = await tcpCheck(srv.target, tcpSpec({ send: "x", expect: "PONG" }), deadline());
    expect(result).toMatchObject({ ok: true, code: "ok" });
  });

  it("sends `send` even without `expect` before closing", async () => {
    const received = new Promise<string>((resolve) => {
      void tcpServer((socket) => {
        let all = "";
        socket.on("data", (d) => (all += d));
        socket.on("close", () => resolve(all));
      }).then((srv) => tcpCheck(srv.target, tcpSpec({ send: "QUIT\r\n" }), deadline()));
    });
    expect(await received).toBe("QUIT\r\n");
  });

  it("is body_mismatch when the reply lacks `expect` and the server closes", async () => {
    const srv = await tcpServer(answers("-ERR unknown\r\n"));
    const result = await tcpCheck(srv.target, tcpSpec({ send: "PING\r\n", expect: "PONG" }), deadline());
    expect(result).toMatchObject({ ok: false, code: "body_mismatch", reason: "reply lacks 'PONG'" });
    await srv.allClosed();
  });

  it("quotes control characters of `expect` in the reason", async () => {
    const srv = await tcpServer(answers("nope"));
    const result = await tcpCheck(srv.target, tcpSpec({ send: "x", expect: "OK\r\n" }), deadline());
    expect(result).toMatchObject({ code: "body_mismatch", reason: "reply lacks 'OK\\r\\n'" });
  });

  it("is closed when the server closes without a byte", async () => {
    const srv = await tcpServer((socket) => socket.end());
    const result = await tcpCheck(srv.target, tcpSpec({ expect: "220 " }), deadline());
    expect(result).toMatchObject({
      ok: false,
      code: "closed",
      reason: "closed by the server before replying",
    });
  });

  it("times out on a server that never answers, and closes the connection", async () => {
    // It reads (and drops) what it is sent: a server socket left paused would never see the EOF.
    const srv = await tcpServer((socket) => socket.resume());
    const connection = srv.nextConnection();
    const result = await tcpCheck(srv.target, tcpSpec({ send: "PING\r\n", expect: "PONG" }), deadline(200));
    expect(result).toMatchObject({ ok: false, code: "timeout", reason: "timeout (reply)" });
    const socket = await connection;
    // The server sees the check's close: its socket ends (FIN) and closes.
    if (!socket.destroyed) await new Promise((resolve) => socket.once("close", resolve));
    await srv.allClosed();
  });

  it("gives up at 64 KiB of a reply that never contains `expect`", async () => {
    const srv = await tcpServer((socket) => {
      const chunk = Buffer.alloc(16 * 1024, "a");
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk));
      };
      socket.on("drain", pump);
      pump();
    });
    const result = await tcpCheck(srv.target, tcpSpec({ expect: "b" }), deadline());
    expect(result).toMatchObject({
      ok: false,
      code: "body_mismatch",
      reason: "reply lacks 'b' (first 64 KiB)",
    });
    await srv.allClosed();
  });

  it("is reset when the server resets the connection", async () => {
    const srv = await tcpServer((socket) => socket.resetAndDestroy());
    const result = await tcpCheck(srv.target, tcpSpec({ expect: "hello" }), deadline());
    expect(result).toMatchObject({ ok: false, code: "reset", reason: "reset" });
  });

  it("resolves at once with timeout when the signal has already fired", async () => {
    const srv = await tcpServer(() => {});
    const result = await tcpCheck(srv.target, tcpSpec(), AbortSignal.abort());
    expect(result).toMatchObject({ ok: false, code: "timeout", reason: "timeout (connect)" });
    expect(srv.opened()).toBe(0);
  });

  it("never rejects, even on an address that cannot be connected to", async () => {
    const result = await tcpCheck({ address: "not an address", port: 1, family: 4 }, tcpSpec(), deadline());
    expect(result.ok).toBe(false);
    expect(result.code).toBe("error");
  });
});

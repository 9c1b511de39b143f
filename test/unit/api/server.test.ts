import { linkSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import { connect, createServer as createTcpServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { fetchStatus, requestApi } from "../../../src/api/client.js";
import { ApiServer, MetricsServer, probeSocket, toJson } from "../../../src/api/server.js";
import type { DaemonStatus } from "../../../src/api/status.js";
import { sampleStatus } from "./fixtures.js";

const log = pino({ level: "silent" });
const root = mkdtempSync(join(tmpdir(), "vipd-api-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function socketPath(): string {
  n += 1;
  return join(root, `d${n}`, "run", "vipd.sock");
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function api(opts: Partial<ConstructorParameters<typeof ApiServer>[0]> = {}): Promise<ApiServer> {
  const server = await ApiServer.start({
    socketPath: opts.socketPath ?? socketPath(),
    provider: () => sampleStatus(),
    log,
    ...opts,
  });
  open.push(server);
  return server;
}

/** A socket file nobody listens on, as a crashed daemon leaves it. */
async function staleSocket(path: string): Promise<void> {
  const live = join(root, `live-${++n}.sock`);
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(live, resolve));
  linkSync(live, path);
  await new Promise<void>((resolve) => s.close(() => resolve()));
}

function errorOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err as { code?: string; message: string },
  );
}

describe("ApiServer", () => {
  it("creates the directory 0750 and the socket 0660, and serves GET /status as JSON", async () => {
    const path = socketPath();
    const want = sampleStatus();
    await api({ socketPath: path, provider: () => Promise.resolve(want) });
    expect(statSync(join(path, "..")).mode & 0o777).toBe(0o750);
    const st = lstatSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);

    const res = await requestApi(path, "/status");
    expect(res.status).toBe(200);
    expect(res.contentType).toBe("application/json; charset=utf-8");
    expect(JSON.parse(res.body)).toEqual(want);
    expect(await fetchStatus(path)).toEqual(want);
  });

  it("speaks plain HTTP/1.1 (what curl --unix-socket sends)", async () => {
    const path = socketPath();
    await api({ socketPath: path });
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect({ path });
      let data = "";
      sock.on("data", (c) => (data += c.toString()));
      sock.on("end", () => resolve(data));
      sock.on("error", reject);
      sock.write(
        "GET /status HTTP/1.1\r\nHost: vipd\r\nUser-Agent: curl/8\r\nAccept: */*\r\nConnection: close\r\n\r\n",
      );
    });
    expect(raw.startsWith("HTTP/1.1 200 OK\r\n")).toBe(true);
    const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
    expect(JSON.parse(body).node).toBe("lb1");
  });

  it("serves GET /metrics in the Prometheus text format", async () => {
    const path = socketPath();
    await api({ socketPath: path });
    const res = await requestApi(path, "/metrics");
    expect(res.status).toBe(200);
    expect(res.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(res.body).toContain('vipd_vrrp_state{instance="web",state="MASTER"} 1\n');
  });

  it("answers POST /reload and /resync with the injected actions' results", async () => {
    const path = socketPath();
    const calls: string[] = [];
    await api({
      socketPath: path,
      actions: {
        reload: () => {
          calls.push("reload");
          return Promise.resolve(true);
        },
        resync: () => {
          calls.push("resync");
          return { ok: true, applied: ["add dest 10.0.0.21:80"], big: 2n ** 70n };
        },
      },
    });
    const reload = await requestApi(path, "/reload", { method: "POST" });
    expect([reload.status, JSON.parse(reload.body)]).toEqual([200, { ok: true, result: true }]);
    const resync = await requestApi(path, "/resync", { method: "POST" });
    expect([resync.status, JSON.parse(resync.body)]).toEqual([
      200,
      { ok: true, result: { ok: true, applied: ["add dest 10.0.0.21:80"], big: "1180591620717411303424" } },
    ]);
    expect(calls).toEqual(["reload", "resync"]);
  });

  it("answers 422 when an action reports failure, 500 when it throws, 501 when there is none", async () => {
    const path = socketPath();
    await api({
      socketPath: path,
      actions: {
        reload: () => false,
        resync: () => {
          throw Object.assign(new Error("netlink went away"), { code: "NETLINK_CLOSED" });
        },
      },
    });
    const reload = await requestApi(path, "/reload", { method: "POST" });
    expect([reload.status, JSON.parse(reload.body)]).toEqual([422, { ok: false, result: false }]);
    const resync = await requestApi(path, "/resync", { method: "POST" });
    expect([resync.status, JSON.parse(resync.body)]).toEqual([
      500,
      { ok: false, error: { code: "NETLINK_CLOSED", message: "netlink went away" } },
    ]);

    const other = socketPath();
    await api({ socketPath: other });
    const none = await requestApi(other, "/resync", { method: "POST" });
    expect(none.status).toBe(501);
    expect(JSON.parse(none.body).error.code).toBe("API_ACTION_UNAVAILABLE");
  });

  it("answers POST /server with the operator action named by the query, and 400 for a malformed one", async () => {
    const path = socketPath();
    const calls: string[][] = [];
    await api({
      socketPath: path,
      actions: {
        server: (action, vs, rs) => {
          calls.push([action, vs, rs]);
          if (rs === "10.0.0.99:80")
            throw Object.assign(new Error("no such real server"), { code: "HEALTH_UNKNOWN_REAL_SERVER" });
          return { ok: true, state: "drain" };
        },
      },
    });
    const q = (params: Record<string, string>) => `/server?${new URLSearchParams(params)}`;
    const good = await requestApi(
      path,
      q({ action: "drain", virtual_server: "web", real_server: "[2001:db8::21]:80" }),
      {
        method: "POST",
      },
    );
    expect([good.status, JSON.parse(good.body)]).toEqual([
      200,
      { ok: true, result: { ok: true, state: "drain" } },
    ]);
    const unknown = await requestApi(
      path,
      q({ action: "disable", virtual_server: "web", real_server: "10.0.0.99:80" }),
      {
        method: "POST",
      },
    );
    expect([unknown.status, JSON.parse(unknown.body).error]).toEqual([
      500,
      { code: "HEALTH_UNKNOWN_REAL_SERVER", message: "no such real server" },
    ]);
    const badAction = await requestApi(
      path,
      q({ action: "kill", virtual_server: "web", real_server: "10.0.0.21:80" }),
      {
        method: "POST",
      },
    );
    expect([badAction.status, JSON.parse(badAction.body).error.message]).toEqual([
      400,
      "action must be one of drain, disable, enable, got 'kill'",
    ]);
    const missing = await requestApi(path, q({ action: "enable", virtual_server: "web" }), {
      method: "POST",
    });
    expect([missing.status, JSON.parse(missing.body).error]).toEqual([
      400,
      { code: "API_BAD_REQUEST", message: "virtual_server and real_server are both required" },
    ]);
    const get = await requestApi(path, q({ action: "enable", virtual_server: "web", real_server: "x" }));
    expect(get.status).toBe(405);
    expect(calls).toEqual([
      ["drain", "web", "[2001:db8::21]:80"],
      ["disable", "web", "10.0.0.99:80"],
    ]);
  });

  it("POST /vrrp runs resign and resume with the instance, and refuses a bad action or no instance", async () => {
    const path = socketPath();
    const calls: string[] = [];
    await api({
      socketPath: path,
      actions: {
        vrrp: (action, instance) => {
          calls.push(`${action} ${instance}`);
          return { ok: true, state: "BACKUP" };
        },
      },
    });
    const post = (params: Record<string, string>) =>
      requestApi(path, `/vrrp?${new URLSearchParams(params)}`, { method: "POST" });
    const ok = await post({ action: "resign", instance: "web" });
    expect([ok.status, JSON.parse(ok.body)]).toEqual([
      200,
      { ok: true, result: { ok: true, state: "BACKUP" } },
    ]);
    const bad = await post({ action: "leave", instance: "web" });
    expect([bad.status, JSON.parse(bad.body).error.message]).toEqual([
      400,
      "action must be one of resign, resume, got 'leave'",
    ]);
    const none = await post({ action: "resume" });
    expect([none.status, JSON.parse(none.body).error.message]).toEqual([400, "instance is required"]);
    expect(calls).toEqual(["resign web"]);
  });

  it("answers 404 for unknown paths, 405 with Allow for the wrong method, 500 when the provider fails", async () => {
    const path = socketPath();
    await api({
      socketPath: path,
      provider: () => {
        throw Object.assign(new Error("worker gone"), { code: "VRRP_WORKER_GONE" });
      },
    });
    const missing = await requestApi(path, "/nope?x=1");
    expect([missing.status, JSON.parse(missing.body).error.code]).toEqual([404, "API_NOT_FOUND"]);
    const wrong = await new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
      const req = request({ socketPath: path, path: "/reload", method: "GET", agent: false }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, allow: res.headers.allow });
      });
      req.on("error", reject);
      req.end();
    });
    expect(wrong).toEqual({ status: 405, allow: "POST" });
    const failed = await requestApi(path, "/status");
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.body)).toEqual({
      error: { code: "VRRP_WORKER_GONE", message: "worker gone" },
    });
  });

  it("lists its endpoints on GET /", async () => {
    const path = socketPath();
    await api({ socketPath: path });
    const res = await requestApi(path, "/");
    expect(JSON.parse(res.body).endpoints).toEqual([
      "GET /status",
      "GET /metrics",
      "POST /reload",
      "POST /resync",
      "POST /server?action=drain|disable|enable&virtual_server=VS&real_server=RS",
      "POST /vrrp?action=resign|resume&instance=NAME",
    ]);
  });

  it("never takes over a socket another daemon answers on", async () => {
    const path = socketPath();
    await api({ socketPath: path });
    const inode = lstatSync(path).ino;
    const err = await errorOf(ApiServer.start({ socketPath: path, provider: () => sampleStatus(), log }));
    expect(err.code).toBe("API_SOCKET_IN_USE");
    expect(err.message).toBe(`another process answers on ${path} (is vipd already running?)`);
    // The first daemon keeps its socket and still answers.
    expect(lstatSync(path).ino).toBe(inode);
    expect((await requestApi(path, "/status")).status).toBe(200);
  });

  it("removes a stale socket nobody answers on, and listens", async () => {
    const path = socketPath();
    await api({ socketPath: join(path, "..", "other.sock") }); // creates the directory
    await staleSocket(path);
    expect(await probeSocket(path)).toBe("dead");
    await api({ socketPath: path });
    expect((await requestApi(path, "/status")).status).toBe(200);
  });

  it("leaves a path that is not a socket alone", async () => {
    const path = socketPath();
    await api({ socketPath: join(path, "..", "other.sock") });
    writeFileSync(path, "precious");
    const err = await errorOf(ApiServer.start({ socketPath: path, provider: () => sampleStatus(), log }));
    expect(err.code).toBe("API_SOCKET_PATH_INVALID");
    expect(readFileSync(path, "utf8")).toBe("precious");
  });

  it("close() stops serving, drops open connections, removes the socket file, and is idempotent", async () => {
    const path = socketPath();
    const server = await ApiServer.start({ socketPath: path, provider: () => sampleStatus(), log });
    // An idle keep-alive connection must not hold close() up.
    const idle = connect({ path });
    await new Promise<void>((resolve) => idle.once("connect", () => resolve()));
    const idleClosed = new Promise<void>((resolve) => idle.once("close", () => resolve()));
    await server.close();
    await server.close();
    await idleClosed;
    expect(() => lstatSync(path)).toThrow(/ENOENT/);
    const err = await errorOf(fetchStatus(path));
    expect(err.code).toBe("API_NOT_RUNNING");
    expect(err.message).toBe(`vipd is not running (no answer on ${path}: ENOENT)`);
  });
});

describe("client errors", () => {
  it("says 'not running' for a stale socket", async () => {
    const path = socketPath();
    await api({ socketPath: join(path, "..", "other.sock") });
    await staleSocket(path);
    const err = await errorOf(fetchStatus(path));
    expect(err.message).toBe(`vipd is not running (no answer on ${path}: ECONNREFUSED)`);
  });

  it("reports an answer that is not a status", async () => {
    const path = join(root, `plain-${++n}.sock`);
    const plain = createServer((_req, res) => res.end("<html>hello</html>"));
    await new Promise<void>((resolve) => plain.listen(path, resolve));
    try {
      expect((await errorOf(fetchStatus(path))).code).toBe("API_BAD_RESPONSE");
    } finally {
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });

  it("gives up on a daemon that does not answer in time", async () => {
    const path = join(root, `mute-${++n}.sock`);
    const mute: Server = createTcpServer(() => undefined);
    await new Promise<void>((resolve) => mute.listen(path, resolve));
    try {
      const err = await errorOf(fetchStatus(path, { timeoutMs: 50 }));
      expect(err.code).toBe("API_TIMEOUT");
    } finally {
      mute.close();
    }
  });
});

describe("toJson", () => {
  it("writes bigints and errors", () => {
    const err = Object.assign(new Error("boom"), { code: "X_Y" });
    expect(JSON.parse(toJson({ a: 5n, e: err, u: undefined }))).toEqual({
      a: 5,
      e: { code: "X_Y", message: "boom" },
    });
    expect(toJson(undefined)).toBe("null\n");
  });
});

describe("MetricsServer", () => {
  async function metrics(provider: () => DaemonStatus = () => sampleStatus()): Promise<MetricsServer> {
    const m = await MetricsServer.start({ listen: { host: "127.0.0.1", port: 0 }, provider, log });
    open.push(m);
    return m;
  }

  function get(port: number, path: string, method = "GET") {
    return new Promise<{ status: number; type: string; allow?: string; body: string }>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => {
          const out: { status: number; type: string; allow?: string; body: string } = {
            status: res.statusCode ?? 0,
            type: String(res.headers["content-type"]),
            body,
          };
          if (res.headers.allow !== undefined) out.allow = res.headers.allow;
          resolve(out);
        });
      });
      req.on("error", reject);
      req.end();
    });
  }

  it("serves GET /metrics on host:port", async () => {
    const m = await metrics();
    const { host, port } = m.address();
    expect(host).toBe("127.0.0.1");
    expect(port).toBeGreaterThan(0);
    const res = await get(port, "/metrics");
    expect(res.status).toBe(200);
    expect(res.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(res.body).toContain("vipd_up 1\n");
    const head = await get(port, "/metrics", "HEAD");
    expect([head.status, head.body]).toEqual([200, ""]);
  });

  it("serves nothing else", async () => {
    const { port } = (await metrics()).address();
    expect((await get(port, "/status")).status).toBe(404);
    expect((await get(port, "/reload", "POST")).status).toBe(404);
    const post = await get(port, "/metrics", "POST");
    expect([post.status, post.allow]).toEqual([405, "GET, HEAD"]);
  });

  it("answers 500 when the status cannot be had", async () => {
    const { port } = (
      await metrics(() => {
        throw new Error("no status");
      })
    ).address();
    expect((await get(port, "/metrics")).status).toBe(500);
  });

  it("fails with METRICS_LISTEN_FAILED when the port is taken", async () => {
    const { port } = (await metrics()).address();
    const err = await errorOf(
      MetricsServer.start({ listen: { host: "127.0.0.1", port }, provider: sampleStatus, log }),
    );
    expect(err.code).toBe("METRICS_LISTEN_FAILED");
    expect(err.message).toContain(`127.0.0.1:${port}`);
  });
});

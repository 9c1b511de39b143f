/**
 * Real loopback servers for the checker tests, and the bookkeeping that lets a test assert that
 * a check left no socket open: every server is tracked by its raw TCP connections.
 */
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { HttpCheckConfig, TcpCheckConfig } from "../../../../src/config/types.js";
import type { CheckTarget } from "../../../../src/health/types.js";

export type Host = "127.0.0.1" | "::1";

export interface Tracked<S extends net.Server = net.Server> {
  server: S;
  port: number;
  target: CheckTarget;
  /** TCP connections accepted so far. */
  opened(): number;
  /** Connections open now. */
  open(): number;
  /** Resolves once every accepted connection has closed (at once if none is open). */
  allClosed(): Promise<void>;
  /** Resolves at the next accepted connection. */
  nextConnection(): Promise<net.Socket>;
  stop(): Promise<void>;
}

/** Listens on port 0 of `host` and tracks the server's connections. */
export async function serve<S extends net.Server>(server: S, host: Host = "127.0.0.1"): Promise<Tracked<S>> {
  const sockets = new Set<net.Socket>();
  let opened = 0;
  let idle: Array<() => void> = [];
  let arrivals: Array<(s: net.Socket) => void> = [];
  // 'connection' is the raw TCP socket for net, http, https and tls servers alike.
  server.on("connection", (socket: net.Socket) => {
    opened++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => {
      sockets.delete(socket);
      if (sockets.size === 0) {
        for (const resolve of idle) resolve();
        idle = [];
      }
    });
    for (const resolve of arrivals) resolve(socket);
    arrivals = [];
  });
  server.listen(0, host);
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    target: { address: host, port, family: host === "::1" ? 6 : 4 },
    opened: () => opened,
    open: () => sockets.size,
    allClosed: () =>
      sockets.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve)),
    nextConnection: () => new Promise<net.Socket>((resolve) => arrivals.push(resolve)),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on `host` that nothing listens on: bound by a server, noted, then closed. */
export async function closedPort(host: Host = "127.0.0.1"): Promise<CheckTarget> {
  const probe = await serve(net.createServer(), host);
  await probe.stop();
  return probe.target;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** The requests a server saw, with the TCP connection each came on (for socket-reuse tests). */
export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  socket: net.Socket;
  servername?: string | false | null;
}

export async function httpServer(
  handler: Handler,
  host: Host = "127.0.0.1",
): Promise<Tracked<http.Server> & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, socket: req.socket });
    handler(req, res);
  });
  return Object.assign(await serve(server, host), { seen });
}

export async function httpsServer(
  options: https.ServerOptions,
  handler: Handler,
  host: Host = "127.0.0.1",
): Promise<Tracked<https.Server> & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = https.createServer(options, (req, res) => {
    const socket = req.socket as import("node:tls").TLSSocket;
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      socket,
      servername: socket.servername,
    });
    handler(req, res);
  });
  // A client that gives up mid-handshake (a failed check) must not crash the test process.
  server.on("tlsClientError", () => {});
  return Object.assign(await serve(server, host), { seen });
}

const timing = {
  intervalMs: 2000,
  fastIntervalMs: 2000,
  downIntervalMs: 2000,
  timeoutMs: 2000,
  rise: 1,
  fall: 1,
};

export function tcpSpec(over: Partial<TcpCheckConfig> = {}): TcpCheckConfig {
  return { type: "tcp", initial: "down", ...timing, ...over };
}

export function httpSpec(over: Partial<HttpCheckConfig> = {}): HttpCheckConfig {
  return {
    type: "http",
    initial: "down",
    ...timing,
    method: "GET",
    path: "/",
    headers: {},
    status: [{ min: 200, max: 299 }],
    maxBodyBytes: 64 * 1024,
    keepalive: false,
    ...over,
  };
}

/** The signal a check runs under: long enough never to fire in a passing test, unless it is the point. */
export function deadline(ms = 5000): AbortSignal {
  return AbortSignal.timeout(ms);
}

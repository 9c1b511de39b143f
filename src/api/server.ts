/**
 * The daemon's HTTP endpoints (adapter over node:http).
 *
 * `ApiServer`: HTTP/1.1 on the unix socket `api.socket`, so plain tools work:
 *
 *     curl --unix-socket /run/vipd/vipd.sock http://vipd/status
 *
 *   GET  /status   DaemonStatus as JSON
 *   GET  /metrics  Prometheus text (as MetricsServer)
 *   POST /reload   the injected reload action (SIGHUP does the same)
 *   POST /resync   the injected IPVS resync action
 *   GET  /         the list of endpoints
 *
 * Access control is the socket file's: mode 0660 in a directory created 0750, so root and the
 * socket's group may ask and act. A socket that is in use is never taken over: start fails with
 * API_SOCKET_IN_USE when something answers on the path; a socket file nobody answers on (left
 * by a crash) is removed. A path that exists and is not a socket is left alone (API_SOCKET_PATH_INVALID).
 *
 * `MetricsServer`: `metrics.listen` (host:port), GET /metrics only.
 *
 * Actions answer 200 with `{ ok: true, result }`, or 422 with `{ ok: false, result }` when the
 * action reports failure (returns false or `{ ok: false, … }`); a thrown error is a 500 with
 * `{ ok: false, error: { code, message } }`. Every error body is `{ error: { code, message } }`.
 */
import { lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { dirname } from "node:path";
import { describeError, VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "./metrics.js";
import type { DaemonStatus } from "./status.js";

export type StatusProvider = () => DaemonStatus | Promise<DaemonStatus>;

/** An action's result is sent back as JSON; `false` or `{ ok: false }` means it did not succeed. */
export type ApiAction = () => unknown;

/** `vipd server drain|disable|enable VS RS`: the operator's word on one real server. */
export type ServerAdminAction = (
  action: "drain" | "disable" | "enable",
  virtualServer: string,
  realServer: string,
) => unknown;

/** `vipd vrrp resign|resume INSTANCE`: a planned handover of one VRRP instance. */
export type VrrpOperatorAction = (action: "resign" | "resume", instance: string) => unknown;

export interface ApiActions {
  reload?: ApiAction;
  resync?: ApiAction;
  server?: ServerAdminAction;
  vrrp?: VrrpOperatorAction;
}

const SERVER_ACTIONS = ["drain", "disable", "enable"] as const;
const VRRP_ACTIONS = ["resign", "resume"] as const;

export interface ApiServerOptions {
  socketPath: string;
  provider: StatusProvider;
  actions?: ApiActions;
  /** Mode of the socket file; default 0o660. */
  socketMode?: number;
  /** Mode of the socket's directory when vipd creates it; default 0o750. */
  dirMode?: number;
  log?: Logger;
}

export interface MetricsServerOptions {
  listen: { host: string; port: number };
  provider: StatusProvider;
  log?: Logger;
}

const JSON_TYPE = "application/json; charset=utf-8";
/** How long start() waits to learn whether something answers on an existing socket. */
const PROBE_TIMEOUT_MS = 1000;

type Route = {
  methods: readonly string[];
  handle: (req: IncomingMessage) => Promise<Reply>;
};

interface Reply {
  status: number;
  type: string;
  body: string;
  headers?: Record<string, string>;
}

/** JSON that survives what status and action results may hold: bigints, errors. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(
    value === undefined ? null : value,
    (_key, v: unknown) => {
      if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
      if (v instanceof Error) {
        const code = (v as { code?: unknown }).code;
        return { ...(typeof code === "string" ? { code } : {}), message: v.message };
      }
      return v;
    },
    2,
  )}\n`;
}

function jsonReply(status: number, value: unknown, headers?: Record<string, string>): Reply {
  const reply: Reply = { status, type: JSON_TYPE, body: toJson(value) };
  if (headers) reply.headers = headers;
  return reply;
}

function errorReply(status: number, code: string, message: string, headers?: Record<string, string>): Reply {
  return jsonReply(status, { error: { code, message } }, headers);
}

function errorCode(err: unknown, fallback: string): string {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : fallback;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function failed(result: unknown): boolean {
  if (result === false) return true;
  return typeof result === "object" && result !== null && (result as { ok?: unknown }).ok === false;
}

/** Shared request plumbing: routing, 404/405, errors as JSON, no caching. */
class HttpEndpoint {
  readonly server: Server;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly routes: ReadonlyMap<string, Route>,
    private readonly log: Logger,
  ) {
    this.server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
      void this.serve(req, res);
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume(); // no endpoint reads a body
    const method = req.method ?? "GET";
    let path = "/";
    try {
      path = new URL(req.url ?? "/", "http://vipd").pathname;
    } catch {
      // keep "/"
    }
    let reply: Reply;
    const route = this.routes.get(path);
    if (route === undefined) {
      reply = errorReply(404, "API_NOT_FOUND", `no such endpoint: ${path}`);
    } else if (!route.methods.includes(method)) {
      reply = errorReply(405, "API_METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}`, {
        Allow: route.methods.join(", "),
      });
    } else {
      try {
        reply = await route.handle(req);
      } catch (err) {
        this.log.error({ err, method, path }, `API ${method} ${path} failed: ${describeError(err)}`);
        reply = errorReply(500, errorCode(err, "API_INTERNAL_ERROR"), messageOf(err));
      }
    }
    this.log.debug({ method, path, status: reply.status }, "API request");
    if (res.destroyed) return;
    res.writeHead(reply.status, {
      "Content-Type": reply.type,
      "Content-Length": Buffer.byteLength(reply.body),
      "Cache-Control": "no-store",
      ...reply.headers,
    });
    res.end(reply.body);
  }

  listen(target: { path: string } | { host: string; port: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (err?: Error) => {
        this.server.off("error", settle);
        this.server.off("listening", settle);
        if (err) {
          reject(err);
          return;
        }
        this.server.on("error", (e) => this.log.error({ err: e }, `server error: ${e.message}`));
        resolve();
      };
      this.server.on("error", settle);
      this.server.on("listening", settle);
      this.server.listen(target);
    });
  }

  /** Stops listening and drops open connections; idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}

function statusRoutes(provider: StatusProvider): [string, Route][] {
  return [
    [
      "/status",
      {
        methods: ["GET", "HEAD"],
        handle: async () => jsonReply(200, await provider()),
      },
    ],
    [
      "/metrics",
      {
        methods: ["GET", "HEAD"],
        handle: async () => ({
          status: 200,
          type: PROMETHEUS_CONTENT_TYPE,
          body: renderPrometheus(await provider()),
        }),
      },
    ],
  ];
}

function actionRoute(name: string, action: ApiAction | undefined, log: Logger): Route {
  return {
    methods: ["POST"],
    handle: async () => {
      if (action === undefined) {
        return errorReply(501, "API_ACTION_UNAVAILABLE", `${name} is not available in this daemon`);
      }
      log.info({ event: `api.${name}` }, `${name} requested over the API`);
      let result: unknown;
      try {
        result = await action();
      } catch (err) {
        log.error({ err, event: `api.${name}` }, `${name} failed: ${describeError(err)}`);
        return jsonReply(500, {
          ok: false,
          error: { code: errorCode(err, "API_ACTION_FAILED"), message: messageOf(err) },
        });
      }
      const ok = !failed(result);
      return jsonReply(ok ? 200 : 422, { ok, result: result === undefined ? null : result });
    },
  };
}

/**
 * An operator action, POST /PATH?action=…&PARAM=…: the query names everything, no body. Every
 * param is required; `run` gets the action and the params' values, in order.
 */
function operatorRoute<A extends string>(
  area: string,
  actions: readonly A[],
  params: readonly { key: string; logAs: string }[],
  run: ((action: A, values: string[]) => unknown) | undefined,
  log: Logger,
): Route {
  return {
    methods: ["POST"],
    handle: async (req) => {
      const query = new URL(req.url ?? "/", "http://vipd").searchParams;
      const name = query.get("action") ?? "";
      const values = params.map((p) => query.get(p.key) ?? "");
      if (!(actions as readonly string[]).includes(name))
        return errorReply(
          400,
          "API_BAD_REQUEST",
          `action must be one of ${actions.join(", ")}, got '${name}'`,
        );
      if (values.some((v) => v === "")) {
        const keys = params.map((p) => p.key);
        const which =
          keys.length === 1 ? `${keys[0]} is required` : `${keys.join(" and ")} are both required`;
        return errorReply(400, "API_BAD_REQUEST", which);
      }
      const bound = run === undefined ? undefined : () => run(name as A, values);
      const fields = Object.fromEntries(params.map((p, i) => [p.logAs, values[i]]));
      return actionRoute(`${area}.${name}`, bound, log.child(fields)).handle(req);
    },
  };
}

/** POST /server?action=drain|disable|enable&virtual_server=VS&real_server=RS. */
function serverRoute(action: ServerAdminAction | undefined, log: Logger): Route {
  const params = [
    { key: "virtual_server", logAs: "virtualServer" },
    { key: "real_server", logAs: "realServer" },
  ];
  const run =
    action &&
    ((a: (typeof SERVER_ACTIONS)[number], [vs, rs]: string[]) => action(a, vs as string, rs as string));
  return operatorRoute("server", SERVER_ACTIONS, params, run, log);
}

/** POST /vrrp?action=resign|resume&instance=NAME. */
function vrrpRoute(action: VrrpOperatorAction | undefined, log: Logger): Route {
  const run =
    action && ((a: (typeof VRRP_ACTIONS)[number], [instance]: string[]) => action(a, instance as string));
  return operatorRoute("vrrp", VRRP_ACTIONS, [{ key: "instance", logAs: "instance" }], run, log);
}

/** What answers on a unix socket path: "alive" (something accepted), "dead" (refused), or the errno. */
export function probeSocket(path: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<"alive" | "dead" | string> {
  return new Promise((resolve) => {
    const sock = connect({ path });
    const done = (answer: string) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(answer);
    };
    // No answer within the timeout (a full backlog): something is there; treat it as alive.
    const timer = setTimeout(() => done("alive"), timeoutMs);
    sock.once("connect", () => done("alive"));
    sock.once("error", (err: NodeJS.ErrnoException) =>
      done(err.code === "ECONNREFUSED" ? "dead" : (err.code ?? "EIO")),
    );
  });
}

function socketInode(path: string): number | undefined {
  try {
    const st = lstatSync(path);
    return st.isSocket() ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

/** The status/control API on a unix socket. */
export class ApiServer {
  readonly socketPath: string;
  private readonly opts: ApiServerOptions;
  private readonly log: Logger;
  private readonly http: HttpEndpoint;
  /** The inode of the socket file this server created (removed on close only if still ours). */
  private inode: number | undefined;
  private closed: Promise<void> | undefined;

  constructor(opts: ApiServerOptions) {
    this.opts = opts;
    this.socketPath = opts.socketPath;
    this.log = opts.log ?? childLogger("api", { socket: opts.socketPath });
    const routes = new Map<string, Route>(statusRoutes(opts.provider));
    routes.set("/reload", actionRoute("reload", opts.actions?.reload, this.log));
    routes.set("/resync", actionRoute("resync", opts.actions?.resync, this.log));
    routes.set("/server", serverRoute(opts.actions?.server, this.log));
    routes.set("/vrrp", vrrpRoute(opts.actions?.vrrp, this.log));
    routes.set("/", {
      methods: ["GET", "HEAD"],
      handle: () =>
        Promise.resolve(
          jsonReply(200, {
            endpoints: [
              "GET /status",
              "GET /metrics",
              "POST /reload",
              "POST /resync",
              "POST /server?action=drain|disable|enable&virtual_server=VS&real_server=RS",
              "POST /vrrp?action=resign|resume&instance=NAME",
            ],
          }),
        ),
    });
    this.http = new HttpEndpoint(routes, this.log);
  }

  /** Creates and starts a server. Throws API_SOCKET_IN_USE, API_SOCKET_PATH_INVALID or API_LISTEN_FAILED. */
  static async start(opts: ApiServerOptions): Promise<ApiServer> {
    const api = new ApiServer(opts);
    await api.listen();
    return api;
  }

  async listen(): Promise<void> {
    const path = this.socketPath;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: this.opts.dirMode ?? 0o750 });
    } catch (err) {
      throw new VipdError(
        "API_LISTEN_FAILED",
        `cannot create the directory of ${path}: ${describeError(err)}`,
        {
          socket: path,
        },
      );
    }
    try {
      await this.http.listen({ path });
    } catch (err) {
      if (errorCode(err, "") !== "EADDRINUSE") throw this.listenFailed(err);
      await this.removeStale();
      try {
        await this.http.listen({ path });
      } catch (again) {
        throw errorCode(again, "") === "EADDRINUSE" ? this.inUse() : this.listenFailed(again);
      }
    }
    this.inode = socketInode(path);
    try {
      await chmod(path, this.opts.socketMode ?? 0o660);
    } catch (err) {
      await this.close();
      throw this.listenFailed(err);
    }
    this.log.info({ event: "api.listening", socket: path }, `API listening on ${path}`);
  }

  /** The path is taken: remove it only when it is a socket nobody answers on. */
  private async removeStale(): Promise<void> {
    const path = this.socketPath;
    let isSocket: boolean;
    try {
      isSocket = lstatSync(path).isSocket();
    } catch (err) {
      if (errorCode(err, "") === "ENOENT") return; // gone meanwhile: just try again
      throw this.listenFailed(err);
    }
    if (!isSocket) {
      throw new VipdError(
        "API_SOCKET_PATH_INVALID",
        `${path} exists and is not a socket; not removing it (set api.socket elsewhere or remove it)`,
        { socket: path },
      );
    }
    const answer = await probeSocket(path);
    if (answer === "alive") throw this.inUse();
    if (answer !== "dead" && answer !== "ENOENT") {
      throw new VipdError(
        "API_SOCKET_IN_USE",
        `cannot tell whether ${path} is in use (${answer}); not removing it`,
        { socket: path, errno: answer },
      );
    }
    try {
      unlinkSync(path);
      this.log.warn({ event: "api.stale_socket", socket: path }, `removed the stale socket ${path}`);
    } catch (err) {
      if (errorCode(err, "") !== "ENOENT") throw this.listenFailed(err);
    }
  }

  private inUse(): VipdError {
    return new VipdError(
      "API_SOCKET_IN_USE",
      `another process answers on ${this.socketPath} (is vipd already running?)`,
      { socket: this.socketPath },
    );
  }

  private listenFailed(err: unknown): VipdError {
    return new VipdError(
      "API_LISTEN_FAILED",
      `cannot listen on ${this.socketPath}: ${describeError(err)}`,
      { socket: this.socketPath },
      { cause: err },
    );
  }

  /**
   * Stops serving, drops open connections and removes the socket file. Idempotent.
   * (libuv unlinks the bound path when the server closes; what is left after that is removed
   * only if it is still the file this server created.)
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.http.close();
      if (this.inode !== undefined && socketInode(this.socketPath) === this.inode) {
        try {
          unlinkSync(this.socketPath);
        } catch {
          // already gone
        }
      }
      this.log.info({ event: "api.closed", socket: this.socketPath }, "API closed");
    })();
    return this.closed;
  }
}

/** Prometheus metrics on `metrics.listen`. */
export class MetricsServer {
  private readonly opts: MetricsServerOptions;
  private readonly log: Logger;
  private readonly http: HttpEndpoint;

  constructor(opts: MetricsServerOptions) {
    this.opts = opts;
    this.log = opts.log ?? childLogger("metrics", { listen: `${opts.listen.host}:${opts.listen.port}` });
    this.http = new HttpEndpoint(
      new Map(statusRoutes(opts.provider).filter(([p]) => p === "/metrics")),
      this.log,
    );
  }

  /** Creates and starts a server. Throws METRICS_LISTEN_FAILED. */
  static async start(opts: MetricsServerOptions): Promise<MetricsServer> {
    const m = new MetricsServer(opts);
    await m.listen();
    return m;
  }

  async listen(): Promise<void> {
    const { host, port } = this.opts.listen;
    try {
      await this.http.listen({ host, port });
    } catch (err) {
      throw new VipdError(
        "METRICS_LISTEN_FAILED",
        `cannot listen on ${host}:${port} for metrics: ${describeError(err)}`,
        { host, port },
        { cause: err },
      );
    }
    const a = this.address();
    this.log.info(
      { event: "metrics.listening", ...a },
      `metrics on http://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}/metrics`,
    );
  }

  /** Where it listens (the port the kernel chose for port 0). */
  address(): { host: string; port: number } {
    const a = this.http.server.address() as AddressInfo | null;
    return a === null ? { ...this.opts.listen } : { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

/**
 * Asking a running daemon over its unix socket (the client side of src/api/server.ts), for
 * `vipd status` and for tests.
 */
import { request } from "node:http";
import { VipdError } from "../errors.js";
import type { DaemonStatus } from "./status.js";

export interface ApiResponse {
  status: number;
  contentType: string;
  body: string;
}

export interface ApiRequestOptions {
  method?: "GET" | "POST";
  /** Whole request; default 15000 ms. */
  timeoutMs?: number;
}

/** Errno codes that mean nothing is serving on the path. */
const NOT_RUNNING = new Set(["ENOENT", "ECONNREFUSED", "ENOTSOCK", "ENOTDIR"]);

function connectError(socketPath: string, err: NodeJS.ErrnoException): VipdError {
  const errno = err.code ?? "EIO";
  if (NOT_RUNNING.has(errno)) {
    return new VipdError("API_NOT_RUNNING", `vipd is not running (no answer on ${socketPath}: ${errno})`, {
      socket: socketPath,
      errno,
    });
  }
  if (errno === "EACCES" || errno === "EPERM") {
    return new VipdError(
      "API_PERMISSION_DENIED",
      `cannot connect to vipd on ${socketPath}: ${errno} (permission denied: run as root or as a member of the socket's group)`,
      { socket: socketPath, errno },
    );
  }
  return new VipdError(
    "API_REQUEST_FAILED",
    `cannot talk to vipd on ${socketPath}: ${errno}: ${err.message}`,
    {
      socket: socketPath,
      errno,
    },
  );
}

/** One HTTP request over the unix socket; resolves with any HTTP status, rejects on I/O problems. */
export function requestApi(
  socketPath: string,
  path: string,
  options: ApiRequestOptions = {},
): Promise<ApiResponse> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: VipdError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = request(
      {
        socketPath,
        path,
        method: options.method ?? "GET",
        headers: { Host: "vipd", Accept: "application/json", Connection: "close" },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err: NodeJS.ErrnoException) => fail(connectError(socketPath, err)));
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            body: Buffer.concat(chunks).toString("utf8"),
          });
        });
      },
    );
    const timer = setTimeout(
      () =>
        fail(
          new VipdError("API_TIMEOUT", `vipd did not answer on ${socketPath} within ${timeoutMs} ms`, {
            socket: socketPath,
            timeoutMs,
          }),
        ),
      timeoutMs,
    );
    req.on("error", (err: NodeJS.ErrnoException) => fail(connectError(socketPath, err)));
    req.end();
  });
}

/** The message of an error body `{ error: { code, message } }`, else the body itself. */
function serverError(res: ApiResponse): { code: string; message: string } {
  try {
    const parsed = JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } };
    const e = parsed.error;
    if (e && typeof e.message === "string") {
      return { code: typeof e.code === "string" ? e.code : "API_ERROR", message: e.message };
    }
  } catch {
    // not JSON
  }
  return { code: "API_ERROR", message: res.body.trim() || `HTTP ${res.status}` };
}

/** GET /status, parsed. Throws API_NOT_RUNNING, API_PERMISSION_DENIED, API_TIMEOUT, API_ERROR, API_BAD_RESPONSE. */
export async function fetchStatus(
  socketPath: string,
  options: { timeoutMs?: number } = {},
): Promise<DaemonStatus> {
  const res = await requestApi(socketPath, "/status", options);
  if (res.status !== 200) {
    const e = serverError(res);
    throw new VipdError(
      "API_ERROR",
      `vipd answered HTTP ${res.status} on ${socketPath}: ${e.code}: ${e.message}`,
      {
        socket: socketPath,
        status: res.status,
        code: e.code,
      },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch (err) {
    throw new VipdError(
      "API_BAD_RESPONSE",
      `vipd answered on ${socketPath} with something that is not JSON: ${(err as Error).message}`,
      { socket: socketPath },
    );
  }
  if (
    typeof parsed !== "object" ||
    parsed === null ||
    typeof (parsed as { node?: unknown }).node !== "string"
  ) {
    throw new VipdError(
      "API_BAD_RESPONSE",
      `vipd answered on ${socketPath} with an unexpected status document`,
      {
        socket: socketPath,
      },
    );
  }
  return parsed as DaemonStatus;
}

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A request as the test receiver saw it. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** `x-vipd-delivery`. */
  id: string;
  /** 1-based position among all requests this receiver got. */
  n: number;
}

export type Reply = { status: number; headers?: Record<string, string> } | "hang";

export type Handler = (req: Received) => Reply | Promise<Reply>;

export interface Receiver {
  url: string;
  received: Received[];
  /** Resolves once at least `count` requests have arrived (event-driven, no polling). */
  waitFor(count: number): Promise<void>;
  /** Resolves once `count` requests were closed by the client before an answer. */
  waitForAborted(count: number): Promise<void>;
  aborted(): number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1, port 0, answering each request as `handler` says. */
export async function startReceiver(handler: Handler = () => ({ status: 200 })): Promise<Receiver> {
  const received: Received[] = [];
  let abortedCount = 0;
  const waiters: { check: () => boolean; resolve: () => void }[] = [];
  const notify = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.check()) {
        waiters.splice(i, 1);
        w.resolve();
      }
    }
  };
  const waitUntil = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      if (check()) resolve();
      else waiters.push({ check, resolve });
    });

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r: Received = {
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        id: String(req.headers["x-vipd-delivery"]),
        n: received.length + 1,
      };
      received.push(r);
      res.on("close", () => {
        if (!res.writableFinished) {
          abortedCount += 1;
          notify();
        }
      });
      notify();
      void Promise.resolve(handler(r)).then((reply) => {
        if (reply === "hang" || res.destroyed) return;
        res.writeHead(reply.status, reply.headers ?? {});
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook/secret-token`,
    received,
    waitFor: (count) => waitUntil(() => received.length >= count),
    waitForAborted: (count) => waitUntil(() => abortedCount >= count),
    aborted: () => abortedCount,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nobody listens on (bound, then closed). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hook`;
}

/** A manually opened gate. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

// The real servers of bench/checks.ts: one process answering every target of every kind.
//
//   node bench/checks-server.mjs '{"tcp":[20000,200],"http":[21000,200],"https":[22000,200],"cert":…,"key":…}'
//
// Each kind listens on the wildcard address of its ports (inside the benchmark's own network
// namespace, where loopback answers every 127/8 address), so one listener serves a port on every
// target address. tcp: accept, then wait for the checker to close. http and https: read the
// request head, answer `200 ok` with Connection: close and close (keepalived's HTTP_GET reads
// until the server closes). It counts accepted connections (tcp) and answered requests (http,
// https): the checks done, as the targets see them.
//
// stdin, one command a line: `count` prints {"tcp":…,"http":…,"https":…,"at":epoch ms}. The
// process exits when stdin closes. It prints `ready` once every port listens.

import { readFileSync } from "node:fs";
import net from "node:net";
import { createInterface } from "node:readline";
import tls from "node:tls";

const spec = JSON.parse(process.argv[2] ?? "{}");
const counts = { tcp: 0, http: 0, https: 0 };
const RESPONSE = Buffer.from(
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
);
const noop = () => {};

// Accept, count, close: the connection is established by the time it is accepted (the checker
// has its answer), and closing at once keeps the server's cost per check small.
function onTcp(socket) {
  counts.tcp++;
  socket.on("error", noop);
  socket.destroy();
}

function httpHandler(kind) {
  return (socket) => {
    let head = "";
    socket.on("error", noop);
    socket.setEncoding("latin1");
    socket.on("data", (chunk) => {
      if (head === undefined) return;
      head += chunk;
      if (!head.includes("\r\n\r\n")) {
        if (head.length > 16384) socket.destroy();
        return;
      }
      head = undefined;
      counts[kind]++;
      socket.end(RESPONSE);
    });
  };
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "0.0.0.0", port, backlog: 4096 }, () => {
      server.off("error", reject);
      server.on("error", noop);
      resolve();
    });
  });
}

const servers = [];
const tlsOptions = spec.https ? { cert: readFileSync(spec.cert), key: readFileSync(spec.key) } : undefined;
for (const kind of ["tcp", "http", "https"]) {
  const range = spec[kind];
  if (!range) continue;
  const [from, count] = range;
  for (let port = from; port < from + count; port++) {
    const server =
      kind === "tcp"
        ? net.createServer({ noDelay: true }, onTcp)
        : kind === "http"
          ? net.createServer({ noDelay: true }, httpHandler("http"))
          : tls.createServer({ ...tlsOptions, noDelay: true }, httpHandler("https"));
    if (kind === "https") server.on("tlsClientError", noop);
    servers.push(listen(server, port));
  }
}
await Promise.all(servers);
process.stdout.write("ready\n");

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (line.trim() === "count") process.stdout.write(`${JSON.stringify({ ...counts, at: Date.now() })}\n`);
});
rl.on("close", () => process.exit(0));

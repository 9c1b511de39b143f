/**
 * The `tcp` check: connect, optionally send a payload, optionally wait for a reply that contains
 * a given text. Up = the connection opened (and the reply, when one is expected, contained it).
 */
import net from "node:net";
import type { TcpCheckConfig } from "../../config/types.js";
import type { Checker, CheckResult } from "../types.js";
import { describeNetError, fail, ok, quote, stopwatch } from "./result.js";

/**
 * A reply is read up to this many bytes while looking for `expect`: a server that streams
 * forever must not make the director buffer forever.
 */
export const TCP_MAX_REPLY_BYTES = 64 * 1024;

export const tcpCheck: Checker<TcpCheckConfig> = (target, spec, signal) =>
  new Promise<CheckResult>((resolve) => {
    const elapsed = stopwatch();
    if (signal.aborted) {
      resolve(fail(elapsed, "timeout", "timeout (connect)"));
      return;
    }
    const expect = spec.expect === undefined || spec.expect === "" ? undefined : Buffer.from(spec.expect);
    let connected = false;
    let done = false;
    // The reply so far (at most TCP_MAX_REPLY_BYTES), searched as bytes: a multi-byte character
    // split across two segments still matches, and nothing is decoded that is never shown.
    let reply = Buffer.alloc(0);

    const socket = net.connect({ host: target.address, port: target.port, noDelay: true });
    const finish = (result: CheckResult) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      // destroy, not end: the check has what it needs, and a lingering half-closed socket per
      // check per server adds up on a director. An unread reply makes the kernel send a RST,
      // which is harmless to the server.
      socket.destroy();
      resolve(result);
    };
    const onAbort = () =>
      finish(fail(elapsed, "timeout", connected ? "timeout (reply)" : "timeout (connect)"));
    signal.addEventListener("abort", onAbort, { once: true });

    socket.on("error", (err) => {
      const { code, reason } = describeNetError(err, signal.aborted);
      finish(fail(elapsed, code, reason));
    });
    socket.once("connect", () => {
      connected = true;
      if (expect === undefined) {
        if (spec.send === undefined || spec.send === "") finish(ok(elapsed));
        // Up once the payload is handed to the kernel: destroying before that would drop it.
        else socket.write(spec.send, (err) => (err ? undefined : finish(ok(elapsed))));
        return;
      }
      if (spec.send !== undefined && spec.send !== "") socket.write(spec.send);
    });
    socket.on("data", (chunk: Buffer) => {
      if (expect === undefined) return;
      const room = TCP_MAX_REPLY_BYTES - reply.length;
      const from = Math.max(0, reply.length - expect.length + 1);
      reply = Buffer.concat([reply, room < chunk.length ? chunk.subarray(0, room) : chunk]);
      // Only the new bytes (and the tail an earlier segment could have begun a match in) are searched.
      if (reply.indexOf(expect, from) !== -1) finish(ok(elapsed));
      else if (reply.length >= TCP_MAX_REPLY_BYTES)
        finish(fail(elapsed, "body_mismatch", `reply lacks ${quote(spec.expect!)} (first 64 KiB)`));
    });
    socket.on("end", () => {
      if (expect === undefined) return;
      if (reply.length === 0) finish(fail(elapsed, "closed", "closed by the server before replying"));
      else finish(fail(elapsed, "body_mismatch", `reply lacks ${quote(spec.expect!)}`));
    });
    // A close without 'end' or 'error' (the socket destroyed under us) must still settle the check.
    socket.on("close", () => finish(fail(elapsed, "closed", "closed by the server")));
  });

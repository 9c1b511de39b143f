/**
 * The dns check: one query over UDP to the real server, judged by the reply's rcode and answers.
 *
 * The socket is connect()ed to the target, so the kernel drops datagrams from anywhere else and
 * reports an ICMP port unreachable as ECONNREFUSED (`refused`: nothing listens there). Within
 * what the target sends, only a reply with the query's random id and its question is taken; any
 * other datagram (a late reply to an earlier check, say) is ignored and the wait goes on. A
 * reply with an empty question section is accepted on its id alone, since servers answer some
 * errors (FORMERR, NOTIMP) without echoing the question.
 *
 * Up: the rcode is spec.rcode, and, when that is NOERROR, the answer holds at least one record
 * of spec.recordType (a CNAME alone is not an A record). A truncated reply (TC) is judged on what
 * it carries, without the TCP retry a resolver would make: the check asks whether the server
 * answers, and the rcode and the first records are in the part that fits.
 *
 * The socket is closed on every path before the promise resolves.
 */
import { randomInt } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import type { DnsCheckConfig } from "../../config/types.js";
import { CLASS_IN, decodeResponse, encodeQuery, RECORD_TYPES } from "../dns-message.js";
import type { Checker, CheckResult } from "../types.js";
import { describeNetError, fail, ok, stopwatch } from "./result.js";

export const dnsCheck: Checker<DnsCheckConfig> = (target, spec, signal) => {
  const elapsed = stopwatch();
  if (signal.aborted) return Promise.resolve(fail(elapsed, "timeout", "timeout"));

  const id = randomInt(0, 0x10000);
  const type = RECORD_TYPES[spec.recordType];
  const name = spec.name.endsWith(".") ? spec.name.slice(0, -1) : spec.name;
  let query: Buffer;
  try {
    query = encodeQuery({ id, name, recordType: spec.recordType });
  } catch (err) {
    return Promise.resolve(fail(elapsed, "error", `dns: ${(err as Error).message}`));
  }

  return new Promise<CheckResult>((resolve) => {
    let socket: Socket;
    try {
      socket = createSocket(target.family === 6 ? "udp6" : "udp4");
    } catch (err) {
      resolve(fail(elapsed, "error", `dns: ${(err as Error).message}`));
      return;
    }
    let done = false;

    const finish = (result: CheckResult) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      try {
        socket.close();
      } catch {
        // Closed already (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing left to release.
      }
      resolve(result);
    };
    const onAbort = () => finish(fail(elapsed, "timeout", "timeout"));

    const netFail = (err: unknown) => {
      const { code, reason } = describeNetError(err, signal.aborted);
      finish(fail(elapsed, code, reason));
    };

    socket.on("error", netFail);
    socket.on("message", (msg: Buffer) => {
      if (done) return;
      // A datagram too short to carry an id cannot be anyone's reply but the target's own junk.
      if (msg.length >= 2 && msg.readUInt16BE(0) !== id) return;
      const reply = decodeResponse(msg);
      if ("error" in reply) {
        finish(fail(elapsed, "dns_malformed", `malformed reply: ${reply.error}`));
        return;
      }
      const asked = reply.questions;
      if (asked.length > 0) {
        const q = asked[0]!;
        if (
          asked.length !== 1 ||
          q.type !== type ||
          q.class !== CLASS_IN ||
          q.name.toLowerCase() !== name.toLowerCase()
        )
          return;
      }
      if (reply.rcode !== spec.rcode) {
        finish(fail(elapsed, "dns_rcode", `rcode ${reply.rcode}, expected ${spec.rcode}`));
        return;
      }
      if (spec.rcode !== "NOERROR") {
        finish(ok(elapsed, { reason: reply.rcode }));
        return;
      }
      const records = reply.answers.filter((a) => a.type === type).length;
      if (records === 0) {
        finish(fail(elapsed, "dns_no_answer", `no ${spec.recordType} record for ${name}`));
        return;
      }
      const tc = reply.truncated ? " (truncated)" : "";
      finish(
        ok(elapsed, {
          reason: `NOERROR, ${records} ${spec.recordType} record${records > 1 ? "s" : ""}${tc}`,
        }),
      );
    });

    signal.addEventListener("abort", onAbort, { once: true });
    // Without a callback, a failed connect is an 'error' event like any other.
    socket.once("connect", () => {
      if (done) return;
      socket.send(query, (err) => {
        if (err) netFail(err);
      });
    });
    try {
      socket.connect(target.port, target.address);
    } catch (err) {
      // A bad port or address is thrown, not emitted.
      netFail(err);
    }
  });
};

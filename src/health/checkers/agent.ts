/**
 * The agent check (HAProxy's agent-check): connect, send spec.send and a newline if configured,
 * read one line (up to MAX_AGENT_LINE bytes, ended by CR, LF or the agent closing), parse it.
 *
 * `ok` means the agent answered, whatever it said: a reply of `down` or `maint` is still
 * ok:true, with the parsed words in `agent`. Turning those words into health, admin state and
 * weight is the monitor's business (it alone knows the configured weight and what the server's
 * other checks say). Not answering — refused, reset, timeout, closed without a byte, a line that
 * is not an agent's — is ok:false with the network (or `protocol`) code, which the monitor takes
 * as "no change": like HAProxy, vipd never fails a server because its agent is unreachable.
 *
 * Unlike HAProxy, which ignores a reply that the agent ends by closing without a newline, the
 * line is taken as it is then: agents written as `echo -n` one-liners are common.
 */
import { connect, type Socket } from "node:net";
import type { AgentCheckConfig } from "../../config/types.js";
import { MAX_AGENT_LINE, parseAgentReply } from "../agent-reply.js";
import type { Checker, CheckResult } from "../types.js";
import { describeNetError, fail, ok, stopwatch } from "./result.js";

export const agentCheck: Checker<AgentCheckConfig> = (target, spec, signal) => {
  const elapsed = stopwatch();
  if (signal.aborted) return Promise.resolve(fail(elapsed, "timeout", "timeout"));

  return new Promise<CheckResult>((resolve) => {
    let socket: Socket;
    try {
      socket = connect({ host: target.address, port: target.port, family: target.family });
    } catch (err) {
      // A port out of range and the like are thrown, not emitted.
      const { code, reason } = describeNetError(err, false);
      resolve(fail(elapsed, code, reason));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;

    const finish = (result: CheckResult) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => finish(fail(elapsed, "timeout", "timeout"));
    const answered = (bytes: Buffer) => {
      const line = bytes.toString("utf8");
      const reply = parseAgentReply(line);
      if ("error" in reply) {
        finish(fail(elapsed, "protocol", `agent: ${reply.error}`));
        return;
      }
      const text = line.trim();
      finish(ok(elapsed, { reason: text === "" ? "agent: (empty line)" : `agent: ${text}`, agent: reply }));
    };

    socket.on("connect", () => {
      if (spec.send !== undefined) socket.write(`${spec.send}\n`);
    });
    socket.on("data", (chunk: Buffer) => {
      if (done) return;
      chunks.push(chunk);
      received += chunk.length;
      const all = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      const eol = all.findIndex((b) => b === 0x0a || b === 0x0d);
      if (eol >= 0 && eol <= MAX_AGENT_LINE) answered(all.subarray(0, eol));
      else if (received > MAX_AGENT_LINE)
        finish(fail(elapsed, "protocol", `agent: reply line longer than ${MAX_AGENT_LINE} bytes`));
      else if (chunks.length > 1) chunks.splice(0, chunks.length, all);
    });
    socket.on("end", () => {
      if (received === 0) finish(fail(elapsed, "closed", "closed by the agent without a reply"));
      else answered(Buffer.concat(chunks));
    });
    socket.on("error", (err) => {
      const { code, reason } = describeNetError(err, signal.aborted);
      finish(fail(elapsed, code, reason));
    });
    // Any close not explained by 'end' or 'error' above.
    socket.on("close", () => finish(fail(elapsed, "closed", "closed by the agent without a reply")));
    signal.addEventListener("abort", onAbort, { once: true });
  });
};

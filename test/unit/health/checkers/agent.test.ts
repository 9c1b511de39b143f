import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentCheckConfig } from "../../../../src/config/types.js";
import { MAX_AGENT_LINE } from "../../../../src/health/agent-reply.js";
import { agentCheck } from "../../../../src/health/checkers/agent.js";
import type { AgentReply, CheckTarget } from "../../../../src/health/types.js";

function spec(send?: string): AgentCheckConfig {
  return {
    type: "agent",
    ...(send === undefined ? {} : { send }),
    intervalMs: 1000,
    fastIntervalMs: 1000,
    downIntervalMs: 1000,
    timeoutMs: 1000,
    rise: 1,
    fall: 1,
    initial: "down",
  };
}

const never = () => new AbortController().signal;

/**
 * A TCP agent on loopback; `handle` is swapped per test. Each connection's close is recorded, so
 * a test can wait for the checker to have released its end.
 */
class Agent {
  handle: (socket: Socket) => void = (s) => s.end();
  closed: Promise<void>[] = [];
  private server: Server;
  target!: CheckTarget;

  constructor(private readonly family: 4 | 6 = 4) {
    this.server = createServer((socket) => {
      this.closed.push(new Promise((resolve) => socket.on("close", () => resolve())));
      socket.on("error", () => {});
      this.handle(socket);
    });
  }

  listen(): Promise<this> {
    const host = this.family === 6 ? "::1" : "127.0.0.1";
    return new Promise((resolve) =>
      this.server.listen(0, host, () => {
        const address = this.server.address() as { port: number };
        this.target = { address: host, port: address.port, family: this.family };
        resolve(this);
      }),
    );
  }

  /** Every connection so far has been closed at both ends. */
  async drained(): Promise<void> {
    await Promise.all(this.closed);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Replies with `text` as soon as the connection opens, then closes. */
const say = (text: string | Buffer) => (s: Socket) => s.end(text);

describe("agentCheck", () => {
  let agent: Agent;
  beforeAll(async () => {
    agent = await new Agent().listen();
  });
  afterAll(() => agent.close());

  const table: [sent: string, agent: AgentReply, reason: string][] = [
    ["75%\n", { weight: { percent: 75 } }, "agent: 75%"],
    ["weight:10\n", { weight: { absolute: 10 } }, "agent: weight:10"],
    ["drain\n", { admin: "drain" }, "agent: drain"],
    ["maint\n", { admin: "maint" }, "agent: maint"],
    ["down#disk full\n", { health: "down", reason: "disk full" }, "agent: down#disk full"],
    [" up 75% drain \r\n", { health: "up", weight: { percent: 75 }, admin: "drain" }, "agent: up 75% drain"],
    ["stopped\nup\n", { health: "down" }, "agent: stopped"], // one line only
    ["garbage\n", {}, "agent: garbage"],
    ["\n", {}, "agent: (empty line)"],
  ];
  it.each(table)("answers %j: ok, with the parsed reply", async (sent, reply, reason) => {
    agent.handle = say(sent);
    expect(await agentCheck(agent.target, spec(), never())).toMatchObject({
      ok: true,
      code: "ok",
      reason,
      agent: reply,
    });
    await agent.drained();
  });

  it("a `down` or `maint` reply is still ok: the agent answered, the monitor decides", async () => {
    agent.handle = say("down maint\n");
    const r = await agentCheck(agent.target, spec(), never());
    expect(r.ok).toBe(true);
    expect(r.agent).toEqual({ health: "down", admin: "maint" });
  });

  it("sends spec.send and a newline first", async () => {
    let got = "";
    agent.handle = (s) => {
      s.setEncoding("utf8");
      s.on("data", (text: string) => {
        got += text;
        if (got.includes("\n")) s.end("ready 40%\n");
      });
    };
    const r = await agentCheck(agent.target, spec("status web1"), never());
    expect(got).toBe("status web1\n");
    expect(r).toMatchObject({ ok: true, agent: { admin: "ready", weight: { percent: 40 } } });
    await agent.drained();
  });

  it("takes the line the agent ends by closing, without a newline", async () => {
    agent.handle = say("50% up");
    expect(await agentCheck(agent.target, spec(), never())).toMatchObject({
      ok: true,
      agent: { weight: { percent: 50 }, health: "up" },
    });
  });

  it("takes a line that arrives in pieces", async () => {
    agent.handle = (s) => {
      s.write("dr");
      setImmediate(() => s.end("ain 5%\nignored\n"));
    };
    expect(await agentCheck(agent.target, spec(), never())).toMatchObject({
      ok: true,
      agent: { admin: "drain", weight: { percent: 5 } },
    });
  });

  it("an agent that never answers is a timeout, and the connection is closed", async () => {
    const ac = new AbortController();
    agent.handle = () => ac.abort(); // connected: now let the check time out
    expect(await agentCheck(agent.target, spec(), ac.signal)).toMatchObject({
      ok: false,
      code: "timeout",
      reason: "timeout",
    });
    await agent.drained();
  });

  it("a line longer than the cap is a protocol error, and the connection is closed", async () => {
    agent.handle = (s) => s.write(Buffer.alloc(MAX_AGENT_LINE + 1, 0x61));
    expect(await agentCheck(agent.target, spec(), never())).toMatchObject({
      ok: false,
      code: "protocol",
      reason: `agent: reply line longer than ${MAX_AGENT_LINE} bytes`,
    });
    await agent.drained();
    agent.handle = say(`${"up".padEnd(MAX_AGENT_LINE)}\n`); // exactly at the cap
    expect(await agentCheck(agent.target, spec(), never())).toMatchObject({
      ok: true,
      agent: { health: "up" },
    });
  });

  it("a binary reply is a protocol error", async () => {
    agent.handle = say(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x0a]));
    expect(await agentCheck(agent.target, spec(), never())).toMatchObject({ ok: false, code: "protocol" });
  });

  it("closing without a byte is `closed`", async () => {
    agent.handle = (s) => s.end();
    expect(await agentCheck(agent.target, spec(), never())).toMatchObject({ ok: false, code: "closed" });
  });

  it("a reset is `reset`", async () => {
    agent.handle = (s) => s.resetAndDestroy();
    expect(await agentCheck(agent.target, spec(), never())).toMatchObject({ ok: false, code: "reset" });
  });

  it("a closed port is refused", async () => {
    const gone = await new Agent().listen();
    await gone.close();
    expect(await agentCheck(gone.target, spec(), never())).toMatchObject({
      ok: false,
      code: "refused",
      reason: "refused",
    });
  });

  it("connects over IPv6", async () => {
    const v6 = await new Agent(6).listen();
    try {
      v6.handle = say("up\n");
      expect(await agentCheck(v6.target, spec(), never())).toMatchObject({
        ok: true,
        agent: { health: "up" },
      });
    } finally {
      await v6.close();
    }
  });

  it("does not connect when already aborted", async () => {
    const before = agent.closed.length;
    expect(await agentCheck(agent.target, spec(), AbortSignal.abort())).toMatchObject({ code: "timeout" });
    expect(agent.closed.length).toBe(before);
  });
});

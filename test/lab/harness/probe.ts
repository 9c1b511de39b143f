/**
 * Client-perceived availability of a VIP: an HTTP probe (test/lab/fixtures/http-probe.mjs) runs
 * as its own process inside the client namespace, starting a request every 10 ms on a fresh TCP
 * connection. Its results stream back here; {@link longestOutage} turns them into the outage.
 *
 *   const probe = await HttpProbe.start(lab, "cl", "http://10.77.0.100/");
 *   await probe.waitForSuccess({ body: "d1" });
 *   const t = nowMs(); await lab.linkDown("d1");
 *   await probe.waitForSuccess({ body: "d2", after: t });
 *   const results = await probe.stop();
 *   longestOutage(results, { from: t - 200 }).outageMs;
 */
import { fileURLToPath } from "node:url";
import { VipdError } from "../../../src/errors.js";
import { LineLog, nowMs } from "./lines.js";
import type { Lab } from "./netns.js";

const PROBE_SCRIPT = fileURLToPath(new URL("../fixtures/http-probe.mjs", import.meta.url));

export interface ProbeResult {
  /** When the request started / finished (epoch ms). */
  start: number;
  end: number;
  ok: boolean;
  /** The response body (the serving director's name) or the error code (TIMEOUT, ECONNREFUSED…). */
  what: string;
}

export interface ProbeOptions {
  /** Default 10 ms. */
  intervalMs?: number;
  /** A request not answered within this is a failure; default 1000 ms. */
  timeoutMs?: number;
}

const LINE_RE = /^R (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) ([01]) (\S+)$/;

export function parseProbeLine(text: string): ProbeResult | undefined {
  const m = LINE_RE.exec(text);
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), ok: m[3] === "1", what: m[4]! };
}

export interface Outage {
  /** The longest time between two consecutive successful responses (by completion time). */
  outageMs: number;
  /** The success that ended before the gap and the one that ended it. */
  before: ProbeResult | undefined;
  after: ProbeResult | undefined;
  /** Requests started during the gap (after `before` was answered, before `after` was). */
  affected: number;
}

/**
 * The longest gap between consecutive successful completions among results that completed in
 * [from, to] (default: all). The time a response arrives is when the client knew the path
 * worked; a request sent into the outage and answered late (a SYN queued behind ARP, or
 * retransmitted) is thus counted from its answer, not from its start. The resolution is the
 * probe interval. outageMs is 0 with fewer than two successes.
 */
export function longestOutage(
  results: readonly ProbeResult[],
  window: { from?: number; to?: number } = {},
): Outage {
  const from = window.from ?? Number.NEGATIVE_INFINITY;
  const to = window.to ?? Number.POSITIVE_INFINITY;
  const inWindow = results.filter((r) => r.end >= from && r.end <= to);
  const oks = inWindow.filter((r) => r.ok).sort((a, b) => a.end - b.end);
  let best: Outage = { outageMs: 0, before: undefined, after: undefined, affected: 0 };
  for (let i = 1; i < oks.length; i++) {
    const gap = oks[i]!.end - oks[i - 1]!.end;
    if (gap > best.outageMs) best = { outageMs: gap, before: oks[i - 1], after: oks[i], affected: 0 };
  }
  if (best.before && best.after) {
    const { before, after } = best;
    best.affected = results.filter((r) => r.start > before.end && r.start < after.end && r !== after).length;
  }
  return best;
}

export class HttpProbe {
  readonly log: LineLog;
  readonly url: string;
  private readonly parsed: ProbeResult[] = [];
  private scanned = 0;

  private constructor(log: LineLog, url: string) {
    this.log = log;
    this.url = url;
  }

  /** Starts the probe in `host`'s namespace; resolves once it runs. */
  static async start(lab: Lab, host: string, url: string, opts: ProbeOptions = {}): Promise<HttpProbe> {
    const argv = [
      process.execPath,
      PROBE_SCRIPT,
      url,
      String(opts.intervalMs ?? 10),
      String(opts.timeoutMs ?? 1000),
    ];
    const probe = new HttpProbe(new LineLog(lab.spawn(host, argv)), url);
    await probe.log.waitFor(/^ready$/, { timeoutMs: 15_000 });
    return probe;
  }

  /** Results received so far, in completion order. */
  results(): ProbeResult[] {
    for (; this.scanned < this.log.lines.length; this.scanned++) {
      const r = parseProbeLine(this.log.lines[this.scanned]!.text);
      if (r) this.parsed.push(r);
    }
    return this.parsed;
  }

  /**
   * Resolves with the first successful response that started after `after` (default: any) and,
   * when `body` is given, came from that server.
   */
  async waitForSuccess(
    opts: { after?: number; body?: string; timeoutMs?: number } = {},
  ): Promise<ProbeResult> {
    const after = opts.after ?? 0;
    const line = await this.log.waitFor(
      (l) => {
        const r = parseProbeLine(l.text);
        return r?.ok === true && r.start >= after && (opts.body === undefined || r.what === opts.body);
      },
      { timeoutMs: opts.timeoutMs ?? 30_000 },
    );
    return parseProbeLine(line.text)!;
  }

  /**
   * Resolves once `count` consecutive requests, started after `after`, succeeded (from `body`
   * when given): the service is steadily reachable.
   */
  async waitForSteady(
    opts: { after?: number; body?: string; count?: number; timeoutMs?: number } = {},
  ): Promise<void> {
    const after = opts.after ?? nowMs();
    const count = opts.count ?? 10;
    let run = 0;
    await this.log.waitFor(
      (l) => {
        const r = parseProbeLine(l.text);
        if (r === undefined || r.start < after) return false;
        run = r.ok && (opts.body === undefined || r.what === opts.body) ? run + 1 : 0;
        return run >= count;
      },
      { timeoutMs: opts.timeoutMs ?? 30_000 },
    );
  }

  /** Stops the probe (it lets requests in flight finish) and returns every result. */
  async stop(): Promise<ProbeResult[]> {
    const proc = this.log.proc;
    if (proc.running) {
      const status = await proc.stop(5000);
      if (status.code !== 0) {
        throw new VipdError("LAB_PROBE_FAILED", `the HTTP probe exited ${status.code ?? status.signal}`, {
          output: this.log.text(Math.max(0, this.log.lines.length - 20)),
        });
      }
    }
    await new Promise((r) => setTimeout(r, 60)); // LineLog drains the pipes after exit
    return this.results();
  }
}

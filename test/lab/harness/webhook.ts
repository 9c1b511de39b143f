/**
 * A webhook receiver (test/lab/fixtures/webhook-receiver.mjs) running in a lab namespace, and the
 * requests it recorded, with the raw bodies as received (for signature checks).
 *
 *   const rx = await WebhookReceiver.start(lab, "cl", 8080);
 *   ... // directors post to http://10.77.0.10:8080/hook
 *   await rx.waitForCount((r) => r.json.node === "d1", 3);
 */
import { fileURLToPath } from "node:url";
import { LineLog } from "./lines.js";
import type { ExitStatus, Lab } from "./netns.js";
import { parseLogLine } from "./vipd.js";

const RECEIVER_SCRIPT = fileURLToPath(new URL("../fixtures/webhook-receiver.mjs", import.meta.url));

export interface WebhookRequest {
  /** Arrival (epoch ms). */
  at: number;
  method: string;
  url: string;
  /** Lower-case header names, as node:http gives them. */
  headers: Record<string, string | string[] | undefined>;
  /** The body exactly as received. */
  raw: string;
  /** The body parsed as JSON (undefined if it is not JSON). */
  json: Record<string, unknown> | undefined;
}

/** The request a receiver output line records, if it is one. */
export function requestOf(text: string): WebhookRequest | undefined {
  const rec = parseLogLine(text);
  if (!rec || typeof rec.body64 !== "string") return undefined;
  const raw = Buffer.from(rec.body64, "base64").toString("utf8");
  let json: Record<string, unknown> | undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    json =
      v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return {
    at: Number(rec.at),
    method: String(rec.method),
    url: String(rec.url),
    headers: rec.headers as WebhookRequest["headers"],
    raw,
    json,
  };
}

export class WebhookReceiver {
  readonly log: LineLog;
  readonly port: number;

  private constructor(log: LineLog, port: number) {
    this.log = log;
    this.port = port;
  }

  /** Starts the receiver; with `hang` it records requests but never answers them. */
  static async start(
    lab: Lab,
    host: string,
    port: number,
    opts: { hang?: boolean } = {},
  ): Promise<WebhookReceiver> {
    const argv = [
      process.execPath,
      RECEIVER_SCRIPT,
      String(port),
      "0.0.0.0",
      ...(opts.hang ? ["--hang"] : []),
    ];
    const rx = new WebhookReceiver(new LineLog(lab.spawn(host, argv)), port);
    await rx.log.waitFor(/^listening/, { timeoutMs: 15_000 });
    return rx;
  }

  /** Every request recorded so far, in arrival order. */
  requests(): WebhookRequest[] {
    return this.log.lines.map((l) => requestOf(l.text)).filter((r): r is WebhookRequest => r !== undefined);
  }

  /** Resolves once `count` requests matching `pred` have arrived. */
  async waitForCount(pred: (r: WebhookRequest) => boolean, count: number, timeoutMs = 30_000): Promise<void> {
    let seen = 0;
    await this.log.waitFor(
      (line) => {
        const req = requestOf(line.text);
        if (req !== undefined && pred(req)) seen++;
        return seen >= count;
      },
      { timeoutMs },
    );
  }

  stop(): Promise<ExitStatus> {
    return this.log.proc.stop(2000);
  }
}

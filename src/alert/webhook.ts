import { readFileSync } from "node:fs";
import { setTimeout as sleepTimer } from "node:timers/promises";
import { Agent, type Dispatcher, request } from "undici";
import { describeError, VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import {
  type EventType,
  isEventType,
  SIGNATURE_HEADER,
  serializeEvent,
  signBody,
  type VipdEvent,
} from "./events.js";

/**
 * Webhook delivery [adapter].
 *
 * One `WebhookSender` per configured webhook, each with its own bounded queue and a single
 * delivery loop, so one dead or slow receiver never delays another nor the caller:
 *
 * - `send(event)` is synchronous, O(1) and never throws. It only enqueues; the loop starts on
 *   a later microtask, so no network I/O happens inside `send`.
 * - Strict order: one request in flight at a time; the head is retried until it is delivered
 *   or given up before anything after it is sent.
 * - Outcomes: 2xx delivered. 408, 429, 5xx, connection errors and timeouts are retried with
 *   exponential backoff and full jitter (or after `Retry-After`, capped), `retries` times,
 *   then the event is given up (counted `failed`). Any other status (3xx: redirects are not
 *   followed; 4xx) is a permanent failure: counted `failed`, not retried.
 * - The queue holds at most `queueSize` events *waiting*; the one in flight (including while it
 *   waits for a retry) is not in the queue. When full, the oldest waiting event is dropped.
 *   Drops are counted in `dropped` and logged at most once per `dropLogIntervalMs` (first drop
 *   at once, later ones summed into the next line).
 * - `close({drainMs})` stops accepting, lets the loop flush for up to drainMs, then aborts the
 *   in-flight request and any backoff wait, drops what is left (counted `dropped`) and destroys
 *   its own undici Agent. Events sent after close are ignored and counted in `dropped`.
 */

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  jitter: boolean;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  baseMs: 500,
  maxMs: 30_000,
  jitter: true,
});

export const WEBHOOK_DEFAULTS = Object.freeze({
  timeoutMs: 5_000,
  retries: 5,
  queueSize: 1_000,
  maxRetryAfterMs: 60_000,
  dropLogIntervalMs: 60_000,
  drainMs: 5_000,
});

/**
 * Delay before retry number `retry` (1 = the first retry). Without jitter:
 * min(maxMs, baseMs·2^(retry−1)). With jitter ("full jitter"): uniform in [0, that], drawn
 * from `random` (which returns [0, 1) like Math.random).
 */
export function backoffDelay(
  retry: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(retry));
  const ceiling = Math.max(0, Math.min(options.maxMs, options.baseMs * 2 ** Math.min(n - 1, 62)));
  if (!options.jitter) return ceiling;
  return Math.min(ceiling, Math.floor(random() * (ceiling + 1)));
}

/**
 * `Retry-After` in milliseconds from now: delta-seconds or an HTTP-date. Undefined when
 * absent or unparsable; a date in the past gives 0.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  nowMs: number,
): number | undefined {
  const raw = typeof value === "string" ? value : value?.[0];
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined; // "-5", "1.5": not a delta-seconds nor a date
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

export type StatusClass = "delivered" | "retry" | "permanent";

/** 2xx delivered; 408, 429 and 5xx retried; everything else (3xx, other 4xx) permanent. */
export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status < 300) return "delivered";
  if (status === 408 || status === 429 || status >= 500) return "retry";
  return "permanent";
}

/** Reads a webhook secret file, trimmed. Throws ALERT_SECRET_UNREADABLE / ALERT_SECRET_EMPTY naming the file. */
export function loadSecret(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new VipdError(
      "ALERT_SECRET_UNREADABLE",
      `cannot read webhook secret file ${path}: ${describeError(err)}`,
      { path },
      { cause: err },
    );
  }
  const secret = text.trim();
  if (secret === "") {
    throw new VipdError("ALERT_SECRET_EMPTY", `webhook secret file ${path} is empty`, { path });
  }
  return secret;
}

let cachedVersion: string | undefined;

/** vipd's version from package.json (two levels up from both src/alert and dist/alert); "0.0.0" if unreadable. */
export function vipdVersion(): string {
  if (cachedVersion === undefined) {
    cachedVersion = "0.0.0";
    try {
      const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === "vipd" && typeof pkg.version === "string") cachedVersion = pkg.version;
    } catch {
      // keep the fallback
    }
  }
  return cachedVersion;
}

/** The URL as logs may show it: scheme and host only (paths and query strings often carry tokens). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return "<invalid url>";
  }
}

export type SleepFn = (ms: number, signal: AbortSignal) => Promise<void>;

const defaultSleep: SleepFn = (ms, signal) => sleepTimer(ms, undefined, { signal }).catch(() => undefined);

export interface WebhookSenderOptions {
  url: string;
  /** A label for logs and stats; default the URL's scheme and host. */
  name?: string;
  /** Event types to send; default all. An empty list sends nothing. */
  events?: readonly EventType[];
  /** HMAC key; when set, every request carries `X-Vipd-Signature: sha256=<hex>`. See `loadSecret`. */
  secret?: string | undefined;
  /** Per attempt, whole request (connect, headers, body). Default 5000. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 5 (so at most 6 attempts). */
  retries?: number;
  backoff?: Partial<BackoffOptions>;
  /** Cap on a receiver's Retry-After. Default 60000. */
  maxRetryAfterMs?: number;
  /** Events waiting (not counting the one in flight). Default 1000. */
  queueSize?: number;
  /** undici dispatcher to use (not closed by `close`). Default: a private Agent, destroyed by `close`. */
  dispatcher?: Dispatcher;
  /** Default `vipd/<version>`. */
  userAgent?: string;
  logger?: Logger;
  /** Wall clock (ms since epoch) for lastDeliveredAt, Retry-After dates and the drop log limiter. */
  now?: () => number;
  /** Backoff wait; must settle (resolve or reject) when `signal` aborts. */
  sleep?: SleepFn;
  /** [0, 1) source for jitter. */
  random?: () => number;
  /** At most one "dropped" log line per interval. Default 60000. */
  dropLogIntervalMs?: number;
}

export interface WebhookStats {
  /** Events waiting in the queue (excluding the one in flight). */
  queued: number;
  /** 1 while an event is being sent or waits for its retry, else 0. */
  inFlight: number;
  delivered: number;
  /** Given up after trying: permanent failure, or retries exhausted. */
  failed: number;
  /** Never delivered nor given up by a response: queue overflow, sent after close, cut off by close. */
  dropped: number;
  /** Attempts beyond the first, over all events. */
  retries: number;
  lastError?: string;
  lastErrorAt?: string;
  lastDeliveredAt?: string;
}

type AttemptResult =
  | { kind: "delivered"; status: number }
  | { kind: "permanent"; error: string }
  | { kind: "retry"; error: string; retryAfterMs?: number }
  | { kind: "aborted" };

/** Fixed-capacity FIFO; pushing into a full one evicts and returns the oldest. */
class Ring<T> {
  private readonly buf: (T | undefined)[];
  private head = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array<T | undefined>(capacity);
  }

  push(value: T): T | undefined {
    let evicted: T | undefined;
    if (this.size === this.capacity) evicted = this.shift();
    this.buf[(this.head + this.size) % this.capacity] = value;
    this.size += 1;
    return evicted;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const value = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size -= 1;
    return value;
  }

  clear(): number {
    const n = this.size;
    while (this.size > 0) this.shift();
    return n;
  }
}

function positiveInt(value: number, what: string, url: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new VipdError(
      "ALERT_CONFIG_INVALID",
      `webhook ${redactUrl(url)}: ${what} must be an integer >= ${min}`,
      {
        url: redactUrl(url),
        [what]: value,
      },
    );
  }
  return value;
}

export class WebhookSender {
  readonly url: string;
  readonly name: string;
  private readonly filter: ReadonlySet<EventType> | undefined;
  private readonly secret: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoff: BackoffOptions;
  private readonly maxRetryAfterMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly userAgent: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly sleep: SleepFn;
  private readonly random: () => number;
  private readonly dropLogIntervalMs: number;

  private readonly queue: Ring<VipdEvent>;
  private inFlight: VipdEvent | undefined;
  private loop: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Aborted by close() when the drain time is up: cuts the in-flight request and backoff waits. */
  private readonly stop = new AbortController();

  private counters = { delivered: 0, failed: 0, dropped: 0, retries: 0 };
  private lastError: string | undefined;
  private lastErrorAt: string | undefined;
  private lastDeliveredAt: string | undefined;
  private dropsUnlogged: Record<string, number> = {};
  private lastDropLogAt = Number.NEGATIVE_INFINITY;

  constructor(options: WebhookSenderOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch (err) {
      throw new VipdError(
        "ALERT_CONFIG_INVALID",
        `webhook url is not a valid URL: ${redactUrl(options.url)}`,
        {},
        { cause: err },
      );
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new VipdError(
        "ALERT_CONFIG_INVALID",
        `webhook url must be http or https: ${redactUrl(options.url)}`,
        {
          url: redactUrl(options.url),
        },
      );
    }
    this.url = options.url;
    this.name = options.name ?? redactUrl(options.url);
    if (options.events !== undefined) {
      const bad = options.events.filter((e) => !isEventType(e));
      if (bad.length > 0) {
        throw new VipdError(
          "ALERT_CONFIG_INVALID",
          `webhook ${this.name}: unknown event type(s) ${bad.join(", ")}`,
          {
            url: redactUrl(options.url),
            events: bad,
          },
        );
      }
      this.filter = new Set(options.events);
    }
    this.secret = options.secret;
    this.timeoutMs = positiveInt(
      options.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs,
      "timeoutMs",
      options.url,
      1,
    );
    this.maxRetries = positiveInt(options.retries ?? WEBHOOK_DEFAULTS.retries, "retries", options.url, 0);
    this.queue = new Ring(
      positiveInt(options.queueSize ?? WEBHOOK_DEFAULTS.queueSize, "queueSize", options.url, 1),
    );
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? WEBHOOK_DEFAULTS.maxRetryAfterMs;
    this.dropLogIntervalMs = options.dropLogIntervalMs ?? WEBHOOK_DEFAULTS.dropLogIntervalMs;
    this.userAgent = options.userAgent ?? `vipd/${vipdVersion()}`;
    const bindings = { webhook: this.name };
    this.log = options.logger ? options.logger.child(bindings) : childLogger("alert", bindings);
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    if (options.dispatcher) {
      this.dispatcher = options.dispatcher;
      this.ownsDispatcher = false;
    } else {
      this.dispatcher = new Agent({ connect: { timeout: this.timeoutMs } });
      this.ownsDispatcher = true;
    }
  }

  /** True when this sender would send events of this type. */
  accepts(type: EventType): boolean {
    return this.filter === undefined || this.filter.has(type);
  }

  /**
   * Enqueue an event. Synchronous, O(1), never throws, never does I/O. Returns true when the
   * event was queued; false when filtered out (not counted) or after close (counted dropped).
   */
  send(event: VipdEvent): boolean {
    try {
      if (!this.accepts(event.event)) return false;
      if (this.closed) {
        this.countDrop(1, "closed");
        return false;
      }
      if (this.queue.push(event) !== undefined) this.countDrop(1, "queue_full");
      this.kick();
      return true;
    } catch (err) {
      try {
        this.log.error({ err }, "alert enqueue failed");
      } catch {
        // never throw from send
      }
      return false;
    }
  }

  stats(): WebhookStats {
    const s: WebhookStats = {
      queued: this.queue.size,
      inFlight: this.inFlight ? 1 : 0,
      ...this.counters,
    };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    if (this.lastErrorAt !== undefined) s.lastErrorAt = this.lastErrorAt;
    if (this.lastDeliveredAt !== undefined) s.lastDeliveredAt = this.lastDeliveredAt;
    return s;
  }

  /** Resolves when nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    const loop = this.loop;
    if (!loop) return Promise.resolve();
    return loop.then(() => this.whenIdle());
  }

  /**
   * Stop accepting, flush for up to `drainMs` (default 5000), then abort what is in flight and
   * drop the rest. Leaves no timers or sockets behind. Idempotent.
   */
  close(options: { drainMs?: number } = {}): Promise<void> {
    if (!this.closing) this.closing = this.shutdown(options.drainMs ?? WEBHOOK_DEFAULTS.drainMs);
    return this.closing;
  }

  private async shutdown(drainMs: number): Promise<void> {
    this.closed = true;
    if (this.loop) {
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        this.whenIdle().then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), Math.max(0, drainMs));
        }),
      ]);
      clearTimeout(timer);
      if (!drained) {
        this.stop.abort(
          new VipdError("ALERT_SENDER_CLOSED", "webhook sender closed", { webhook: this.name }),
        );
        await this.whenIdle();
      }
    }
    const left = this.queue.clear();
    if (left > 0) this.countDrop(left, "closed");
    if (!this.stop.signal.aborted) this.stop.abort();
    this.flushDropLog();
    if (this.ownsDispatcher) {
      try {
        await this.dispatcher.destroy();
      } catch (err) {
        this.log.debug({ err }, "closing webhook agent");
      }
    }
  }

  private kick(): void {
    if (this.loop) return;
    // Start on a later microtask: send() itself never reaches the network.
    this.loop = Promise.resolve().then(() => this.run());
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        if (this.stop.signal.aborted) break;
        const event = this.queue.shift();
        if (event === undefined) break;
        this.inFlight = event;
        try {
          await this.deliver(event);
        } catch (err) {
          // deliver() handles every expected failure; this is a bug, but must not kill the loop.
          this.counters.failed += 1;
          this.noteError(describeError(err));
          this.log.error({ err, id: event.id }, "alert delivery crashed");
        }
        this.inFlight = undefined;
        if (this.now() - this.lastDropLogAt >= this.dropLogIntervalMs) this.flushDropLog();
      }
    } finally {
      this.inFlight = undefined;
      this.loop = undefined;
    }
  }

  private async deliver(event: VipdEvent): Promise<void> {
    const body = serializeEvent(event);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": this.userAgent,
      "x-vipd-event": event.event,
      "x-vipd-delivery": event.id,
    };
    if (this.secret !== undefined) headers[SIGNATURE_HEADER] = signBody(body, this.secret);
    const ctx = { id: event.id, event: event.event };

    for (let attempt = 1; ; attempt++) {
      if (this.stop.signal.aborted) {
        this.countDrop(1, "closed");
        return;
      }
      const result = await this.attempt(body, { ...headers, "x-vipd-attempt": String(attempt) });
      switch (result.kind) {
        case "delivered":
          this.counters.delivered += 1;
          this.lastDeliveredAt = new Date(this.now()).toISOString();
          this.log.debug({ ...ctx, attempt, status: result.status }, "alert delivered");
          return;
        case "aborted":
          this.countDrop(1, "closed");
          return;
        case "permanent":
          this.counters.failed += 1;
          this.noteError(result.error);
          this.log.warn({ ...ctx, attempt, error: result.error }, "alert rejected by webhook; not retrying");
          return;
        case "retry": {
          this.noteError(result.error);
          if (attempt > this.maxRetries) {
            this.counters.failed += 1;
            this.log.warn(
              { ...ctx, attempts: attempt, error: result.error },
              "alert not delivered; giving up",
            );
            return;
          }
          const wait =
            result.retryAfterMs !== undefined
              ? Math.min(result.retryAfterMs, this.maxRetryAfterMs)
              : backoffDelay(attempt, this.backoff, this.random);
          this.log.debug(
            { ...ctx, attempt, error: result.error, retryInMs: wait },
            "alert delivery failed; retrying",
          );
          try {
            await this.sleep(wait, this.stop.signal);
          } catch {
            // an aborted sleep may reject; the check at the top of the loop decides
          }
          if (!this.stop.signal.aborted) this.counters.retries += 1;
        }
      }
    }
  }

  private async attempt(body: string, headers: Record<string, string>): Promise<AttemptResult> {
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(
        new VipdError("ALERT_WEBHOOK_TIMEOUT", `no response within ${this.timeoutMs}ms`, {
          webhook: this.name,
        }),
      );
    }, this.timeoutMs);
    const onStop = () => ac.abort(this.stop.signal.reason);
    this.stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      const res = await request(this.url, {
        method: "POST",
        headers,
        body,
        dispatcher: this.dispatcher,
        signal: ac.signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      try {
        await res.body.dump();
      } catch {
        // the status is what counts; an unreadable body does not change it
      }
      const status = res.statusCode;
      switch (classifyStatus(status)) {
        case "delivered":
          return { kind: "delivered", status };
        case "permanent":
          return { kind: "permanent", error: `HTTP ${status}` };
        case "retry": {
          const retryAfterMs = parseRetryAfter(res.headers["retry-after"], this.now());
          return retryAfterMs === undefined
            ? { kind: "retry", error: `HTTP ${status}` }
            : { kind: "retry", error: `HTTP ${status}`, retryAfterMs };
        }
      }
    } catch (err) {
      if (this.stop.signal.aborted) return { kind: "aborted" };
      if (timedOut) return { kind: "retry", error: `timeout: no response within ${this.timeoutMs}ms` };
      return { kind: "retry", error: describeError(err) };
    } finally {
      clearTimeout(timer);
      this.stop.signal.removeEventListener("abort", onStop);
    }
  }

  private noteError(error: string): void {
    this.lastError = error;
    this.lastErrorAt = new Date(this.now()).toISOString();
  }

  private countDrop(n: number, reason: "queue_full" | "closed"): void {
    this.counters.dropped += n;
    this.dropsUnlogged[reason] = (this.dropsUnlogged[reason] ?? 0) + n;
    if (this.now() - this.lastDropLogAt >= this.dropLogIntervalMs) this.flushDropLog();
  }

  /** One warning for all drops not yet logged. */
  private flushDropLog(): void {
    const byReason = this.dropsUnlogged;
    const count = Object.values(byReason).reduce((a, b) => a + b, 0);
    if (count === 0) return;
    this.dropsUnlogged = {};
    this.lastDropLogAt = this.now();
    this.log.warn(
      { dropped: count, byReason, droppedTotal: this.counters.dropped, queueSize: this.queue.capacity },
      "alert events dropped",
    );
  }
}

/** One entry of `alerts.webhooks` in the config. */
export interface WebhookConfig {
  url: string;
  name?: string;
  events?: readonly string[];
  /** Read with `loadSecret` when `secret` is not given. */
  secret_file?: string;
  secret?: string;
  timeoutMs?: number;
  retries?: number;
  queueSize?: number;
  backoff?: Partial<BackoffOptions>;
}

/** Options shared by every sender of an `Alerts` (injection points, mostly for tests). */
export type SharedSenderOptions = Pick<
  WebhookSenderOptions,
  "dispatcher" | "logger" | "now" | "sleep" | "random" | "userAgent" | "maxRetryAfterMs" | "dropLogIntervalMs"
>;

export interface AlertsStatsEntry extends WebhookStats {
  name: string;
}

/** Fans each event out to every webhook; each has its own queue and loop. */
export class Alerts {
  readonly senders: readonly WebhookSender[];

  constructor(senders: readonly WebhookSender[]) {
    this.senders = senders;
  }

  /** Builds the senders (reading secret files). Throws a VipdError on a bad entry; nothing is left open. */
  static fromConfig(webhooks: readonly WebhookConfig[], shared: SharedSenderOptions = {}): Alerts {
    const senders: WebhookSender[] = [];
    try {
      for (const w of webhooks) {
        const events = w.events?.map((e) => {
          if (!isEventType(e)) {
            throw new VipdError(
              "ALERT_CONFIG_INVALID",
              `webhook ${redactUrl(w.url)}: unknown event type ${e}`,
              {
                url: redactUrl(w.url),
                event: e,
              },
            );
          }
          return e;
        });
        const secret = w.secret ?? (w.secret_file !== undefined ? loadSecret(w.secret_file) : undefined);
        const options: WebhookSenderOptions = { ...shared, url: w.url, secret };
        if (w.name !== undefined) options.name = w.name;
        if (events !== undefined) options.events = events;
        if (w.timeoutMs !== undefined) options.timeoutMs = w.timeoutMs;
        if (w.retries !== undefined) options.retries = w.retries;
        if (w.queueSize !== undefined) options.queueSize = w.queueSize;
        if (w.backoff !== undefined) options.backoff = w.backoff;
        senders.push(new WebhookSender(options));
      }
    } catch (err) {
      for (const s of senders) void s.close({ drainMs: 0 });
      throw err;
    }
    return new Alerts(senders);
  }

  /** Synchronous; never throws; O(number of webhooks). */
  emit(event: VipdEvent): void {
    for (const sender of this.senders) sender.send(event);
  }

  stats(): AlertsStatsEntry[] {
    return this.senders.map((s) => ({ name: s.name, ...s.stats() }));
  }

  whenIdle(): Promise<void> {
    return Promise.all(this.senders.map((s) => s.whenIdle())).then(() => undefined);
  }

  /** Closes every sender in parallel, each with the same drain budget. */
  close(options: { drainMs?: number } = {}): Promise<void> {
    return Promise.all(this.senders.map((s) => s.close(options))).then(() => undefined);
  }
}

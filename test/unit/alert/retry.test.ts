import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  backoffDelay,
  classifyStatus,
  DEFAULT_BACKOFF,
  loadSecret,
  parseRetryAfter,
  redactUrl,
  vipdVersion,
  WebhookSender,
} from "../../../src/alert/webhook.js";
import { VipdError } from "../../../src/errors.js";

describe("backoffDelay", () => {
  it("doubles from baseMs and stops at maxMs without jitter", () => {
    const noJitter = { ...DEFAULT_BACKOFF, jitter: false };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100, 5000].map((n) => backoffDelay(n, noJitter))).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000,
    ]);
  });

  it("draws full jitter from the injected random: 0 → 0, just under 1 → the ceiling", () => {
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0)).toBe(0);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.5)).toBe(1000);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.9999999)).toBe(2000);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 0.9999999)).toBe(30000);
    // a random source that misbehaves (returns 1) still stays within the bound
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 1)).toBe(500);
  });

  it("stays within [0, min(max, base·2^(n−1))] for any retry number and random draw (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retry, baseMs, extra, r) => {
          const maxMs = baseMs + extra;
          const d = backoffDelay(retry, { baseMs, maxMs, jitter: true }, () => r);
          const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(retry - 1, 62));
          expect(Number.isInteger(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(ceiling);
          expect(backoffDelay(retry, { baseMs, maxMs, jitter: false })).toBe(ceiling);
        },
      ),
    );
  });

  it("is monotonic in the random draw for a fixed retry number (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retry, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(backoffDelay(retry, DEFAULT_BACKOFF, () => lo)).toBeLessThanOrEqual(
            backoffDelay(retry, DEFAULT_BACKOFF, () => hi),
          );
        },
      ),
    );
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2024-01-01T00:00:00Z");
  it("reads delta-seconds", () => {
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter(["3", "9"], now)).toBe(3000);
  });
  it("reads an HTTP-date relative to the injected clock; the past gives 0", () => {
    expect(parseRetryAfter("Mon, 01 Jan 2024 00:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Sun, 31 Dec 2023 23:59:00 GMT", now)).toBe(0);
  });
  it("ignores absent or garbage values", () => {
    for (const v of [undefined, "", "soon", "-5", "1.5", "5s"])
      expect(parseRetryAfter(v, now)).toBeUndefined();
  });
});

describe("classifyStatus", () => {
  it("2xx delivered; 408, 429, 5xx retried; other 4xx and 3xx permanent", () => {
    expect([200, 201, 202, 204, 299].map(classifyStatus)).toEqual(Array(5).fill("delivered"));
    expect([408, 429, 500, 502, 503, 504, 599].map(classifyStatus)).toEqual(Array(7).fill("retry"));
    expect([301, 302, 307, 400, 401, 403, 404, 405, 410, 413, 422].map(classifyStatus)).toEqual(
      Array(11).fill("permanent"),
    );
  });
});

describe("loadSecret", () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-alert-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads and trims the file", () => {
    const path = join(dir, "ok.secret");
    writeFileSync(path, "  s3cr3t-value\n\n");
    expect(loadSecret(path)).toBe("s3cr3t-value");
  });

  it("fails with ALERT_SECRET_UNREADABLE naming the file", () => {
    const path = join(dir, "missing.secret");
    let caught: unknown;
    try {
      loadSecret(path);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(VipdError);
    const e = caught as VipdError;
    expect(e.code).toBe("ALERT_SECRET_UNREADABLE");
    expect(e.message).toContain(path);
    expect(e.message).toContain("ENOENT");
    expect(e.context).toEqual({ path });
  });

  it("refuses an empty (whitespace-only) file with ALERT_SECRET_EMPTY", () => {
    const path = join(dir, "empty.secret");
    writeFileSync(path, " \n");
    expect(() => loadSecret(path)).toThrow(expect.objectContaining({ code: "ALERT_SECRET_EMPTY" }));
  });
});

describe("WebhookSender options", () => {
  it.each([
    [{ url: "not a url" }, "ALERT_CONFIG_INVALID"],
    [{ url: "ftp://example.invalid/x" }, "ALERT_CONFIG_INVALID"],
    [{ url: "http://127.0.0.1:1/x", queueSize: 0 }, "ALERT_CONFIG_INVALID"],
    [{ url: "http://127.0.0.1:1/x", retries: -1 }, "ALERT_CONFIG_INVALID"],
    [{ url: "http://127.0.0.1:1/x", timeoutMs: 0 }, "ALERT_CONFIG_INVALID"],
  ])("rejects %o", (options, code) => {
    expect(() => new WebhookSender(options)).toThrow(expect.objectContaining({ code }));
  });

  it("rejects unknown event types in the filter", () => {
    expect(
      () =>
        new WebhookSender({ url: "http://127.0.0.1:1/x", events: ["vrrp.state", "nope" as "vrrp.state"] }),
    ).toThrow(expect.objectContaining({ code: "ALERT_CONFIG_INVALID" }));
  });

  it("logs only scheme and host of a URL", () => {
    expect(redactUrl("https://hooks.example.com/services/T000/B000/XXXX?token=abc")).toBe(
      "https://hooks.example.com",
    );
  });

  it("knows vipd's version for the user agent", () => {
    expect(vipdVersion()).toMatch(/^\d+\.\d+\.\d+/);
    expect(vipdVersion()).not.toBe("0.0.0");
  });
});

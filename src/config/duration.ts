const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+)(?:\.(\d{1,9}))?(ms|s|m|h)/y;

export type DurationResult = { ok: true; ms: number } | { ok: false; reason: string };

/**
 * Parses `100ms`, `1s`, `1.5s`, `5m`, `1h`, or a sum such as `1m30s`, into whole milliseconds.
 * Exact: `1.1s` is 1100, and a value that is not a whole number of milliseconds (`1.0005s`) is rejected.
 */
export function parseDuration(text: string): DurationResult {
  const invalid = {
    ok: false as const,
    reason: `invalid duration '${text}' (expected a number and a unit: ms, s, m or h, e.g. '100ms', '1.5s', '5m', '1m30s')`,
  };
  if (text.length === 0) return invalid;
  let ms = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (match === null) return invalid;
    const [, whole = "0", fraction = "", unit = "ms"] = match;
    const scale = UNIT_MS[unit] ?? 1;
    const fractionNumerator = fraction === "" ? 0 : Number(fraction) * scale;
    const fractionDenominator = 10 ** fraction.length;
    if (fractionNumerator % fractionDenominator !== 0) {
      return { ok: false, reason: `duration '${text}' is not a whole number of milliseconds` };
    }
    ms += Number(whole) * scale + fractionNumerator / fractionDenominator;
  }
  if (!Number.isSafeInteger(ms)) return { ok: false, reason: `duration '${text}' is too large` };
  return { ok: true, ms };
}

/** Renders milliseconds the way a user would write them: `100ms`, `1s`, `1.5s`, `40.95s`, `5m`, `2h`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 || ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

import { type LevelWithSilent, type Logger, pino } from "pino";

export type { Logger };

/**
 * One process-wide pino logger writing JSON to stdout; modules take children of it
 * (`childLogger("vrrp", { instance: "web" })`) so every line says where it came from.
 */
let root: Logger = pino({
  level: process.env.VIPD_LOG_LEVEL ?? "info",
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});

export function rootLogger(): Logger {
  return root;
}

/** Replace the root logger (tests pass a silent or capturing logger; the daemon sets its level from config). */
export function setRootLogger(logger: Logger): void {
  root = logger;
}

export function setLogLevel(level: LevelWithSilent): void {
  root.level = level;
}

export function childLogger(module: string, bindings: Record<string, unknown> = {}): Logger {
  return root.child({ module, ...bindings });
}

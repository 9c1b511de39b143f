import { readFileSync } from "node:fs";
import os from "node:os";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { setThreadNice } from "../../../src/sys/thread-priority.js";

const TS_LOADER = new URL("../../lab/fixtures/ts-loader.mjs", import.meta.url).href;
const MODULE = new URL("../../../src/sys/thread-priority.ts", import.meta.url).href;

/** A thread's nice value as the kernel reports it (field 19 of /proc/<pid>/task/<tid>/stat). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; count fields from the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[16]);
}

describe("setThreadNice", () => {
  it("lowers only the calling thread's priority", async () => {
    const before = os.getPriority(process.pid);
    // The thread stays alive (listening on its port) until terminated, so that its /proc entry
    // is still there when it is read: a thread that ends after posting can be gone by then.
    const worker = new Worker(
      `import(${JSON.stringify(TS_LOADER)})
        .then(() => import(${JSON.stringify(MODULE)}))
        .then((m) => {
          const { parentPort } = require("node:worker_threads");
          parentPort.on("message", () => {});
          parentPort.postMessage(m.setThreadNice(${before + 3}));
        })`,
      { eval: true },
    );
    try {
      const result = await new Promise<ReturnType<typeof setThreadNice>>((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      });
      expect(result).toMatchObject({ ok: true, nice: before + 3 });
      if (!result.ok) return;
      expect(result.tid).not.toBe(process.pid);
      expect(niceOf(result.tid)).toBe(before + 3);
      // The process's main thread (this one) keeps its priority.
      expect(niceOf(process.pid)).toBe(before);
    } finally {
      await worker.terminate();
    }
  });

  it("says why when the value is out of range", () => {
    const result = setThreadNice(99);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/^setpriority\(\d+, 99\): E/);
    expect(os.getPriority(process.pid)).toBe(niceOf(process.pid));
  });
});

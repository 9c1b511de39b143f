/**
 * The calling thread's scheduling priority. Linux keeps a nice value per thread, and
 * setpriority(PRIO_PROCESS, tid) (libuv's uv_os_setpriority, Node's os.setPriority) changes only
 * the thread with that id. Raising one's own nice value needs no privilege, so the health worker
 * can always step behind the VRRP worker and the main thread when the cores are busy.
 */
import { readlinkSync } from "node:fs";
import os from "node:os";

export type ThreadPriorityResult = { ok: true; tid: number; nice: number } | { ok: false; reason: string };

/** Sets this thread's nice value (-20..19); says why it could not. */
export function setThreadNice(nice: number): ThreadPriorityResult {
  let tid: number;
  try {
    // "<pid>/task/<tid>": the kernel's name for the calling thread.
    tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  } catch (err) {
    return {
      ok: false,
      reason: `cannot read /proc/thread-self: ${(err as NodeJS.ErrnoException).code ?? err}`,
    };
  }
  if (!Number.isInteger(tid) || tid <= 0) return { ok: false, reason: "cannot tell this thread's id" };
  try {
    os.setPriority(tid, nice);
    return { ok: true, tid, nice: os.getPriority(tid) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { info?: { code?: string } };
    return { ok: false, reason: `setpriority(${tid}, ${nice}): ${e.info?.code ?? e.code ?? e.message}` };
  }
}

/**
 * Small file primitives for tracked files (src/engine/vrrp-tracking.ts): a synchronous read that
 * tells a missing file apart, and a watch that survives the file being absent, replaced or
 * deleted — it watches the directory, since a watch on the file itself ends when the file is
 * replaced (a `mv` into place is how tools write files atomically).
 */
import { readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";

/** The file's text (at most 4 KiB are read: a number is all it holds), or undefined when absent. */
export function readTextIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").slice(0, 4096);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Calls `onChange` when anything happens to `path`. Best effort: when the directory cannot be
 * watched (it does not exist, or no inotify watch is left) it returns a no-op, and the caller's
 * polling is what remains.
 */
export function watchPath(path: string, onChange: () => void): () => void {
  const name = basename(path);
  try {
    const watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      if (file === null || file === name) onChange();
    });
    watcher.on("error", () => watcher.close());
    return () => watcher.close();
  } catch {
    return () => {};
  }
}

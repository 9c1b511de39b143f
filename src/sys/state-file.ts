/**
 * Small state files that must survive a crash whole: written to a temporary file in the same
 * directory, flushed, then renamed over the old one, so a reader (or vipd after kill -9) sees
 * the old file or the new one, never half of either.
 */
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { VipdError } from "../errors.js";

export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o750 });
    const handle = await open(tmp, "w", 0o640);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new VipdError(
      "STATE_WRITE_FAILED",
      `cannot write ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
}

/** The file's text, or undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new VipdError(
      "STATE_READ_FAILED",
      `cannot read ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
}

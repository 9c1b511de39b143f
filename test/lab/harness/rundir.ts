/**
 * Per-run scratch directories (configs, pid files, sockets, secrets) for lab daemons. Each is a
 * fresh mkdtemp directory, removed by {@link RunDir.remove} and, as a last resort, on process
 * exit or a terminating signal.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onProcessExit } from "./proc.js";

export class RunDir {
  readonly path: string;
  private readonly unregister: () => void;
  private removed = false;

  constructor(prefix = "vipd-lab-") {
    this.path = mkdtempSync(join(tmpdir(), prefix));
    const path = this.path;
    this.unregister = onProcessExit(() => rmSync(path, { recursive: true, force: true }));
  }

  /** Absolute path of `name` inside the directory. */
  file(name: string): string {
    return join(this.path, name);
  }

  /** Writes `name` (mode 0600) and returns its path. */
  write(name: string, content: string): string {
    const p = this.file(name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    this.unregister();
    rmSync(this.path, { recursive: true, force: true });
  }
}

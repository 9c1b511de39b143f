/**
 * Line-by-line view of a lab process's output, with arrival times, and waits that only look at
 * lines after a mark (so an old "Entering MASTER STATE" never satisfies a wait for a new one).
 *
 *   const log = new LineLog(lab.spawn("d1", [...]));   // attach right after spawn
 *   const mark = log.mark;
 *   await lab.linkDown("d1");
 *   await log.waitFor(/Entering MASTER STATE/, { from: mark });
 */
import { VipdError } from "../../../src/errors.js";
import type { LabProcess } from "./netns.js";

export interface Line {
  text: string;
  /** Wall-clock arrival time, epoch milliseconds with sub-millisecond precision. */
  at: number;
  stream: "stdout" | "stderr";
}

export interface WaitOptions {
  /** Only lines with this index or later count (a {@link LineLog.mark}); default 0. */
  from?: number;
  /** Default 30 s. */
  timeoutMs?: number;
}

/** Epoch milliseconds with sub-millisecond precision (the same clock in every process). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export class LineLog {
  readonly proc: LabProcess;
  readonly lines: Line[] = [];
  private readonly partial = { stdout: "", stderr: "" };
  private readonly waiters = new Set<() => void>();
  private exited = false;

  constructor(proc: LabProcess) {
    this.proc = proc;
    const attach = (stream: "stdout" | "stderr"): void => {
      const s = stream === "stdout" ? proc.child.stdout : proc.child.stderr;
      s?.on("data", (chunk: string | Buffer) => this.feed(stream, chunk.toString()));
      s?.on("end", () => this.flush(stream));
    };
    attach("stdout");
    attach("stderr");
    void proc.exited.then(() => {
      // The pipes may still hold output when 'exit' fires; give them a turn to drain.
      setTimeout(() => {
        this.flush("stdout");
        this.flush("stderr");
        this.exited = true;
        this.notify();
      }, 50);
    });
  }

  /** The index the next line will get. */
  get mark(): number {
    return this.lines.length;
  }

  /** Lines from `mark` on. */
  since(mark = 0): Line[] {
    return this.lines.slice(mark);
  }

  /** All text so far (for error messages). */
  text(from = 0): string {
    return this.since(from)
      .map((l) => l.text)
      .join("\n");
  }

  /**
   * Resolves with the first line at index ≥ `from` that matches. Rejects with LAB_WAIT_TIMEOUT,
   * or LAB_PROCESS_EXITED when the process ends without printing one.
   */
  waitFor(match: RegExp | ((line: Line) => boolean), opts: WaitOptions = {}): Promise<Line> {
    const from = opts.from ?? 0;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const test = typeof match === "function" ? match : (l: Line) => match.test(l.text);
    const what = typeof match === "function" ? "the expected line" : String(match);
    return new Promise((resolve, reject) => {
      let scanned = from;
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        this.waiters.delete(check);
        if (timer) clearTimeout(timer);
      };
      const fail = (code: string, message: string): void => {
        done();
        reject(
          new VipdError(code, message, {
            host: this.proc.host,
            pid: this.proc.pid,
            output: this.text(Math.max(0, this.lines.length - 40)),
          }),
        );
      };
      const check = (): void => {
        for (; scanned < this.lines.length; scanned++) {
          const line = this.lines[scanned]!;
          if (test(line)) {
            done();
            resolve(line);
            return;
          }
        }
        if (this.exited) {
          const status = this.proc.exitStatus;
          fail(
            "LAB_PROCESS_EXITED",
            `${this.proc.argv.join(" ")} exited (${status?.code ?? status?.signal}) before printing ${what}; ` +
              `its last output:\n${this.text(Math.max(0, this.lines.length - 15))}`,
          );
        }
      };
      timer = setTimeout(
        () => fail("LAB_WAIT_TIMEOUT", `no ${what} from ${this.proc.argv[0]} within ${timeoutMs} ms`),
        timeoutMs,
      );
      this.waiters.add(check);
      check();
    });
  }

  private feed(stream: "stdout" | "stderr", chunk: string): void {
    const at = nowMs();
    const parts = (this.partial[stream] + chunk).split("\n");
    this.partial[stream] = parts.pop() ?? "";
    for (const text of parts) this.lines.push({ text, at, stream });
    if (parts.length > 0) this.notify();
  }

  private flush(stream: "stdout" | "stderr"): void {
    const rest = this.partial[stream];
    if (rest === "") return;
    this.partial[stream] = "";
    this.lines.push({ text: rest, at: nowMs(), stream });
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

/**
 * Low-latency link switching for failover measurements: one long-lived `ip -n NS -force -batch -`
 * per namespace reads commands from its stdin and runs each as it arrives, so taking a link down
 * costs a pipe write and one netlink request instead of a process start (several ms).
 *
 *   const sw = LinkSwitch.open(lab.nsName("d1"));
 *   await sw.down("eth0");   // resolves once the link is down
 *   await sw.up("eth0");
 *   sw.close();
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { VipdError } from "../../../src/errors.js";
import { onProcessExit, signalPid } from "./proc.js";

export class LinkSwitch {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly unregister: () => void;
  private out = "";
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(readonly netns: string) {
    this.child = spawn("ip", ["-n", netns, "-force", "-batch", "-"], { stdio: ["pipe", "pipe", "pipe"] });
    const pid = this.child.pid;
    this.unregister = onProcessExit(() => {
      if (pid !== undefined) signalPid(pid, "SIGKILL");
    });
    const onData = (d: Buffer): void => {
      this.out += d.toString();
      for (const w of [...this.waiters]) w();
    };
    this.child.stdout.on("data", onData);
    this.child.stderr.on("data", onData);
    this.child.on("exit", () => {
      this.closed = true;
      for (const w of [...this.waiters]) w();
    });
    this.child.stdin.on("error", () => undefined);
  }

  static open(netns: string): LinkSwitch {
    return new LinkSwitch(netns);
  }

  /** Sets `ifname` down; resolves once ip has done it. */
  down(ifname = "eth0"): Promise<void> {
    return this.run(`link set dev ${ifname} down`, ifname);
  }

  up(ifname = "eth0"): Promise<void> {
    return this.run(`link set dev ${ifname} up`, ifname);
  }

  /**
   * Writes the command followed by `link show dev IFNAME`, whose output tells that the batch got
   * past the command (ip runs batch lines in order). Rejects if ip reported an error for it.
   */
  private run(command: string, ifname: string): Promise<void> {
    if (this.closed) return Promise.reject(new VipdError("LAB_LINK_SWITCH_CLOSED", "ip batch is gone", {}));
    const start = this.out.length;
    const shown = new RegExp(`^\\d+: ${ifname}[@:]`, "m");
    this.child.stdin.write(`${command}\nlink show dev ${ifname}\n`);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const text = this.out.slice(start);
        const m = shown.exec(text);
        if (m) {
          this.waiters = this.waiters.filter((w) => w !== check);
          const before = text.slice(0, m.index);
          if (/Error|Cannot|RTNETLINK answers|Command failed/i.test(before)) {
            reject(
              new VipdError("LAB_COMMAND_FAILED", `ip -n ${this.netns} ${command}: ${before.trim()}`, {}),
            );
          } else resolve();
        } else if (this.closed) {
          this.waiters = this.waiters.filter((w) => w !== check);
          reject(
            new VipdError("LAB_LINK_SWITCH_CLOSED", `ip batch exited during: ${command}`, { output: text }),
          );
        }
      };
      this.waiters.push(check);
      check();
    });
  }

  close(): void {
    this.unregister();
    if (!this.closed) this.child.stdin.end();
  }
}

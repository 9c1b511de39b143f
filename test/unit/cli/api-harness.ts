/**
 * What the CLI tests of commands that talk to a daemon share: API servers on sockets in a
 * temporary directory (closed after each test), and `vipd COMMAND …` run through main() with its
 * output captured.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach } from "vitest";
import { type ApiActions, ApiServer, type StatusProvider } from "../../../src/api/server.js";
import type { CliIo } from "../../../src/cli/command.js";
import { main } from "../../../src/cli/main.js";
import { sampleStatus } from "../api/fixtures.js";

export function apiHarness(command: string) {
  const log = pino({ level: "silent" });
  const dir = mkdtempSync(join(tmpdir(), `vipd-cli-${command}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const servers: ApiServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  let n = 0;
  return {
    dir,
    /** A daemon's API on a fresh socket; returns the socket path. */
    async daemon(opts: { actions?: ApiActions; provider?: StatusProvider } = {}): Promise<string> {
      const socketPath = join(dir, `run${++n}`, "vipd.sock");
      servers.push(
        await ApiServer.start({
          socketPath,
          provider: opts.provider ?? (() => sampleStatus()),
          log,
          actions: opts.actions ?? {},
        }),
      );
      return socketPath;
    },
    /** `vipd COMMAND ...argv`. */
    async run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      let stdout = "";
      let stderr = "";
      const io: CliIo = {
        stdout: { write: (s: string) => (stdout += s) },
        stderr: { write: (s: string) => (stderr += s) },
      };
      const code = await main([command, ...argv], io);
      return { code, stdout, stderr };
    },
  };
}

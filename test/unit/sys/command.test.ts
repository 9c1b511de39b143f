import { describe, expect, it } from "vitest";
import { describeOutcome, runCommand } from "../../../src/sys/command.js";

// The process handling itself (process groups, timeouts, stderr, zombies) is exercised through
// the exec check in test/unit/health/checkers/exec.test.ts, which runs on this function.
describe("runCommand", () => {
  it("adds env to vipd's own environment", async () => {
    const outcome = await runCommand(
      ["/bin/sh", "-c", 'echo "$HOOK_X:$(test -n "$PATH" && echo path)" >&2; exit 4'],
      {
        env: { HOOK_X: "x" },
        signal: new AbortController().signal,
      },
    );
    expect(outcome).toEqual({ kind: "exit", code: 4, stderrLine: "x:path" });
  });

  it("an empty argv cannot start", async () => {
    expect(await runCommand([], { signal: new AbortController().signal })).toEqual({
      kind: "spawn_error",
      message: "no command",
    });
  });
});

describe("describeOutcome", () => {
  it("says what happened in one line", () => {
    expect(describeOutcome({ kind: "exit", code: 0, stderrLine: "" })).toBe("exit 0");
    expect(describeOutcome({ kind: "exit", code: 2, stderrLine: "busy" })).toBe("exit 2: busy");
    expect(describeOutcome({ kind: "signal", signal: "SIGSEGV", stderrLine: "" })).toBe("killed by SIGSEGV");
    expect(describeOutcome({ kind: "aborted" }, 250)).toBe(
      "timed out after 250 ms (its process group was killed)",
    );
    expect(describeOutcome({ kind: "aborted" })).toBe("stopped");
    expect(describeOutcome({ kind: "spawn_error", message: "cannot run /x: ENOENT" })).toBe(
      "cannot run /x: ENOENT",
    );
  });
});

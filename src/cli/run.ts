import { type CliCommand, type CliIo, DEFAULT_CONFIG_PATH, notImplemented } from "./command.js";

/** `vipd run -c FILE`: the daemon in the foreground (DESIGN.md, CLI contract). Placeholder until the engine lands. */
export const runCommand: CliCommand = {
  name: "run",
  summary: "run the daemon in the foreground",
  usage: `Usage: vipd run [-c FILE]

Runs vipd in the foreground with FILE (default ${DEFAULT_CONFIG_PATH}). Logs JSON to
stdout, reloads the config on SIGHUP, shuts down gracefully on SIGTERM.
`,
  run: (_args: string[], io: CliIo) => Promise.resolve(notImplemented(io, runCommand)),
};

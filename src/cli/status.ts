import { type CliCommand, type CliIo, notImplemented } from "./command.js";

/** `vipd status [--json]`: asks the running daemon over its socket. Placeholder until the API lands. */
export const statusCommand: CliCommand = {
  name: "status",
  summary: "show the running daemon's state",
  usage: `Usage: vipd status [--json]

Asks the running daemon over its unix socket for VRRP and IPVS state.
`,
  run: (_args: string[], io: CliIo) => Promise.resolve(notImplemented(io, statusCommand)),
};

import { type CliCommand, type CliIo, notImplemented } from "./command.js";

/** `vipd migrate keepalived.conf`: writes the equivalent vipd YAML. Placeholder. */
export const migrateCommand: CliCommand = {
  name: "migrate",
  summary: "convert a keepalived.conf to vipd YAML",
  usage: `Usage: vipd migrate KEEPALIVED_CONF

Writes the vipd YAML equivalent of a keepalived configuration.
`,
  run: (_args: string[], io: CliIo) => Promise.resolve(notImplemented(io, migrateCommand)),
};

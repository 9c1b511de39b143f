/**
 * The `vipd` command line: `vipd <command> [options]`. bin/vipd imports the compiled
 * dist/cli/main.js and calls main(); tests call main() with captured I/O.
 */
import { readFileSync } from "node:fs";
import { didYouMean } from "../config/suggest.js";
import { describeError } from "../errors.js";
import { checkCommand } from "./check.js";
import { type CliCommand, type CliIo, DEFAULT_CONFIG_PATH, EXIT, processIo } from "./command.js";
import { migrateCommand } from "./migrate.js";
import { runCommand } from "./run.js";
import { serverCommand } from "./server.js";
import { statusCommand } from "./status.js";
import { vrrpCommand } from "./vrrp.js";

export const COMMANDS: readonly CliCommand[] = [
  runCommand,
  checkCommand,
  statusCommand,
  serverCommand,
  vrrpCommand,
  migrateCommand,
];

export function usage(commands: readonly CliCommand[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: vipd <command> [options]

Commands:
${lines.join("\n")}

Options:
  -h, --help     show this help (vipd help <command> for one command)
  -V, --version  print the version

The default config file is ${DEFAULT_CONFIG_PATH}.
`;
}

export function version(): string {
  // src/cli and dist/cli both sit two levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "unknown";
}

/**
 * Runs the CLI with `argv` (without node and the script) and resolves to the exit code.
 * `commands` is injectable for tests; bin/vipd uses the default.
 */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo(),
  commands: readonly CliCommand[] = COMMANDS,
): Promise<number> {
  const find = (name: string) => commands.find((c) => c.name === name);
  const unknownCommand = (name: string): number => {
    const hint = didYouMean(
      name,
      commands.map((c) => c.name),
    );
    io.stderr.write(`vipd: unknown command '${name}'${hint}\n\n${usage(commands)}`);
    return EXIT.USAGE;
  };
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(usage(commands));
    return EXIT.USAGE;
  }
  if (first === "-h" || first === "--help" || first === "help") {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout.write(usage(commands));
      return EXIT.OK;
    }
    const command = find(topic);
    if (command === undefined) return unknownCommand(topic);
    io.stdout.write(command.usage);
    return EXIT.OK;
  }
  if (first === "-V" || first === "--version") {
    io.stdout.write(`vipd ${version()}\n`);
    return EXIT.OK;
  }
  if (first.startsWith("-")) {
    io.stderr.write(`vipd: unknown option '${first}'\n\n${usage(commands)}`);
    return EXIT.USAGE;
  }
  const command = find(first);
  if (command === undefined) return unknownCommand(first);
  try {
    return await command.run(rest, io);
  } catch (err) {
    io.stderr.write(`vipd ${command.name}: ${describeError(err)}\n`);
    return EXIT.FAILURE;
  }
}

/** What every `vipd <command>` module exports, and the I/O it may use (injected, so tests capture it). */
import { DEFAULTS } from "../config/defaults.js";

export interface CliOutput {
  write(chunk: string): unknown;
}

export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
}

export interface CliCommand {
  name: string;
  /** One line for `vipd --help`. */
  summary: string;
  /** The full text for `vipd help <command>` / `vipd <command> --help`. */
  usage: string;
  /** Runs with the arguments after the command name; resolves to the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/** Exit codes shared by every command. */
export const EXIT = {
  OK: 0,
  /** The command ran and found a problem (e.g. an invalid config). */
  FAILURE: 1,
  /** Bad command line (unknown command or option, missing argument) or not implemented. */
  USAGE: 2,
} as const;

export const DEFAULT_CONFIG_PATH: string = DEFAULTS.configPath;

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr };
}

/** Prints `vipd <command>: <message>` and the command's usage to stderr; returns EXIT.USAGE. */
export function usageError(io: CliIo, command: CliCommand, message: string): number {
  io.stderr.write(`vipd ${command.name}: ${message}\n\n${command.usage}`);
  return EXIT.USAGE;
}

/** The placeholder body of commands that are not written yet. */
export function notImplemented(io: CliIo, command: CliCommand): number {
  io.stderr.write(`vipd ${command.name}: not implemented yet\n`);
  return EXIT.USAGE;
}

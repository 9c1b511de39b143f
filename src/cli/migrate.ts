import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type ConfigIssue, formatIssue } from "../config/issues.js";
import { parseConfig } from "../config/parse.js";
import type { VipdConfig } from "../config/types.js";
import { convertKeepalived, type MigratedConfig } from "../migrate/convert.js";
import { emitYaml } from "../migrate/emit.js";
import { formatMigrateError, formatWarning, type MigrateWarning, printable } from "../migrate/lexer.js";
import { type ParseOptions, parseKeepalivedFile } from "../migrate/parse.js";
import { type CliCommand, type CliIo, EXIT, usageError } from "./command.js";

/**
 * `vipd migrate KEEPALIVED_CONF [-o OUT] [-i ID]`: writes the equivalent vipd YAML to stdout (or
 * OUT) and one `FILE:LINE:COL: warning: keyword: message` line per thing not translated to stderr.
 */
export const migrateCommand: CliCommand = {
  name: "migrate",
  summary: "convert a keepalived.conf to vipd YAML",
  usage: `Usage: vipd migrate KEEPALIVED_CONF [-o OUT] [-i CONFIG_ID]

Writes the vipd YAML equivalent of a keepalived configuration (with the files it
includes) to stdout, or to OUT. Whatever has no vipd equivalent is listed on
stderr, one "FILE:LINE:COL: warning: keyword: message" line each, and as comments
at the top of the YAML. The result is validated as vipd would load it.

  -o, --output OUT       write the YAML to OUT instead of stdout
  -i, --config-id ID     keepalived's config-id (its -i): decides @ID / @^ID lines;
                         without it, @ID lines are skipped and @^ID lines kept
  -h, --help             show this help

Exit status: 0 when the YAML was written and validates; 1 when the keepalived file
cannot be read or parsed ("FILE:LINE:COL: message" on stderr), or the YAML does not
validate (it is still written; the problems follow on stderr); 2 for a bad command line.
`,
  run: runMigrate,
};

export interface MigrateResult {
  yaml: string;
  config: MigratedConfig;
  warnings: MigrateWarning[];
  /** Problems vipd's own parser finds in the YAML (empty when it validates). */
  issues: ConfigIssue[];
  /** The parsed config when it validates. */
  validated?: VipdConfig;
}

/**
 * Reads, converts, emits and validates. Throws VipdError MIGRATE_* when the keepalived file cannot
 * be read or parsed. `output` names the YAML in validation issues.
 */
export function migrateKeepalived(
  file: string,
  options: ParseOptions & { output?: string } = {},
): MigrateResult {
  const parsed = parseKeepalivedFile(file, options);
  const { config, warnings } = convertKeepalived(parsed);
  const yaml = emitYaml(config, warnings, { source: file });
  const result = parseConfig(yaml, options.output ?? "<stdout>", { hostname: config.node ?? "migrated" });
  return {
    yaml,
    config,
    warnings,
    issues: result.errors,
    ...(result.ok ? { validated: result.config } : {}),
  };
}

export async function runMigrate(args: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    return usageError(io, migrateCommand, (err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(migrateCommand.usage);
    return EXIT.OK;
  }
  const [file, ...extra] = positionals;
  if (file === undefined) return usageError(io, migrateCommand, "give the keepalived config file to convert");
  if (extra.length > 0) return usageError(io, migrateCommand, "give one keepalived config file");

  let result: MigrateResult;
  try {
    result = migrateKeepalived(file, {
      ...(values["config-id"] === undefined ? {} : { configId: values["config-id"] }),
      ...(values.output === undefined ? {} : { output: values.output }),
    });
  } catch (err) {
    const located = formatMigrateError(err);
    if (located === undefined) throw err;
    io.stderr.write(`${located}\n`);
    return EXIT.FAILURE;
  }

  for (const w of result.warnings) io.stderr.write(`${formatWarning(w, "warning")}\n`);
  const instances = result.config.vrrp?.instances.length ?? 0;
  const services = result.config.virtual_servers?.length ?? 0;
  if (instances === 0 && services === 0) {
    // An empty config would only fail vipd's own check, at a position in YAML nobody wrote.
    io.stderr.write(
      `vipd migrate: ${printable(file)} has no vrrp_instance or virtual_server that could be translated; nothing written\n`,
    );
    return EXIT.FAILURE;
  }
  if (values.output === undefined) {
    io.stdout.write(result.yaml);
  } else {
    try {
      writeFileSync(values.output, result.yaml);
    } catch (err) {
      io.stderr.write(`vipd migrate: cannot write ${values.output}: ${(err as Error).message}\n`);
      return EXIT.FAILURE;
    }
  }
  const summary = `${instances} instance${instances === 1 ? "" : "s"}, ${services} virtual server${services === 1 ? "" : "s"}, ${result.warnings.length} warning${result.warnings.length === 1 ? "" : "s"}`;
  if (result.issues.length > 0) {
    io.stderr.write(`vipd migrate: the generated config does not validate (${summary}); fix by hand:\n`);
    for (const issue of result.issues) io.stderr.write(`${formatIssue(issue)}\n`);
    return EXIT.FAILURE;
  }
  io.stderr.write(
    `vipd migrate: ${values.output === undefined ? "converted" : `wrote ${values.output}:`} ${summary}\n`,
  );
  return EXIT.OK;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      output: { type: "string", short: "o" },
      "config-id": { type: "string", short: "i" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
}

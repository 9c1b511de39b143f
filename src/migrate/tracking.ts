/**
 * keepalived's vrrp_script / vrrp_track_file and the instances' track_script / track_file
 * blocks → vipd's vrrp.track_scripts / vrrp.track_files and their references, as keepalived
 * 2.2.7 reads them (vrrp_parser.c, vrrp_track.h): a script runs every `interval` seconds
 * (default 1), `timeout` defaults to the interval, rise and fall to 1, weight to 0; a file's
 * weight defaults to 1. docs/vrrp.md ("Tracking") has vipd's side.
 */
import type { ConvertTools } from "./checkers.js";
import { scriptArgv } from "./notify.js";
import type { Statement, Word } from "./parse.js";

export interface MigratedTrackScript {
  name: string;
  command: string[];
  interval?: string;
  timeout?: string;
  rise?: number;
  fall?: number;
  weight?: number;
  initial?: "down";
}

export interface MigratedTrackFile {
  name: string;
  path: string;
  weight?: number;
}

/** A reference: the definition's name, or with its weight overridden. */
export type MigratedTrackRef = string | { name: string; weight: number };

type Tools = Pick<ConvertTools, "warn" | "notTranslated" | "arg" | "int" | "timer">;

/** keepalived's range for tracking weights. */
const MAX_WEIGHT = 253;
const DAY_MS = 86_400_000;

export class TrackingConverter {
  readonly scripts: MigratedTrackScript[] = [];
  readonly files: MigratedTrackFile[] = [];

  constructor(
    private readonly tools: Tools,
    private readonly formatDuration: (ms: number) => string,
  ) {}

  /** `vrrp_script NAME { script …; interval …; … }`. */
  script(s: Statement): void {
    const name = this.definitionName(s, this.scripts);
    if (name === undefined) return;
    const out: Partial<MigratedTrackScript> = { name };
    let reverse = false;
    for (const c of s.block ?? []) {
      switch (c.keyword.text) {
        case "script": {
          const argv = scriptArgv(c, this.tools);
          if (argv !== undefined) out.command = argv;
          break;
        }
        case "interval":
        case "timeout": {
          const ms = this.tools.timer(c, 1, DAY_MS);
          if (ms !== undefined) out[c.keyword.text] = this.formatDuration(ms);
          break;
        }
        case "rise":
        case "fall": {
          const n = this.tools.int(c, 1, 1000, "a count");
          if (n !== undefined) out[c.keyword.text] = n;
          break;
        }
        case "weight": {
          const w = this.weight(c);
          if (w === "reverse") reverse = true;
          else if (w !== undefined) out.weight = w;
          break;
        }
        case "init_fail":
          out.initial = "down";
          break;
        case "user":
          this.tools.warn(c, "vipd runs tracking scripts as itself; switch user inside the script if needed");
          break;
        default:
          this.tools.notTranslated(c);
      }
    }
    if (out.command === undefined) {
      this.tools.warn(s, `vrrp_script '${name}' has no script; dropped`);
      return;
    }
    if (reverse) return;
    this.scripts.push(out as MigratedTrackScript);
  }

  /** `vrrp_track_file NAME { file "…"; weight … }`. */
  file(s: Statement): void {
    const name = this.definitionName(s, this.files);
    if (name === undefined) return;
    let path: string | undefined;
    let weight: number | undefined;
    let reverse = false;
    for (const c of s.block ?? []) {
      switch (c.keyword.text) {
        case "file": {
          const word = this.tools.arg(c, "a file path");
          if (word !== undefined && !word.text.startsWith("/"))
            this.tools.warn(word, `'${word.text}' is not an absolute path; dropped`, "file");
          else if (word !== undefined) path = word.text;
          break;
        }
        case "weight": {
          const w = this.weight(c);
          if (w === "reverse") reverse = true;
          else weight = w ?? weight;
          break;
        }
        case "init_file":
          this.tools.warn(
            c,
            "not translated: vipd does not create track files (a missing file counts as 0, as here)",
          );
          break;
        default:
          this.tools.notTranslated(c);
      }
    }
    if (path === undefined) {
      this.tools.warn(s, `vrrp_track_file '${name}' has no file; dropped`);
      return;
    }
    if (reverse) return;
    this.files.push({ name, path, ...(weight === undefined ? {} : { weight }) });
  }

  /**
   * An instance's `track_script { NAME [weight W [reverse]] … }` (kind "script") or
   * `track_file { … }` ("file"). References to what was not translated are dropped, warned.
   */
  refs(block: Statement, kind: "script" | "file"): MigratedTrackRef[] {
    const defined = (kind === "script" ? this.scripts : this.files).map((d) => d.name);
    const out: MigratedTrackRef[] = [];
    for (const entry of block.block ?? []) {
      const name = entry.keyword.text;
      const [first, value, extra] = entry.args;
      if (!defined.includes(name)) {
        this.tools.warn(
          entry,
          `${kind === "script" ? "vrrp_script" : "vrrp_track_file"} '${name}' was not translated; not tracked`,
          name,
        );
        continue;
      }
      if (out.some((r) => (typeof r === "string" ? r : r.name) === name)) {
        this.tools.warn(entry, `'${name}' is tracked twice; keepalived keeps the first`, name);
        continue;
      }
      if (first === undefined) {
        out.push(name);
        continue;
      }
      if (first.text !== "weight" || value === undefined) {
        this.tools.warn(
          first,
          `expected 'weight N' after '${name}'; '${name}' is tracked with its own weight`,
          name,
        );
        out.push(name);
        continue;
      }
      if (extra?.text === "reverse") {
        this.tools.warn(extra, "vipd has no reverse tracking; not tracked", name);
        continue;
      }
      const weight = this.weightWord(value, name);
      out.push(weight === undefined ? name : { name, weight });
    }
    return out;
  }

  private definitionName(s: Statement, seen: readonly { name: string }[]): string | undefined {
    const name = s.args[0]?.text;
    if (name === undefined) {
      this.tools.warn(s, "has no name; skipped");
      return undefined;
    }
    if (seen.some((d) => d.name === name)) {
      this.tools.warn(s, `duplicate '${name}'; skipped`);
      return undefined;
    }
    return name;
  }

  /** A definition's `weight N [reverse]`; "reverse" (warned) drops the definition. */
  private weight(c: Statement): number | "reverse" | undefined {
    const [value, extra] = c.args;
    if (value === undefined) {
      this.tools.warn(c, "weight needs a number; ignored");
      return undefined;
    }
    if (extra?.text === "reverse") {
      this.tools.warn(
        extra,
        "vipd has no reverse tracking; dropped, and not tracked by any instance",
        "weight",
      );
      return "reverse";
    }
    return this.weightWord(value, "weight");
  }

  private weightWord(word: Word, keyword: string): number | undefined {
    const n = /^-?\d+$/.test(word.text) ? Number(word.text) : Number.NaN;
    if (!Number.isInteger(n) || Math.abs(n) > MAX_WEIGHT) {
      this.tools.warn(
        word,
        `'${word.text}' is not a weight (-${MAX_WEIGHT}..${MAX_WEIGHT}); ignored`,
        keyword,
      );
      return undefined;
    }
    return n;
  }
}

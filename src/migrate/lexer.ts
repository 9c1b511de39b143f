/**
 * keepalived.conf lexer: the text of one file → tokens (words, `{`, `}`, end of line), each at
 * FILE:LINE:COL. It works line by line, in the order keepalived documents (keepalived.conf(5)):
 * comments (`#`, `!`) are cut, a leading `@id` / `@^id` conditional decides whether the line
 * counts, `$NAME=VALUE` lines define parameters (a value of `\` starts a multiline definition),
 * `$NAME` / `${NAME}` are substituted (recursively; multiline values become several lines), and
 * `include` lines are handed to the caller (src/migrate/parse.ts resolves and reads them).
 */
import { VipdError } from "../errors.js";

/** A place in a keepalived file; `line` and `col` are 1-based. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

export type Token =
  | { kind: "word"; text: string; quoted: boolean; pos: SourcePos }
  | { kind: "open"; pos: SourcePos }
  | { kind: "close"; pos: SourcePos }
  | { kind: "eol"; pos: SourcePos };

/** Something in the keepalived config that was not translated (or not exactly). */
export interface MigrateWarning extends SourcePos {
  /** The keepalived keyword concerned, e.g. `authentication`. */
  keyword: string;
  message: string;
}

/** `FILE:LINE:COL: keyword: message` (with `severity` before the keyword when given). */
export function formatWarning(w: MigrateWarning, severity?: string): string {
  const text = `${w.file}:${w.line}:${w.col}: ${severity === undefined ? "" : `${severity}: `}${w.keyword}: ${w.message}`;
  return printable(text);
}

/**
 * Control characters (NUL, ESC, DEL, C1) written as \xNN: a keepalived file may hold them, and
 * copied raw they would drive the operator's terminal or break the YAML comment they land in.
 * Tabs stay; line breaks are the caller's business.
 */
export function printable(text: string): string {
  return text.replace(
    /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** The error the migrate parser throws: code MIGRATE_*, with file/line/col in its context. */
export function migrateError(code: string, pos: SourcePos, message: string): VipdError {
  return new VipdError(code, message, { file: pos.file, line: pos.line, col: pos.col });
}

/** `FILE:LINE:COL: message` for an error thrown by the migrate parser, or undefined for any other. */
export function formatMigrateError(err: unknown): string | undefined {
  if (!(err instanceof VipdError) || !err.code.startsWith("MIGRATE_")) return undefined;
  const { file, line, col } = err.context as Partial<SourcePos>;
  if (typeof file !== "string" || typeof line !== "number" || typeof col !== "number") return undefined;
  return `${file}:${line}:${col}: ${err.message}`;
}

/** A parameter defined with `$NAME=VALUE`; a multiline value has several lines. */
export interface Definition {
  lines: string[];
  pos: SourcePos;
}

export const INCLUDE_KEYWORDS: readonly string[] = [
  "include",
  "includer",
  "includem",
  "includew",
  "includeb",
  "includea",
];

export interface LexContext {
  /** keepalived's config-id (`-i`): decides `@id` lines; undefined = no id matches. */
  configId?: string;
  /** Parameters, shared by a file and everything it includes (definitions persist across files). */
  defs: Map<string, Definition>;
  warn(warning: MigrateWarning): void;
  /** Resolves an include line and returns the tokens of the files it names. */
  include(keyword: string, pattern: string, pos: SourcePos): Token[];
  /** `${_PWD}`: the directory of the file being read. */
  pwd: string;
}

/** A line to process, with the source column of each of its characters (substituted text maps to the `$`). */
interface Line {
  text: string;
  cols: number[];
  line: number;
}

const MAX_SUBSTITUTIONS = 10_000;
const DEFINITION = /^\$([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const SPACE = /[ \t\f\r\v\n]/;

/** Tokens of one file's text. `file` is the name used in positions. */
export function lex(text: string, file: string, ctx: LexContext): Token[] {
  const lines: Line[] = text.split("\n").map((raw, i) => {
    const stripped = stripComment(raw.endsWith("\r") ? raw.slice(0, -1) : raw, file, i + 1);
    return { text: stripped, cols: Array.from({ length: stripped.length }, (_, c) => c + 1), line: i + 1 };
  });
  return new FileLexer(file, ctx).run(lines);
}

/** The line without its comment: from the first `#` or `!` outside quotes. */
export function stripComment(text: string, file: string, line: number): string {
  let quote: string | undefined;
  let quoteAt = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== undefined) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      quoteAt = i;
    } else if (c === "#" || c === "!") {
      return text.slice(0, i);
    }
  }
  if (quote !== undefined)
    throw migrateError("MIGRATE_SYNTAX", { file, line, col: quoteAt + 1 }, `unterminated ${quote} string`);
  return text;
}

class FileLexer {
  private readonly out: Token[] = [];
  private queue: Line[] = [];
  private next = 0;
  private substitutions = 0;

  constructor(
    private readonly file: string,
    private readonly ctx: LexContext,
  ) {}

  run(lines: Line[]): Token[] {
    this.queue = lines;
    this.next = 0;
    while (this.next < this.queue.length) {
      const line = this.queue[this.next++] as Line;
      this.line(line);
    }
    return this.out;
  }

  private pos(line: Line, index: number): SourcePos {
    const col = line.cols[Math.min(index, line.cols.length - 1)] ?? 1;
    return { file: this.file, line: line.line, col: index >= line.cols.length ? col + 1 : col };
  }

  private line(input: Line): void {
    let line = trimStart(input);
    if (line.text.trim() === "") return;

    // Conditional configuration: `@id rest` counts only when id is the config-id, `@^id rest` unless it is.
    if (line.text.startsWith("@")) {
      const rest = this.conditional(line);
      if (rest === undefined) return;
      line = rest;
      if (line.text.trim() === "") return;
    }

    const definition = DEFINITION.exec(line.text);
    if (definition !== null) {
      this.define(line, definition[1] as string, (definition[2] as string).trim());
      return;
    }

    const substituted = this.substitute(line);
    if (substituted === undefined) return; // expanded into several lines, queued
    if (substituted.text !== line.text) {
      const again = trimStart(substituted);
      if (again.text.startsWith("@") || DEFINITION.test(again.text)) {
        this.queue.splice(this.next, 0, again);
        return;
      }
    }
    line = substituted;

    const first = /^(\S+)(\s+(.*))?$/s.exec(line.text.trim());
    if (first !== null && INCLUDE_KEYWORDS.includes(first[1] as string)) {
      const keyword = first[1] as string;
      const pattern = unquote((first[3] ?? "").trim());
      if (pattern === "") {
        throw migrateError("MIGRATE_SYNTAX", this.pos(line, 0), `${keyword} needs a file name or pattern`);
      }
      this.out.push(...this.ctx.include(keyword, pattern, this.pos(line, 0)));
      return;
    }
    this.tokenize(line);
  }

  /** The rest of a conditional line when it counts, else undefined. */
  private conditional(line: Line): Line | undefined {
    const match = /^@(\^?)(\S*)/.exec(line.text) as RegExpExecArray;
    const negated = match[1] === "^";
    const id = match[2] as string;
    const prefix = match[0];
    const pos = this.pos(line, 0);
    if (id === "") {
      this.ctx.warn({ ...pos, keyword: prefix, message: "conditional without a config-id; line skipped" });
      return undefined;
    }
    const { configId } = this.ctx;
    const counts = negated ? id !== configId : id === configId;
    if (configId === undefined) {
      this.ctx.warn({
        ...pos,
        keyword: prefix,
        message: counts
          ? `no config-id given (--config-id): line kept, as if the config-id were not '${id}'`
          : `no config-id given (--config-id): line skipped, as if the config-id were not '${id}'`,
      });
    }
    if (!counts) return undefined;
    return trimStart(slice(line, prefix.length));
  }

  private define(line: Line, name: string, value: string): void {
    const pos = this.pos(line, 0);
    if (value !== "\\") {
      this.ctx.defs.set(name, { lines: [value], pos });
      return;
    }
    // Multiline: every following line ending with `\` continues the value; the first that does not ends it.
    const lines: string[] = [];
    for (;;) {
      const next = this.queue[this.next];
      if (next === undefined) {
        throw migrateError("MIGRATE_SYNTAX", pos, `multiline definition of $${name} is not ended`);
      }
      this.next++;
      const text = next.text.replace(/\s+$/, "");
      if (text.endsWith("\\")) {
        lines.push(text.slice(0, -1));
      } else {
        lines.push(text);
        break;
      }
    }
    this.ctx.defs.set(name, { lines, pos });
  }

  /** The value of a parameter: a definition, or one of keepalived's predefined ones. */
  private value(name: string): string[] | undefined {
    const def = this.ctx.defs.get(name);
    if (def !== undefined) return def.lines;
    if (name === "_PWD") return [this.ctx.pwd];
    if (name === "_HASH") return ["#"];
    if (name === "_INSTANCE" && this.ctx.configId !== undefined) return [this.ctx.configId];
    return undefined;
  }

  /**
   * Replaces defined parameters, rescanning each replacement (substitution is recursive).
   * Returns the line, or undefined when a multiline value split it into lines that were queued.
   */
  private substitute(input: Line): Line | undefined {
    let line = input;
    let i = 0;
    while (i < line.text.length) {
      const dollar = line.text.indexOf("$", i);
      if (dollar === -1) break;
      const ref = parameterAt(line.text, dollar);
      const value = ref === undefined ? undefined : this.value(ref.name);
      if (ref === undefined || value === undefined) {
        i = dollar + 1;
        continue;
      }
      if (++this.substitutions > MAX_SUBSTITUTIONS) {
        throw migrateError(
          "MIGRATE_SUBSTITUTION",
          this.pos(line, dollar),
          `parameter substitution does not end ($${ref.name} refers to itself?)`,
        );
      }
      const at = line.cols[dollar] ?? 1;
      const before = slice(line, 0, dollar);
      const after = slice(line, ref.end);
      if (value.length === 1) {
        line = concat(concat(before, literal(value[0] as string, at, line.line)), after);
        i = dollar; // rescan the replacement
        continue;
      }
      const expanded = value.map((text, k) => {
        let piece = literal(text, at, line.line);
        if (k === 0) piece = concat(before, piece);
        if (k === value.length - 1) piece = concat(piece, after);
        return piece;
      });
      this.queue.splice(this.next, 0, ...expanded);
      return undefined;
    }
    return line;
  }

  private tokenize(line: Line): void {
    const { text } = line;
    let i = 0;
    while (i < text.length) {
      const c = text[i] as string;
      if (SPACE.test(c)) {
        i++;
        continue;
      }
      if (c === "{" || c === "}") {
        this.out.push({ kind: c === "{" ? "open" : "close", pos: this.pos(line, i) });
        i++;
        continue;
      }
      const start = i;
      let word = "";
      let quoted = false;
      while (i < text.length) {
        const ch = text[i] as string;
        if (SPACE.test(ch) || ch === "{" || ch === "}") break;
        if (ch === "$" && text[i + 1] === "{") {
          // An undefined ${NAME} stays as written, braces included.
          const close = text.indexOf("}", i + 2);
          const end = close === -1 ? text.length : close + 1;
          word += text.slice(i, end);
          i = end;
          continue;
        }
        if (ch === '"' || ch === "'") {
          quoted = true;
          const quoteAt = i;
          i++;
          let closed = false;
          while (i < text.length) {
            const q = text[i] as string;
            if (q === ch) {
              closed = true;
              i++;
              break;
            }
            if (q === "\\" && i + 1 < text.length) {
              const escaped = readEscape(text, i + 1);
              word += escaped.text;
              i = escaped.end;
              continue;
            }
            word += q;
            i++;
          }
          if (!closed) {
            throw migrateError("MIGRATE_SYNTAX", this.pos(line, quoteAt), `unterminated ${ch} string`);
          }
          continue;
        }
        word += ch;
        i++;
      }
      this.out.push({ kind: "word", text: word, quoted, pos: this.pos(line, start) });
    }
    this.out.push({ kind: "eol", pos: this.pos(line, text.length) });
  }
}

/** `$NAME` (followed by whitespace or the end) or `${NAME}` at `dollar`. */
function parameterAt(text: string, dollar: number): { name: string; end: number } | undefined {
  if (text[dollar + 1] === "{") {
    const close = text.indexOf("}", dollar + 2);
    if (close === -1) return undefined;
    const name = text.slice(dollar + 2, close);
    return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? { name, end: close + 1 } : undefined;
  }
  if (!NAME_START.test(text[dollar + 1] ?? "")) return undefined;
  let end = dollar + 2;
  while (end < text.length && NAME_CHAR.test(text[end] as string)) end++;
  if (end < text.length && !SPACE.test(text[end] as string)) return undefined;
  return { name: text.slice(dollar + 1, end), end };
}

/** A backslash escape inside a quoted string, starting after the backslash. */
function readEscape(text: string, at: number): { text: string; end: number } {
  const c = text[at] as string;
  const simple: Record<string, string> = {
    a: "\x07",
    b: "\b",
    E: "\x1b",
    f: "\f",
    n: "\n",
    r: "\r",
    t: "\t",
    v: "\v",
  };
  const mapped = simple[c];
  if (mapped !== undefined) return { text: mapped, end: at + 1 };
  const octal = /^[0-7]{1,3}/.exec(text.slice(at));
  if (octal !== null)
    return { text: String.fromCharCode(Number.parseInt(octal[0], 8) & 0xff), end: at + octal[0].length };
  if (c === "x") {
    const hex = /^[0-9A-Fa-f]{1,2}/.exec(text.slice(at + 1));
    if (hex !== null)
      return { text: String.fromCharCode(Number.parseInt(hex[0], 16)), end: at + 1 + hex[0].length };
  }
  if (c === "c" && at + 1 < text.length) {
    return { text: String.fromCharCode((text.charCodeAt(at + 1) & 0x1f) >>> 0), end: at + 2 };
  }
  return { text: c, end: at + 1 };
}

function unquote(text: string): string {
  const q = text[0];
  if ((q === '"' || q === "'") && text.length >= 2 && text.endsWith(q)) return text.slice(1, -1);
  return text;
}

function slice(line: Line, start: number, end?: number): Line {
  return { text: line.text.slice(start, end), cols: line.cols.slice(start, end), line: line.line };
}

function concat(a: Line, b: Line): Line {
  return { text: a.text + b.text, cols: [...a.cols, ...b.cols], line: a.line };
}

function literal(text: string, col: number, line: number): Line {
  return { text, cols: new Array<number>(text.length).fill(col), line };
}

function trimStart(line: Line): Line {
  const n = line.text.length - line.text.replace(/^\s+/, "").length;
  return n === 0 ? line : slice(line, n);
}

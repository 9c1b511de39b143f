/**
 * keepalived.conf → a generic block tree. A statement is a keyword with its arguments on one
 * line, optionally followed by a `{ ... }` block of statements (the `{` may also open the next
 * line). Nothing here knows keepalived's keywords: src/migrate/convert.ts gives them meaning.
 *
 * `include` lines are resolved here: globs (`*`, `?`, `[...]`, csh-style `{a,b}`) relative to the
 * directory of the including file, matches read in sorted order, include cycles reported.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import {
  type Definition,
  type LexContext,
  lex,
  type MigrateWarning,
  migrateError,
  type SourcePos,
  type Token,
} from "./lexer.js";

export interface Word {
  text: string;
  /** True when any part of it was written in quotes. */
  quoted: boolean;
  pos: SourcePos;
}

export interface Statement {
  keyword: Word;
  args: Word[];
  /** The statements between `{` and `}`; undefined when the statement has no block. */
  block?: Statement[];
}

export interface ParseOptions {
  /** keepalived's config-id (its `-i` option), deciding `@id` conditional lines. */
  configId?: string;
  /** Reads a file (default: node:fs readFileSync as UTF-8); throws Node errors with a `code`. */
  readFile?: (path: string) => string;
}

export interface ParsedKeepalived {
  /** The file as named by the caller. */
  file: string;
  statements: Statement[];
  /** Problems that did not stop parsing (conditionals without a config-id, includes matching nothing). */
  warnings: MigrateWarning[];
  /** Every file read, the main one first, as named in positions. */
  files: string[];
}

/** Reads and parses a keepalived config file and everything it includes. Throws VipdError MIGRATE_*. */
export function parseKeepalivedFile(path: string, options: ParseOptions = {}): ParsedKeepalived {
  return parseKeepalived(readSource(path, { file: path, line: 1, col: 1 }, options.readFile), path, options);
}

/**
 * Parses keepalived config text. `file` names it in positions, and includes are resolved
 * relative to its directory. Throws VipdError MIGRATE_* with file/line/col in its context.
 */
export function parseKeepalived(text: string, file: string, options: ParseOptions = {}): ParsedKeepalived {
  const warnings: MigrateWarning[] = [];
  const files: string[] = [file];
  const defs = new Map<string, Definition>();
  /** Real paths of the files being read, outermost first, with their names. */
  const stack: { real: string; name: string }[] = [];

  const lexFile = (source: string, name: string): Token[] => {
    const real = realPath(name);
    stack.push({ real, name });
    const ctx: LexContext = {
      ...(options.configId === undefined ? {} : { configId: options.configId }),
      defs,
      warn: (w) => warnings.push(w),
      pwd: dirname(resolve(name)),
      include: (keyword, pattern, pos) => {
        const base = dirname(name);
        const matches = expandInclude(pattern, base);
        if (matches.length === 0) {
          warnings.push({ ...pos, keyword, message: `'${pattern}' matches no file; nothing included` });
          return [];
        }
        const tokens: Token[] = [];
        for (const match of matches) {
          const target = realPath(match);
          const loop = stack.findIndex((s) => s.real === target);
          if (loop !== -1) {
            const chain = [...stack.slice(loop).map((s) => s.name), match].join(" -> ");
            throw migrateError("MIGRATE_INCLUDE_CYCLE", pos, `include cycle: ${chain}`);
          }
          const text = readSource(match, pos, options.readFile);
          files.push(match);
          tokens.push(...lexFile(text, match));
        }
        return tokens;
      },
    };
    const tokens = lex(source, name, ctx);
    stack.pop();
    return tokens;
  };

  const tokens = lexFile(text, file);
  const statements = buildTree(tokens);
  inlineBlocks(statements, 0, (w) => warnings.push(w));
  return { file, statements, warnings, files };
}

/**
 * Keywords that keepalived reads as a block of items and nothing else (track_file only inside
 * an instance: at the top level it is a named block).
 */
const ITEM_BLOCKS = new Set([
  "virtual_ipaddress",
  "virtual_ipaddress_excluded",
  "virtual_routes",
  "virtual_rules",
  "unicast_peer",
  "track_interface",
  "track_script",
  "track_process",
  "track_bfd",
  "group",
  "authentication",
  "notification_email",
  "HTTP_GET",
  "SSL_GET",
  "TCP_CHECK",
  "MISC_CHECK",
  "DNS_CHECK",
  "SMTP_CHECK",
  "UDP_CHECK",
  "PING_CHECK",
  "FILE_CHECK",
  "BFD_CHECK",
  "url",
  "global_defs",
  "static_ipaddress",
  "static_routes",
  "static_rules",
]);

/**
 * A block keyword with its value on the same line (`unicast_peer 10.0.0.2`). keepalived 2.2.7
 * says "Block unicast_peer has extra parameters" and then reads the lines that follow as the
 * block's items, up to the next '}' — the rest of the instance, and its closing brace — which
 * derails the rest of the file. No translation can be what it ran; the value on the line becomes
 * the block's one item (what was meant), with a warning at it.
 */
function inlineBlocks(statements: Statement[], depth: number, warn: (w: MigrateWarning) => void): void {
  for (const s of statements) {
    const word = s.keyword.text;
    const itemBlock = ITEM_BLOCKS.has(word) || (word === "track_file" && depth > 0);
    const [first, ...rest] = s.args;
    if (itemBlock && s.block === undefined && first !== undefined) {
      warn({
        ...first.pos,
        keyword: word,
        message: `keepalived expects a '{' block here: it reports "Block ${word} has extra parameters" and reads the lines that follow as the block's items, which derails the rest of the file; put the value in braces there. vipd takes '${s.args.map((a) => a.text).join(" ")}' as the block's one item`,
      });
      s.block = [{ keyword: first, args: rest }];
      s.args = [];
    }
    if (s.block !== undefined) inlineBlocks(s.block, depth + 1, warn);
  }
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** The text of a file; an unreadable one is an error at `pos` (the include line, or 1:1 of the main file). */
function readSource(
  path: string,
  pos: SourcePos,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): string {
  try {
    return readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason =
      e.code === "ENOENT"
        ? "no such file"
        : e.code === "EACCES" || e.code === "EPERM"
          ? "permission denied"
          : e.code === "EISDIR"
            ? "is a directory"
            : e.message;
    const what = pos.file === path ? `cannot read ${path}` : `cannot read included file ${path}`;
    throw migrateError("MIGRATE_READ", pos, `${what}: ${reason}`);
  }
}

/** Statements from tokens; `{`/`}` nesting errors point at the offending brace. */
export function buildTree(tokens: readonly Token[]): Statement[] {
  let i = 0;
  const block = (open: SourcePos | undefined): Statement[] => {
    const statements: Statement[] = [];
    let current: Statement | undefined;
    /** The last statement finished on an earlier line, which a lone `{` may open. */
    let previous: Statement | undefined;
    while (i < tokens.length) {
      const token = tokens[i++] as Token;
      switch (token.kind) {
        case "word": {
          const word: Word = { text: token.text, quoted: token.quoted, pos: token.pos };
          if (current === undefined) current = { keyword: word, args: [] };
          else current.args.push(word);
          break;
        }
        case "open": {
          const owner = current ?? (previous?.block === undefined ? previous : undefined);
          if (owner === undefined) {
            throw migrateError("MIGRATE_SYNTAX", token.pos, "'{' has no keyword before it");
          }
          owner.block = block(token.pos);
          if (current !== undefined) statements.push(current);
          current = undefined;
          previous = undefined;
          break;
        }
        case "close":
          if (open === undefined) throw migrateError("MIGRATE_SYNTAX", token.pos, "'}' closes no block");
          if (current !== undefined) statements.push(current);
          return statements;
        case "eol":
          if (current !== undefined) {
            statements.push(current);
            previous = current;
          }
          current = undefined;
          break;
      }
    }
    if (open !== undefined) throw migrateError("MIGRATE_SYNTAX", open, "'{' is never closed");
    if (current !== undefined) statements.push(current);
    return statements;
  };
  return block(undefined);
}

// ---------------------------------------------------------------------------------------------
// Include patterns

/** The files an include pattern names, relative to `base` unless absolute; sorted, without duplicates. */
export function expandInclude(pattern: string, base: string): string[] {
  const out: string[] = [];
  for (const expanded of expandBraces(pattern)) {
    const path = isAbsolute(expanded) ? expanded : join(base, expanded);
    for (const match of glob(path)) if (!out.includes(match)) out.push(match);
  }
  return out;
}

/** csh-style brace expansion: `a{b,c{d,e}}f` → abf, acdf, acef. Braces without a comma stay literal. */
export function expandBraces(pattern: string): string[] {
  let depth = 0;
  let open = -1;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++;
    } else if (c === "{") {
      if (depth === 0) open = i;
      depth++;
    } else if (c === "}" && depth > 0) {
      depth--;
      if (depth === 0) {
        const inner = pattern.slice(open + 1, i);
        const alternatives = splitTopLevel(inner);
        if (alternatives.length < 2) continue;
        const prefix = pattern.slice(0, open);
        const suffix = pattern.slice(i + 1);
        return alternatives.flatMap((alt) => expandBraces(prefix + alt + suffix));
      }
    }
  }
  return [pattern];
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

const MAGIC = /[*?[]/;

/** Files matching a path with `*`, `?` and `[...]` in any segment (not directories; `*` skips dot files). */
function glob(path: string): string[] {
  if (!MAGIC.test(path)) return isFile(path) ? [path] : [];
  const absolute = path.startsWith("/");
  const segments = path.split("/").filter((s, k) => s !== "" || k === 0);
  let candidates: string[] = [absolute ? "/" : ""];
  segments.forEach((segment, k) => {
    if (segment === "" && k === 0) return;
    const last = k === segments.length - 1;
    const next: string[] = [];
    for (const dir of candidates) {
      if (!MAGIC.test(segment)) {
        next.push(dir === "" ? segment : join(dir, segment));
        continue;
      }
      const regex = segmentRegex(segment);
      let entries: string[];
      try {
        entries = readdirSync(dir === "" ? "." : dir).sort();
      } catch {
        continue;
      }
      for (const entry of entries) {
        if (entry.startsWith(".") && !segment.startsWith(".")) continue;
        if (regex.test(entry)) next.push(dir === "" ? entry : join(dir, entry));
      }
    }
    candidates = last ? next : next.filter(isDirectory);
  });
  return candidates.filter(isFile).sort();
}

function segmentRegex(segment: string): RegExp {
  let source = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const close = segment.indexOf("]", i + 2);
      if (close === -1) {
        source += "\\[";
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      source += `[${negated ? "^" : ""}${body.replace(/[\\\]]/g, "\\$&")}]`;
      i = close;
    } else if (c === "\\" && i + 1 < segment.length) {
      source += escapeRegex(segment[++i] as string);
    } else {
      source += escapeRegex(c);
    }
  }
  return new RegExp(`^${source}$`);
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Typed reading of a YAML AST with positioned errors. Every reader reports what is wrong with
 * the node it was given (at that node) and returns undefined, so a caller can go on and find
 * every other error in the same pass.
 */
import { isAbsolute } from "node:path";
import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type Node } from "yaml";
import { formatDuration, parseDuration } from "./duration.js";
import { type ConfigIssue, sortIssues } from "./issues.js";
import { didYouMean } from "./suggest.js";

/** A value in the document: its (alias-resolved) node, the key that introduced it, and its path. */
export interface Field {
  readonly node: Node;
  readonly key?: Node;
  readonly path: string;
}

/** Keys starting with this prefix are ignored everywhere: a home for YAML anchors (`x-defaults: &d {...}`). */
export const EXTENSION_KEY_PREFIX = "x-";
/** YAML merge key: `<<: *anchor` or `<<: [*a, *b]` copies keys not written explicitly. */
export const MERGE_KEY = "<<";

export class Reader {
  private readonly found: ConfigIssue[] = [];
  private readonly advice: ConfigIssue[] = [];

  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
  ) {}

  get issues(): ConfigIssue[] {
    return sortIssues(this.found);
  }

  get errorCount(): number {
    return this.found.length;
  }

  /** Things that are valid but probably not what was meant (`vipd check` prints them; exit 0). */
  get warnings(): ConfigIssue[] {
    return sortIssues(this.advice);
  }

  /** Records a warning at a field's value. */
  warn(field: Field, message: string): void {
    const { line, col } = this.lineCounter.linePos(field.node.range?.[0] ?? 0);
    this.advice.push({ file: this.file, line, col, message, path: field.path });
  }

  /** Records an issue at a source offset. */
  errorAtOffset(offset: number, path: string, message: string): void {
    const { line, col } = this.lineCounter.linePos(offset);
    this.found.push({ file: this.file, line, col, message, path });
  }

  /** Records an issue at a node (its first character), or at 1:1 when there is none. */
  error(node: Node | undefined, path: string, message: string): void {
    this.errorAtOffset(node?.range?.[0] ?? 0, path, message);
  }

  /** Records an issue at a field's value. */
  fail(field: Field, message: string): undefined {
    this.error(field.node, field.path, message);
    return undefined;
  }

  resolve(node: unknown): Node | undefined {
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      return target === undefined ? undefined : (target as Node);
    }
    if (isScalar(node) || isMap(node) || isSeq(node)) return node;
    return undefined;
  }

  /** The document root as a field (undefined for an empty document). */
  root(): Field | undefined {
    const node = this.resolve(this.doc.contents);
    if (node === undefined || isNull(node)) return undefined;
    return { node, path: "" };
  }

  /**
   * Opens a mapping. Reports keys not in `keys` (with a did-you-mean hint, at the key), keys that
   * are not strings, and a value that is not a mapping. Returns undefined when it is not a mapping.
   */
  map(field: Field, keys: readonly string[], what = "a mapping"): MapReader | undefined {
    if (!isMap(field.node)) return this.fail(field, `expected ${what}, got ${describe(field.node)}`);
    const entries = new Map<string, { key: Node; value: Node | undefined }>();
    const merges: Node[] = [];
    for (const pair of field.node.items) {
      const keyNode = pair.key as Node | null;
      const keyText = isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof keyText !== "string") {
        this.error(
          keyNode ?? field.node,
          field.path,
          `keys must be strings, got ${describe(keyNode ?? undefined)}`,
        );
        continue;
      }
      const keyAt = keyNode as Node;
      if (keyText === MERGE_KEY) {
        merges.push(...this.mergeSources(pair.value, keyAt, field.path));
        continue;
      }
      if (keyText.startsWith(EXTENSION_KEY_PREFIX)) continue;
      if (!keys.includes(keyText)) {
        this.error(keyAt, join(field.path, keyText), `unknown key '${keyText}'${didYouMean(keyText, keys)}`);
        continue;
      }
      // The yaml parser already reports duplicate keys; keep the first.
      if (!entries.has(keyText)) entries.set(keyText, { key: keyAt, value: this.resolve(pair.value) });
    }
    for (const source of merges) {
      if (!isMap(source)) continue;
      for (const pair of source.items) {
        const keyNode = pair.key as Node | null;
        const keyText = isScalar(keyNode) ? keyNode.value : undefined;
        if (typeof keyText !== "string" || keyText === MERGE_KEY || keyText.startsWith(EXTENSION_KEY_PREFIX))
          continue;
        if (!keys.includes(keyText)) {
          this.error(
            keyNode as Node,
            join(field.path, keyText),
            `unknown key '${keyText}'${didYouMean(keyText, keys)}`,
          );
          continue;
        }
        if (!entries.has(keyText))
          entries.set(keyText, { key: keyNode as Node, value: this.resolve(pair.value) });
      }
    }
    return new MapReader(this, field, entries);
  }

  private mergeSources(value: unknown, keyNode: Node, path: string): Node[] {
    const node = this.resolve(value);
    const sources = isSeq(node) ? node.items.map((item) => this.resolve(item)) : [node];
    const out: Node[] = [];
    for (const source of sources) {
      if (isMap(source)) out.push(source);
      else this.error(source ?? keyNode, path, "a merge key (<<) needs a mapping or a list of mappings");
    }
    return out;
  }

  /** The items of a sequence as fields (`path[i]`), or undefined when the value is not a sequence. */
  list(field: Field, what = "a list"): Field[] | undefined {
    if (!isSeq(field.node)) return this.fail(field, `expected ${what}, got ${describe(field.node)}`);
    const out: Field[] = [];
    field.node.items.forEach((item, index) => {
      const node = this.resolve(item);
      const path = `${field.path}[${index}]`;
      if (node === undefined) this.error(field.node, path, "empty list item");
      else out.push({ node, path });
    });
    return out;
  }

  string(field: Field, what = "a string"): string | undefined {
    const value = scalarValue(field.node);
    if (typeof value === "string") {
      if (value.length === 0) return this.fail(field, `expected ${what}, got an empty string`);
      return value;
    }
    const hint =
      typeof value === "number" || typeof value === "boolean" ? ` (quote it: "${String(value)}")` : "";
    return this.fail(field, `expected ${what}, got ${describe(field.node)}${hint}`);
  }

  integer(field: Field, min: number, max: number, what = "an integer"): number | undefined {
    const value = scalarValue(field.node);
    if (typeof value !== "number" || !Number.isInteger(value)) {
      return this.fail(field, `expected ${what} (${min}..${max}), got ${describe(field.node)}`);
    }
    if (value < min || value > max)
      return this.fail(field, `${label(field)}${value} is out of range (${min}..${max})`);
    return value;
  }

  boolean(field: Field): boolean | undefined {
    const value = scalarValue(field.node);
    if (typeof value === "boolean") return value;
    return this.fail(field, `expected true or false, got ${describe(field.node)}`);
  }

  /**
   * A file or directory path, which must be absolute: vipd runs from wherever systemd starts it,
   * so a relative path would depend on that. Nothing is opened here (parsing reads no files).
   */
  absolutePath(field: Field, what = "a path"): string | undefined {
    const path = this.string(field, what);
    if (path !== undefined && !isAbsolute(path))
      return this.fail(field, `'${path}' must be an absolute path`);
    return path;
  }

  /** A duration string (`100ms`, `1.5s`, `5m`) in milliseconds, within min..max. */
  duration(field: Field, min: number, max: number): number | undefined {
    const value = scalarValue(field.node);
    if (typeof value !== "string") {
      const hint = typeof value === "number" ? ` (add a unit, e.g. '${value}s' or '${value}ms')` : "";
      return this.fail(
        field,
        `expected a duration such as '1s' or '100ms', got ${describe(field.node)}${hint}`,
      );
    }
    const parsed = parseDuration(value);
    if (!parsed.ok) return this.fail(field, parsed.reason);
    if (parsed.ms < min || parsed.ms > max) {
      return this.fail(
        field,
        `${label(field)}${value} is out of range (${formatDuration(min)}..${formatDuration(max)})`,
      );
    }
    return parsed.ms;
  }

  /** 1-based line of a node, for "first defined at line N" hints. */
  lineOf(node: Node | undefined): number {
    return this.lineCounter.linePos(node?.range?.[0] ?? 0).line;
  }

  oneOf<T extends string>(field: Field, values: readonly T[], what = "value"): T | undefined {
    const value = scalarValue(field.node);
    if (typeof value === "string" && (values as readonly string[]).includes(value)) return value as T;
    const shown = typeof value === "string" ? `'${value}'` : describe(field.node);
    const hint = typeof value === "string" ? didYouMean(value, values) : "";
    return this.fail(field, `unknown ${what} ${shown}${hint}; expected one of: ${values.join(", ")}`);
  }
}

/** Field access on one mapping. `null` values (`key:` with nothing after it) count as absent. */
export class MapReader {
  constructor(
    private readonly reader: Reader,
    readonly field: Field,
    private readonly entries: Map<string, { key: Node; value: Node | undefined }>,
  ) {}

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  get(key: string): Field | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || entry.value === undefined || isNull(entry.value)) return undefined;
    return { node: entry.value, key: entry.key, path: join(this.field.path, key) };
  }

  /** Like get, but reports a missing key (at the mapping, or at the key when its value is empty). */
  required(key: string): Field | undefined {
    const field = this.get(key);
    if (field !== undefined) return field;
    const entry = this.entries.get(key);
    const path = join(this.field.path, key);
    if (entry !== undefined) this.reader.error(entry.key, path, `'${key}' needs a value`);
    else this.reader.error(this.field.node, path, `missing required key '${key}'`);
    return undefined;
  }

  /** The key node of a present key (for errors about the key itself). */
  keyNode(key: string): Node | undefined {
    return this.entries.get(key)?.key;
  }
}

export function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** `key ` for a field introduced by a key (so messages read "vrid 256 is out of range"), else "". */
function label(field: Field): string {
  const key = isScalar(field.key) ? field.key.value : undefined;
  return typeof key === "string" ? `${key} ` : "";
}

export function isNull(node: Node | undefined): boolean {
  return isScalar(node) && node.value === null;
}

function scalarValue(node: Node): unknown {
  return isScalar(node) ? node.value : undefined;
}

/** A short description of a node for "expected X, got Y" messages. */
export function describe(node: Node | undefined): string {
  if (node === undefined) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const value = node.value;
    if (value === null) return "null";
    if (typeof value === "string") return `string '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
    if (typeof value === "number") return `number ${value}`;
    if (typeof value === "boolean") return `boolean ${value}`;
    return typeof value;
  }
  return "an alias";
}

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are keepalived text, where ${NAME} is its own syntax
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import {
  type Definition,
  formatMigrateError,
  formatWarning,
  type LexContext,
  lex,
  type MigrateWarning,
  stripComment,
  type Token,
} from "../../../src/migrate/lexer.js";

function context(overrides: Partial<LexContext> = {}): LexContext & { warnings: MigrateWarning[] } {
  const warnings: MigrateWarning[] = [];
  return {
    defs: new Map<string, Definition>(),
    warn: (w) => warnings.push(w),
    include: () => {
      throw new Error("no include expected");
    },
    pwd: "/etc/keepalived",
    warnings,
    ...overrides,
  };
}

/** Tokens as compact strings: words as their text (quoted ones in «»), braces, and ⏎ for end of line. */
function show(tokens: Token[]): string[] {
  return tokens.map((t) => {
    if (t.kind === "word") return t.quoted ? `«${t.text}»` : t.text;
    if (t.kind === "open") return "{";
    if (t.kind === "close") return "}";
    return "⏎";
  });
}

function words(text: string, ctx = context()): string[] {
  return show(lex(text, "k.conf", ctx));
}

function thrown(fn: () => unknown): VipdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VipdError);
    return err as VipdError;
  }
  throw new Error("expected an error");
}

describe("lex: words, braces, comments", () => {
  it("splits words on whitespace and makes braces separate tokens, with 1-based positions", () => {
    const tokens = lex("vrrp_instance VI_1 {\n\tstate MASTER\n}{x}\n", "k.conf", context());
    expect(show(tokens)).toEqual([
      "vrrp_instance",
      "VI_1",
      "{",
      "⏎",
      "state",
      "MASTER",
      "⏎",
      "}",
      "{",
      "x",
      "}",
      "⏎",
    ]);
    const at = tokens.map((t) => `${t.pos.line}:${t.pos.col}`);
    expect(at).toEqual([
      "1:1",
      "1:15",
      "1:20",
      "1:21",
      "2:2",
      "2:8",
      "2:14",
      "3:1",
      "3:2",
      "3:3",
      "3:4",
      "3:5",
    ]);
    expect(tokens.every((t) => t.pos.file === "k.conf")).toBe(true);
  });

  it("drops # and ! comments anywhere on a line, but not inside quotes", () => {
    expect(words("# whole line\n! also\npriority 100 # trailing\nweight 1! bang")).toEqual([
      "priority",
      "100",
      "⏎",
      "weight",
      "1",
      "⏎",
    ]);
    expect(words('notify "/bin/x # not a comment" ! but this is')).toEqual([
      "notify",
      "«/bin/x # not a comment»",
      "⏎",
    ]);
    expect(stripComment("a 'b ! c' ! d", "k.conf", 1)).toBe("a 'b ! c' ");
  });

  it("handles CRLF line ends and blank lines", () => {
    const tokens = lex("a 1\r\n\r\n  \r\nb 2\r\n", "k.conf", context());
    expect(show(tokens)).toEqual(["a", "1", "⏎", "b", "2", "⏎"]);
    expect(tokens[3]?.pos).toEqual({ file: "k.conf", line: 4, col: 1 });
  });

  it("joins quoted parts with adjacent text into one word and keeps quoted whitespace (keepalived.conf(5))", () => {
    expect(words(`x abcd" efg h jkl "mnop`)).toEqual(["x", "«abcd efg h jkl mnop»", "⏎"]);
    expect(words(`x abcd "efg h jkl" mnop`)).toEqual(["x", "abcd", "«efg h jkl»", "mnop", "⏎"]);
    expect(words(`script '/bin/check --name "web"'`)).toEqual(["script", '«/bin/check --name "web"»', "⏎"]);
    expect(words(`x "{ not a block }"`)).toEqual(["x", "«{ not a block }»", "⏎"]);
  });

  it('decodes escapes inside quotes: \\t \\n \\\\ \\" octal, hex, control', () => {
    const [, word] = lex(String.raw`x "a\tb\nc\\d\"e\101\x42\cA\q"`, "k.conf", context());
    expect(word?.kind === "word" && word.text).toBe('a\tb\nc\\d"eAB\x01q');
  });

  it("reports an unterminated quote at the quote", () => {
    const err = thrown(() => lex('ok\nnotify "/bin/x', "k.conf", context()));
    expect(err.code).toBe("MIGRATE_SYNTAX");
    expect(formatMigrateError(err)).toBe('k.conf:2:8: unterminated " string');
  });
});

describe("lex: parameters", () => {
  it("defines $NAME=VALUE and substitutes $NAME (before whitespace/end) and ${NAME} (anywhere)", () => {
    const ctx = context();
    expect(words("$NET=10.0.0\n$P=150\npriority $P\naddr ${NET}.1/24\nkeep $NETx ${UNDEFINED}", ctx)).toEqual(
      ["priority", "150", "⏎", "addr", "10.0.0.1/24", "⏎", "keep", "$NETx", "${UNDEFINED}", "⏎"],
    );
    expect(ctx.defs.get("P")).toEqual({ lines: ["150"], pos: { file: "k.conf", line: 2, col: 1 } });
  });

  it("substitutes recursively, at use time (keepalived.conf(5) example)", () => {
    const text = [
      "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}",
      "$ADDRESS_BASE_SUB=0",
      "${ADDRESS_BASE}.100/32",
      "$ADDRESS_BASE_SUB=10",
      "${ADDRESS_BASE}.100/32",
    ].join("\n");
    expect(words(text)).toEqual(["10.2.0.100/32", "⏎", "10.2.10.100/32", "⏎"]);
  });

  it("puts substituted text at the column of its $ and keeps the columns after it", () => {
    const tokens = lex("$V=10.1.1.1\nx ${V} y", "k.conf", context());
    expect(tokens.map((t) => (t.kind === "word" ? `${t.text}@${t.pos.col}` : t.kind))).toEqual([
      "x@1",
      "10.1.1.1@3",
      "y@8",
      "eol",
    ]);
  });

  it("expands multiline definitions into lines, each processed again (definitions, conditionals)", () => {
    const text = [
      "$RS= \\",
      "real_server 10.0.0.${N} 80 { \\",
      "    @lb1 weight 5 \\",
      "    weight 1 \\",
      "}",
      "$N=1",
      "$RS",
      "$N=2",
      "$RS",
    ].join("\n");
    const ctx = context({ configId: "lb1" });
    expect(words(text, ctx)).toEqual([
      ...["real_server", "10.0.0.1", "80", "{", "⏎", "weight", "5", "⏎", "weight", "1", "⏎", "}", "⏎"],
      ...["real_server", "10.0.0.2", "80", "{", "⏎", "weight", "5", "⏎", "weight", "1", "⏎", "}", "⏎"],
    ]);
    const first = lex(text, "k.conf", context({ configId: "lb1" }))[0];
    expect(first?.pos).toEqual({ file: "k.conf", line: 7, col: 1 });
  });

  it("processes a definition or a conditional produced by substitution", () => {
    expect(words("$IF_MAIN=@main\n$IF_MAIN priority 240\nweight 1", context({ configId: "main" }))).toEqual([
      "priority",
      "240",
      "⏎",
      "weight",
      "1",
      "⏎",
    ]);
    expect(words("$IF_MAIN=@main\n$IF_MAIN priority 240", context({ configId: "other" }))).toEqual([]);
  });

  it("knows ${_PWD}, ${_HASH} and ${_INSTANCE} (with a config-id)", () => {
    expect(words("a ${_PWD}/x ${_HASH}1 ${_INSTANCE}", context({ configId: "lb2" }))).toEqual([
      "a",
      "/etc/keepalived/x",
      "#1",
      "lb2",
      "⏎",
    ]);
    expect(words("a ${_INSTANCE}")).toEqual(["a", "${_INSTANCE}", "⏎"]);
  });

  it("stops a self-referencing parameter with an error at the reference", () => {
    const err = thrown(() => lex("$A=x${A}\nvalue ${A}", "k.conf", context()));
    expect(err.code).toBe("MIGRATE_SUBSTITUTION");
    expect(formatMigrateError(err)).toMatch(/^k\.conf:2:7: parameter substitution does not end/);
  });

  it("reports a multiline definition that never ends", () => {
    const err = thrown(() => lex("x 1\n$M= \\\na \\\nb \\", "k.conf", context()));
    expect(formatMigrateError(err)).toBe("k.conf:2:1: multiline definition of $M is not ended");
  });
});

describe("lex: conditionals", () => {
  it("keeps @id lines only for that config-id, and @^id lines for any other", () => {
    const text = "@main router_id main\n@backup router_id backup\n@^main x 1";
    expect(words(text, context({ configId: "main" }))).toEqual(["router_id", "main", "⏎"]);
    expect(words(text, context({ configId: "backup" }))).toEqual(["router_id", "backup", "⏎", "x", "1", "⏎"]);
  });

  it("without a config-id, skips @id lines and keeps @^id lines, warning for each at the @", () => {
    const ctx = context();
    expect(words("  @main router_id main\n@^main router_id other", ctx)).toEqual(["router_id", "other", "⏎"]);
    expect(ctx.warnings.map((w) => formatWarning(w))).toEqual([
      "k.conf:1:3: @main: no config-id given (--config-id): line skipped, as if the config-id were not 'main'",
      "k.conf:2:1: @^main: no config-id given (--config-id): line kept, as if the config-id were not 'main'",
    ]);
  });

  it("warns about a bare @ and skips the line", () => {
    const ctx = context();
    expect(words("@ priority 1", ctx)).toEqual([]);
    expect(ctx.warnings[0]?.message).toMatch(/conditional without a config-id/);
  });
});

describe("lex: include lines", () => {
  it("hands the keyword, the (unquoted) pattern and its position to the include hook, and splices its tokens", () => {
    const calls: string[] = [];
    const ctx = context({
      include: (keyword, pattern, pos) => {
        calls.push(`${keyword} ${pattern} @${pos.line}:${pos.col}`);
        return [{ kind: "word", text: "included", quoted: false, pos }];
      },
    });
    expect(words('a\n  include conf.d/{a,b}.conf\nincludea "with space/*.conf"\nb', ctx)).toEqual([
      "a",
      "⏎",
      "included",
      "included",
      "b",
      "⏎",
    ]);
    expect(calls).toEqual(["include conf.d/{a,b}.conf @2:3", "includea with space/*.conf @3:1"]);
  });

  it("substitutes parameters in include lines and rejects an include without a pattern", () => {
    const seen: string[] = [];
    const include = (_keyword: string, pattern: string): Token[] => {
      seen.push(pattern);
      return [];
    };
    words("$D=conf.d\ninclude ${D}/*.conf", context({ include }));
    expect(seen).toEqual(["conf.d/*.conf"]);
    const err = thrown(() => lex("include", "k.conf", context()));
    expect(formatMigrateError(err)).toBe("k.conf:1:1: include needs a file name or pattern");
  });
});

describe("formatMigrateError", () => {
  it("formats only migrate errors that carry a position", () => {
    expect(formatMigrateError(new Error("x"))).toBeUndefined();
    expect(
      formatMigrateError(new VipdError("CONFIG_INVALID", "x", { file: "a", line: 1, col: 1 })),
    ).toBeUndefined();
    expect(formatMigrateError(new VipdError("MIGRATE_SYNTAX", "bad", { file: "a", line: 3, col: 4 }))).toBe(
      "a:3:4: bad",
    );
  });
});

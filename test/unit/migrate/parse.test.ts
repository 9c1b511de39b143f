import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { formatMigrateError, formatWarning } from "../../../src/migrate/lexer.js";
import {
  expandBraces,
  expandInclude,
  parseKeepalived,
  parseKeepalivedFile,
  type Statement,
} from "../../../src/migrate/parse.js";

const dir = mkdtempSync(join(tmpdir(), "vipd-migrate-parse-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string): string {
  const full = join(dir, path);
  mkdirSync(join(full, ".."), { recursive: true });
  writeFileSync(full, text);
  return full;
}

/** A statement tree as nested arrays: "keyword arg..." strings, blocks as arrays after them. */
function shape(statements: Statement[]): unknown[] {
  return statements.flatMap((s) => {
    const head = [s.keyword.text, ...s.args.map((a) => a.text)].join(" ");
    return s.block === undefined ? [head] : [head, shape(s.block)];
  });
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VipdError);
    expect((err as VipdError).code).toMatch(/^MIGRATE_/);
    return formatMigrateError(err) ?? "";
  }
  throw new Error("expected an error");
}

describe("parseKeepalived: the block tree", () => {
  it("builds statements with arguments and nested blocks, keeping positions", () => {
    const text = `global_defs {
    router_id lb1
}
vrrp_instance VI_1 {
    virtual_ipaddress {
        10.0.0.1/24 dev eth0
    }
    nopreempt
}
`;
    const parsed = parseKeepalived(text, "k.conf");
    expect(shape(parsed.statements)).toEqual([
      "global_defs",
      ["router_id lb1"],
      "vrrp_instance VI_1",
      ["virtual_ipaddress", ["10.0.0.1/24 dev eth0"], "nopreempt"],
    ]);
    const vip = parsed.statements[1]?.block?.[0]?.block?.[0];
    expect(vip?.keyword.pos).toEqual({ file: "k.conf", line: 6, col: 9 });
    expect(vip?.args[1]?.pos).toEqual({ file: "k.conf", line: 6, col: 25 });
    expect(parsed.files).toEqual(["k.conf"]);
    expect(parsed.warnings).toEqual([]);
  });

  it("accepts a '{' on the next line, and blocks written on one line", () => {
    const text = `virtual_server 10.0.0.1 80
{
    real_server 10.0.0.2 80 { weight 2 }
    url { path /x } status 1
}`;
    expect(shape(parseKeepalived(text, "k.conf").statements)).toEqual([
      "virtual_server 10.0.0.1 80",
      ["real_server 10.0.0.2 80", ["weight 2"], "url", ["path /x"], "status 1"],
    ]);
  });

  it("marks quoted words", () => {
    const [s] = parseKeepalived(`notify_master "/bin/notify master" root`, "k.conf").statements;
    expect(s?.args.map((a) => [a.text, a.quoted])).toEqual([
      ["/bin/notify master", true],
      ["root", false],
    ]);
  });

  it("reports a '{' that is never closed at the brace", () => {
    expect(errorOf(() => parseKeepalived("a {\n  b {\n  }\n", "k.conf"))).toBe(
      "k.conf:1:3: '{' is never closed",
    );
  });

  it("reports a '}' that closes nothing", () => {
    expect(errorOf(() => parseKeepalived("a {\n}\n}\n", "k.conf"))).toBe("k.conf:3:1: '}' closes no block");
  });

  it("reports a '{' with no keyword before it", () => {
    expect(errorOf(() => parseKeepalived("{\n}", "k.conf"))).toBe("k.conf:1:1: '{' has no keyword before it");
    expect(errorOf(() => parseKeepalived("a { }\n{ }", "k.conf"))).toBe(
      "k.conf:2:1: '{' has no keyword before it",
    );
  });
});

describe("parseKeepalivedFile: includes", () => {
  it("reads the main file and resolves include globs relative to the including file, in sorted order", () => {
    write("inc/sub/b.conf", "vrrp_instance B {\n}\n");
    write("inc/sub/a.conf", "vrrp_instance A {\n    include ../leaf.conf\n}\n");
    write("inc/leaf.conf", "priority 7\n");
    write("inc/sub/.hidden.conf", "vrrp_instance HIDDEN {\n}\n");
    const main = write("inc/main.conf", "include sub/*.conf\nvirtual_server 10.0.0.1 80 {\n}\n");
    const parsed = parseKeepalivedFile(main);
    expect(shape(parsed.statements)).toEqual([
      "vrrp_instance A",
      ["priority 7"],
      "vrrp_instance B",
      [],
      "virtual_server 10.0.0.1 80",
      [],
    ]);
    expect(parsed.files).toEqual([
      main,
      join(dir, "inc/sub/a.conf"),
      join(dir, "inc/leaf.conf"),
      join(dir, "inc/sub/b.conf"),
    ]);
    const priority = parsed.statements[0]?.block?.[0];
    expect(priority?.keyword.pos).toEqual({ file: join(dir, "inc/leaf.conf"), line: 1, col: 1 });
  });

  it("shares parameter definitions between a file and the files it includes", () => {
    write("defs/part.conf", "priority $PRIO\n$AFTER=2\n");
    const main = write("defs/main.conf", "$PRIO=42\ninclude part.conf\nweight $AFTER\n");
    expect(shape(parseKeepalivedFile(main).statements)).toEqual(["priority 42", "weight 2"]);
  });

  it("expands csh-style braces and absolute patterns", () => {
    write("brace/x.conf", "x 1\n");
    write("brace/y.conf", "y 1\n");
    const main = write("brace/main.conf", `include {x,y}.conf\ninclude ${join(dir, "brace")}/[x].conf\n`);
    expect(shape(parseKeepalivedFile(main).statements)).toEqual(["x 1", "y 1", "x 1"]);
  });

  it("warns (and goes on) when an include matches no file", () => {
    const main = write("none/main.conf", "a 1\n  include nothing/*.conf\nb 2\n");
    const parsed = parseKeepalivedFile(main);
    expect(shape(parsed.statements)).toEqual(["a 1", "b 2"]);
    expect(parsed.warnings.map((w) => formatWarning(w))).toEqual([
      `${main}:2:3: include: 'nothing/*.conf' matches no file; nothing included`,
    ]);
  });

  it("reports an include cycle at the include line that closes it", () => {
    write("cycle/b.conf", "b 1\ninclude a.conf\n");
    const a = write("cycle/a.conf", "include b.conf\n");
    const b = join(dir, "cycle/b.conf");
    expect(errorOf(() => parseKeepalivedFile(a))).toBe(`${b}:2:1: include cycle: ${a} -> ${b} -> ${a}`);
    const self = write("cycle/self.conf", "x 1\n\tinclude self.conf\n");
    expect(errorOf(() => parseKeepalivedFile(self))).toBe(`${self}:2:2: include cycle: ${self} -> ${self}`);
  });

  it("reports errors in an included file at their own file and line", () => {
    write("bad/broken.conf", "x {\n");
    const main = write("bad/main.conf", "a 1\ninclude broken.conf\n");
    expect(errorOf(() => parseKeepalivedFile(main))).toBe(
      `${join(dir, "bad/broken.conf")}:1:3: '{' is never closed`,
    );
  });

  it("reports an unreadable main file at 1:1 and an unreadable included file at its include line", () => {
    const missing = join(dir, "missing.conf");
    expect(errorOf(() => parseKeepalivedFile(missing))).toBe(
      `${missing}:1:1: cannot read ${missing}: no such file`,
    );
    expect(errorOf(() => parseKeepalivedFile(dir))).toBe(`${dir}:1:1: cannot read ${dir}: is a directory`);
    const secret = write("perm/secret.conf", "x 1\n");
    const main = write("perm/main.conf", "a 1\n  include secret.conf\n");
    const readFile = (path: string): string => {
      if (path !== secret) return readFileSync(path, "utf8");
      throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    };
    expect(errorOf(() => parseKeepalivedFile(main, { readFile }))).toBe(
      `${main}:2:3: cannot read included file ${secret}: permission denied`,
    );
  });
});

describe("include patterns", () => {
  it("expands braces, nested, leaving comma-less braces alone", () => {
    expect(expandBraces("a{b,c{d,e}}f")).toEqual(["abf", "acdf", "acef"]);
    expect(expandBraces("{foo/{,cat,dog},bar}")).toEqual(["foo/", "foo/cat", "foo/dog", "bar"]);
    expect(expandBraces("x{y}z")).toEqual(["x{y}z"]);
  });

  it("matches *, ? and [...] per path segment, files only", () => {
    write("glob/d1/one.conf", "");
    write("glob/d1/two.conf", "");
    write("glob/d2/one.conf", "");
    write("glob/d2/notes.txt", "");
    mkdirSync(join(dir, "glob/d3.conf"), { recursive: true });
    const base = join(dir, "glob");
    expect(expandInclude("d*/one.conf", base)).toEqual([
      join(base, "d1/one.conf"),
      join(base, "d2/one.conf"),
    ]);
    expect(expandInclude("d?/t*", base)).toEqual([join(base, "d1/two.conf")]);
    expect(expandInclude("d[!1]/*", base)).toEqual([join(base, "d2/notes.txt"), join(base, "d2/one.conf")]);
    expect(expandInclude("*.conf", base)).toEqual([]);
    expect(expandInclude("d1/one.conf", base)).toEqual([join(base, "d1/one.conf")]);
    expect(expandInclude("d{1,2}/one.conf", base)).toEqual([
      join(base, "d1/one.conf"),
      join(base, "d2/one.conf"),
    ]);
  });
});

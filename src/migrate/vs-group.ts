/**
 * keepalived's virtual_server_group: a named list of service addresses that one
 * `virtual_server group NAME { … }` block serves with the same real servers and checks. vipd
 * has one virtual server per address, so migrate expands the group: one virtual server per entry,
 * each with the block's settings, real servers and checks (vipd's health checker probes a real
 * server shared by several of them once).
 *
 * Entries, as keepalived 2.2.7 reads them (check_parser.c): `ADDRESS PORT`, `ADDRESS-LAST PORT`
 * (a range over the address's last IPv4 octet, or last IPv6 group, in hex), and `fwmark N`.
 */
import { ipFamily } from "../config/net.js";
import type { ConvertTools } from "./checkers.js";
import type { Statement, Word } from "./parse.js";

/** The words a `virtual_server` line would have for one entry: [address, port] or [fwmark, N]. */
export type GroupEntry = Word[];

/** More addresses than this in one range is surely a typo: keepalived would create them all. */
const MAX_RANGE = 256;

export function readVirtualServerGroups(
  top: readonly Statement[],
  tools: Pick<ConvertTools, "warn" | "notTranslated">,
): Map<string, GroupEntry[]> {
  const groups = new Map<string, GroupEntry[]>();
  for (const s of top) {
    if (s.keyword.text !== "virtual_server_group") continue;
    const name = s.args[0]?.text;
    if (name === undefined) {
      tools.warn(s, "has no name; skipped");
      continue;
    }
    if (groups.has(name)) {
      tools.warn(s, `duplicate virtual_server_group '${name}'; skipped`);
      continue;
    }
    const entries: GroupEntry[] = [];
    for (const e of s.block ?? []) {
      if (e.keyword.text === "fwmark") {
        const mark = e.args[0];
        if (mark === undefined) tools.warn(e, "fwmark needs a number; dropped");
        else entries.push([e.keyword, mark]);
        continue;
      }
      const port = e.args[0];
      if (port === undefined) {
        tools.warn(e, "needs a port (ADDRESS PORT); dropped", e.keyword.text);
        continue;
      }
      const addresses = expandRange(e.keyword, tools);
      for (const address of addresses) entries.push([address, port]);
    }
    groups.set(name, entries);
  }
  return groups;
}

/** `10.0.0.1-10` → 10.0.0.1 … 10.0.0.10 (words at the range's position); a plain address as is. */
function expandRange(word: Word, tools: Pick<ConvertTools, "warn">): Word[] {
  const dash = word.text.lastIndexOf("-");
  if (dash === -1 || ipFamily(word.text) !== 0) return [word];
  const first = word.text.slice(0, dash);
  const lastText = word.text.slice(dash + 1);
  const family = ipFamily(first);
  const v6 = family === 6;
  const sep = v6 ? ":" : ".";
  const head = first.slice(0, first.lastIndexOf(sep) + 1);
  const startText = first.slice(head.length);
  const radix = v6 ? 16 : 10;
  const digits = v6 ? /^[0-9a-fA-F]{1,4}$/ : /^\d{1,3}$/;
  if (family === 0 || !digits.test(startText) || !digits.test(lastText)) {
    tools.warn(word, `'${word.text}' is neither an address nor a range (ADDRESS-LAST); dropped`);
    return [];
  }
  const start = Number.parseInt(startText, radix);
  const end = Number.parseInt(lastText, radix);
  const max = v6 ? 0xffff : 255;
  if (end < start || end > max) {
    tools.warn(word, `range '${word.text}' ends before it starts or beyond ${v6 ? "ffff" : "255"}; dropped`);
    return [];
  }
  if (end - start + 1 > MAX_RANGE) {
    tools.warn(
      word,
      `range '${word.text}' has ${end - start + 1} addresses (more than ${MAX_RANGE}); dropped`,
    );
    return [];
  }
  const out: Word[] = [];
  for (let n = start; n <= end; n++) out.push({ ...word, text: `${head}${n.toString(radix)}` });
  return out;
}

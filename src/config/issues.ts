/** One problem found in a config file. `line` and `col` are 1-based. */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  message: string;
  /** Where in the config the problem is, e.g. `vrrp.instances[0].vrid` ("" for the whole file). */
  path: string;
}

/** `FILE:LINE:COL: message`, the format `vipd check` prints (and editors/CI understand). */
export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.col}: ${issue.message}`;
}

/** Orders issues by position, then message; drops exact duplicates (an aliased node can be reached twice). */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const key = formatIssue(issue);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col || a.message.localeCompare(b.message));
}

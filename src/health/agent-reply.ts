/**
 * HAProxy's agent-check reply, parsed (pure). The agent answers one ASCII line of words separated
 * by spaces, tabs or commas, in any order and any case; the last word of a category wins, as in
 * HAProxy. Grammar as vipd reads it:
 *
 * - `N%` and `weight:N%`: a share of the configured weight. N is decimal digits only (HAProxy
 *   rejects `-5%`, `1.5%`, `50%x` as garbage, and so do we). HAProxy lets a share exceed 100% (up
 *   to its own weight ceiling of 256); vipd clamps it to 100%, because the configured weight is
 *   the operator's ceiling and an agent that misreports (a load figure of 400%, say) must not
 *   pull most of a service's traffic onto one server.
 * - `weight:N`: an absolute weight, 0..65535 (IPVS's range). A vipd extension: HAProxy has no
 *   absolute form in agent replies. Out of range, the word is ignored rather than clamped, since a
 *   number beyond any valid weight says the agent is broken, not that it wants the maximum.
 * - `ready`, `drain`, `maint`: the administrative state.
 * - `up`; `down`, `fail`, `stopped`: the agent's opinion of the server's health.
 * - `maxconn:N`: recognised and ignored — vipd's connection limits are its configured
 *   upper/lower thresholds, not something an agent sets.
 * - `#`: the rest of the line is a free-text reason. HAProxy only ends a word at a delimiter and
 *   only uses the text when a health word is present; vipd ends the words at any `#`
 *   (`down#disk full` is down) and always keeps the reason, so it reaches the logs.
 *
 * Unknown words are ignored, and a line with nothing recognised changes nothing, matching
 * HAProxy (which only logs them). The line ends at the first CR or LF; text after it is ignored.
 * The only errors are a line that cannot be an agent's (control characters: a binary protocol on
 * that port) or one longer than MAX_AGENT_LINE.
 */
import type { AgentReply } from "./types.js";

/** The longest reply line read from an agent, in bytes (ASCII: characters). */
export const MAX_AGENT_LINE = 1024;

/** The largest IPVS weight. */
const MAX_WEIGHT = 65535;

const HEALTH_WORDS: Record<string, "up" | "down"> = { up: "up", down: "down", fail: "down", stopped: "down" };
const ADMIN_WORDS: Record<string, "ready" | "drain" | "maint"> = {
  ready: "ready",
  drain: "drain",
  maint: "maint",
};

// Tab (0x09) is a delimiter; CR and LF end the line before this test runs.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

export function parseAgentReply(line: string): AgentReply | { error: string } {
  const eol = line.search(/[\r\n]/);
  const text = eol < 0 ? line : line.slice(0, eol);
  if (text.length > MAX_AGENT_LINE) return { error: `reply line longer than ${MAX_AGENT_LINE} bytes` };
  if (CONTROL.test(text)) return { error: "control characters in the reply (not an agent?)" };

  const hash = text.indexOf("#");
  const reply: AgentReply = {};
  for (const raw of (hash < 0 ? text : text.slice(0, hash)).split(/[ \t,]+/)) {
    const word = raw.toLowerCase();
    const health = HEALTH_WORDS[word];
    const admin = ADMIN_WORDS[word];
    if (health !== undefined) reply.health = health;
    else if (admin !== undefined) reply.admin = admin;
    else {
      const weight = parseWeight(word);
      if (weight !== undefined) reply.weight = weight;
    }
    // Anything else (maxconn:N, unknown words, the empty strings split leaves) changes nothing.
  }
  if (hash >= 0) {
    const reason = text.slice(hash + 1).trim();
    if (reason !== "") reply.reason = reason;
  }
  return reply;
}

function parseWeight(word: string): AgentReply["weight"] | undefined {
  const m = /^(?:weight:)?(\d+)(%?)$/.exec(word);
  if (m === null) return undefined;
  const bare = !word.startsWith("weight:");
  const percent = m[2] === "%";
  // A bare number is not a weight in HAProxy's grammar (it needs its `%`).
  if (bare && !percent) return undefined;
  const n = Number(m[1]);
  if (percent) return { percent: Math.min(n, 100) };
  return n <= MAX_WEIGHT ? { absolute: n } : undefined;
}

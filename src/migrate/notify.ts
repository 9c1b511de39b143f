/**
 * keepalived's notify scripts → vipd's notify hooks, as keepalived 2.2.7 reads them
 * (lib/notify.c, notify_script_init): the line is re-read with quotes and backslash escapes;
 * its first word is the command, split again into argv the same way (so "script.sh arg" is two
 * words), and a second and third word are the user and group to run it as. keepalived runs the
 * argv without a shell, as vipd does. docs/hooks.md has vipd's side.
 */
import { type ConvertTools, shellWords } from "./checkers.js";
import type { Statement } from "./parse.js";

type Tools = Pick<ConvertTools, "warn">;

/** The instance and sync-group keywords, by the vipd `notify` key they become. */
export const VRRP_NOTIFY_KEYS: Readonly<Record<string, "master" | "backup" | "fault" | "stop" | "any">> = {
  notify: "any",
  notify_master: "master",
  notify_backup: "backup",
  notify_fault: "fault",
  notify_stop: "stop",
};

/** Notify keywords vipd has no hook for, with what to say. */
export const VRRP_NOTIFY_UNTRANSLATED: Readonly<Record<string, string>> = {
  notify_deleted:
    "not translated: vipd runs the instance's `stop` hook when a reload removes it (keepalived's notify_deleted runs instead of notify_stop)",
  notify_master_rx_lower_pri:
    "not translated: vipd has no hook for a master hearing a lower priority (it answers with an advert and gratuitous ARPs, as keepalived does)",
};

/** A script keyword's argv, or undefined (warned) when it has none. */
export function scriptArgv(s: Statement, tools: Tools): string[] | undefined {
  const [script, user, group] = s.args;
  if (script === undefined) {
    tools.warn(s, `${s.keyword.text} needs a script; dropped`);
    return undefined;
  }
  const argv = shellWords(script.text);
  if (argv === undefined || argv.length === 0) {
    const why = argv === undefined ? "has an unterminated quote" : "is empty";
    tools.warn(script, `the script ${why}; dropped`, s.keyword.text);
    return undefined;
  }
  if (user !== undefined) {
    tools.warn(
      user,
      `keepalived runs this script as user '${user.text}'${group === undefined ? "" : ` and group '${group.text}'`}; vipd runs hooks as itself: quote the whole command if '${user.text}' was meant as an argument, or switch user inside the script`,
      s.keyword.text,
    );
  }
  return argv;
}

/**
 * vrrp.track_scripts and vrrp.track_files (keepalived's vrrp_script and vrrp_track_file), and
 * the instances' references to them. The rules they follow at run time are in docs/vrrp.md.
 */
import { isMap } from "yaml";
import { readCommand } from "./check-keys.js";
import { DEFAULTS } from "./defaults.js";
import { CONFIG_KEYS } from "./keys.js";
import type { Field, Reader } from "./reader.js";
import { didYouMean } from "./suggest.js";
import type { TrackFileConfig, TrackRefConfig, TrackScriptConfig } from "./types.js";

const HOUR_MS = 3_600_000;
const MAX_WEIGHT = 254;

export function readTrackScripts(r: Reader, field: Field | undefined): TrackScriptConfig[] {
  const out: TrackScriptConfig[] = [];
  for (const item of definitions(r, field, "a list of track scripts")) {
    const map = r.map(item, CONFIG_KEYS.track_script, "a track script mapping");
    if (map === undefined) continue;
    const errorsBefore = r.errorCount;
    const name = named(r, map.required("name"), out, "track script");
    const commandField = map.required("command");
    const command = commandField === undefined ? undefined : readCommand(r, commandField);
    const intervalField = map.get("interval");
    const intervalMs =
      intervalField === undefined
        ? DEFAULTS.vrrp.trackScriptIntervalMs
        : r.duration(intervalField, 10, HOUR_MS);
    const timeoutField = map.get("timeout");
    const timeoutMs = timeoutField === undefined ? intervalMs : r.duration(timeoutField, 10, HOUR_MS);
    const count = (key: "rise" | "fall") => {
      const f = map.get(key);
      return f === undefined ? 1 : r.integer(f, 1, 1000, "a count");
    };
    const rise = count("rise");
    const fall = count("fall");
    const weight = readWeight(r, map.get("weight"), DEFAULTS.vrrp.trackScriptWeight);
    const initialField = map.get("initial");
    const initial =
      initialField === undefined
        ? undefined
        : r.oneOf(initialField, ["up", "down"] as const, "initial state");
    if (r.errorCount !== errorsBefore) continue;
    out.push({
      name: name as string,
      command: command as string[],
      intervalMs: intervalMs as number,
      timeoutMs: timeoutMs as number,
      rise: rise as number,
      fall: fall as number,
      weight: weight as number,
      ...(initial === undefined ? {} : { initial }),
    });
  }
  return out;
}

export function readTrackFiles(r: Reader, field: Field | undefined): TrackFileConfig[] {
  const out: TrackFileConfig[] = [];
  for (const item of definitions(r, field, "a list of track files")) {
    const map = r.map(item, CONFIG_KEYS.track_file, "a track file mapping");
    if (map === undefined) continue;
    const errorsBefore = r.errorCount;
    const name = named(r, map.required("name"), out, "track file");
    const pathField = map.required("path");
    const path = pathField === undefined ? undefined : r.absolutePath(pathField, "an absolute file path");
    const weight = readWeight(r, map.get("weight"), DEFAULTS.vrrp.trackFileWeight);
    if (r.errorCount !== errorsBefore) continue;
    out.push({ name: name as string, path: path as string, weight: weight as number });
  }
  return out;
}

/**
 * An instance's `track_scripts` / `track_files`: names of definitions, or `{ name, weight }` to
 * override the definition's weight. Undefined when any entry is wrong (each is reported).
 */
export function readTrackRefs(
  r: Reader,
  field: Field | undefined,
  definitions: readonly { name: string; weight: number }[],
  what: "track script" | "track file",
): TrackRefConfig[] | undefined {
  if (field === undefined) return [];
  const items = r.list(field, `a list of ${what} names`);
  if (items === undefined) return undefined;
  const out: TrackRefConfig[] = [];
  let ok = true;
  for (const item of items) {
    let nameField: Field | undefined = item;
    let weightField: Field | undefined;
    if (isMap(item.node)) {
      const map = r.map(item, CONFIG_KEYS.track_ref);
      nameField = map?.required("name");
      weightField = map?.get("weight");
    }
    const name = nameField === undefined ? undefined : r.string(nameField, `a ${what} name`);
    const definition = definitions.find((d) => d.name === name);
    if (name !== undefined && nameField !== undefined && definition === undefined) {
      const section = what === "track script" ? "vrrp.track_scripts" : "vrrp.track_files";
      const names = definitions.map((d) => d.name);
      r.fail(nameField, `unknown ${what} '${name}' (define it in ${section})${didYouMean(name, names)}`);
    } else if (name !== undefined && nameField !== undefined && out.some((t) => t.name === name)) {
      r.fail(nameField, `${what} '${name}' is tracked twice`);
    }
    const weight = definition === undefined ? undefined : readWeight(r, weightField, definition.weight);
    if (name === undefined || definition === undefined || weight === undefined) {
      ok = false;
      continue;
    }
    if (!out.some((t) => t.name === name)) out.push({ name, weight });
    else ok = false;
  }
  return ok ? out : undefined;
}

function definitions(r: Reader, field: Field | undefined, what: string): Field[] {
  return field === undefined ? [] : (r.list(field, what) ?? []);
}

function named(
  r: Reader,
  field: Field | undefined,
  seen: readonly { name: string }[],
  what: string,
): string | undefined {
  if (field === undefined) return undefined;
  const name = r.string(field, `a ${what} name`);
  if (name !== undefined && seen.some((s) => s.name === name))
    return r.fail(field, `duplicate ${what} '${name}'`);
  return name;
}

function readWeight(r: Reader, field: Field | undefined, fallback: number): number | undefined {
  return field === undefined ? fallback : r.integer(field, -MAX_WEIGHT, MAX_WEIGHT, "a weight");
}

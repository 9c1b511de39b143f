#!/usr/bin/env node
// Builds native/ into build/Release/vipd_native.node with node-gyp, offline.
// Run by npm's `install` lifecycle and by hand: `node scripts/build-native.mjs`.
// Headers come from the local Node installation (--nodedir); nothing is downloaded.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "build", "Release", "vipd_native.node");

function fail(message) {
  console.error(`build-native: ${message}`);
  process.exit(1);
}

/** A directory whose include/node/node_api.h belongs to the running Node. */
function findNodeDir() {
  const fromEnv = process.env.npm_config_nodedir;
  if (fromEnv) return fromEnv;
  // <prefix>/bin/node → <prefix>, e.g. /usr/bin/node → /usr
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, "include", "node", "node_api.h"))) return prefix;
  fail(
    `no Node headers next to ${process.execPath} (looked for ${join(prefix, "include/node/node_api.h")}); ` +
      "set npm_config_nodedir to a directory holding include/node (headers are never downloaded)",
  );
}

/** [command, ...leading args] to run node-gyp. */
function findNodeGyp() {
  const fromEnv = process.env.npm_config_node_gyp;
  if (fromEnv && existsSync(fromEnv)) return [process.execPath, fromEnv];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "node-gyp"))) return [join(dir, "node-gyp")];
  }
  const candidates = [
    join(dirname(dirname(process.execPath)), "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
    "/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
    "/usr/share/nodejs/node-gyp/bin/node-gyp.js",
  ];
  for (const js of candidates) if (existsSync(js)) return [process.execPath, js];
  return fail("node-gyp not found (not on PATH, npm_config_node_gyp unset, no npm-bundled copy)");
}

const nodedir = findNodeDir();
const [cmd, ...lead] = findNodeGyp();
const args = [...lead, "rebuild", `--nodedir=${nodedir}`];
console.error(`build-native: ${[cmd, ...args].join(" ")}`);
const res = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: process.env });
if (res.error) fail(`could not run node-gyp: ${res.error.message}`);
if (res.status !== 0) fail(`node-gyp exited with ${res.status ?? res.signal}`);
if (!existsSync(output)) fail(`node-gyp succeeded but ${output} is missing`);
console.error(`build-native: built ${output}`);

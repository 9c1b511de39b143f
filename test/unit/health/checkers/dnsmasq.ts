/**
 * DNS servers for tests: a real one (Debian's dnsmasq, on 127.0.0.1 and a free high port, with
 * no upstream, no hosts file and no configuration file, so it neither reads nor touches the
 * host's resolver setup), and a hand-rolled reply encoder for fake servers that must misbehave
 * in ways a real server will not.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { userInfo } from "node:os";

export const DNSMASQ = "/usr/sbin/dnsmasq";

export interface Dnsmasq {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts dnsmasq answering `records` (name → address: an A or AAAA record) and NXDOMAIN for any
 * other name under `.test`. Resolves once it logs that it has started, which it does
 * after binding its sockets. Fails, rather than skips, when dnsmasq is missing.
 */
export async function startDnsmasq(records: Record<string, string>): Promise<Dnsmasq> {
  if (!existsSync(DNSMASQ))
    throw new Error(
      `${DNSMASQ} not found: install the Debian package dnsmasq-base (apt-get install dnsmasq-base)`,
    );
  let lastError: Error | undefined;
  // The port is free when picked, but another process may take it before dnsmasq binds it.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeUdpPort();
    try {
      return await launch(port, records);
    } catch (err) {
      lastError = err as Error;
      if (!/Address already in use/.test(lastError.message)) break;
    }
  }
  throw lastError;
}

function launch(port: number, records: Record<string, string>): Promise<Dnsmasq> {
  const args = [
    "--keep-in-foreground",
    "--log-facility=-", // to stderr, where the "started" line is awaited
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--no-poll",
    "--pid-file=", // empty: no pid file
    `--port=${port}`,
    "--listen-address=127.0.0.1",
    "--bind-interfaces",
    "--local=/test/", // unknown names under .test: NXDOMAIN, never forwarded
    // --host-record, not --address: for a type it has no record of, a host record's name gets
    // NOERROR with no answer (NODATA), where an --address name would get REFUSED or NXDOMAIN.
    ...Object.entries(records).map(([name, address]) => `--host-record=${name},${address}`),
  ];
  // As root, dnsmasq would switch to the user "dnsmasq" or "nobody", which may not exist.
  if (process.getuid?.() === 0) args.push(`--user=${userInfo().username}`);

  const child = spawn(DNSMASQ, args, { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let log = "";
    const onExit = (code: number | null, sig: string | null) =>
      reject(new Error(`dnsmasq exited (${code ?? sig}) before it started: ${log.trim()}`));
    child.on("error", reject);
    child.once("exit", onExit);
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => {
      log += text;
      if (!/\bstarted, version\b/.test(log) || child.pid === undefined) return;
      child.off("exit", onExit);
      resolve({ port, pid: child.pid, stop: () => stop(child) });
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    process.kill(child.pid!, "SIGTERM");
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.on("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export interface ReplySpec {
  id: number;
  rcode?: number;
  truncated?: boolean;
  /** Omitted: no question section. */
  question?: { name: string; type: number };
  answers?: { name: string; type: number; ttl?: number; data: Buffer }[];
  /** Raise ANCOUNT above the records present. */
  extraAnswerCount?: number;
}

/** A reply datagram, names uncompressed, written out by hand (not with the code under test). */
export function dnsReply(spec: ReplySpec): Buffer {
  const answers = spec.answers ?? [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(spec.id, 0);
  header.writeUInt16BE(0x8000 | 0x0100 | 0x0080 | (spec.truncated ? 0x0200 : 0) | (spec.rcode ?? 0), 2);
  header.writeUInt16BE(spec.question ? 1 : 0, 4);
  header.writeUInt16BE(answers.length + (spec.extraAnswerCount ?? 0), 6);
  const parts: Buffer[] = [header];
  if (spec.question) parts.push(wireName(spec.question.name), u16(spec.question.type), u16(1));
  for (const a of answers) {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(a.type, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(a.ttl ?? 0, 4);
    fixed.writeUInt16BE(a.data.length, 8);
    parts.push(wireName(a.name), fixed, a.data);
  }
  return Buffer.concat(parts);
}

export function wireName(name: string): Buffer {
  const labels = name === "" ? [] : name.split(".");
  return Buffer.concat([
    ...labels.flatMap((l) => [Buffer.from([l.length]), Buffer.from(l, "ascii")]),
    Buffer.from([0]),
  ]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

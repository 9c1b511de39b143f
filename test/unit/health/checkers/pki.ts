/**
 * A throwaway PKI for the https checker tests, made with the openssl CLI (an oracle independent
 * of Node's TLS): a CA; server certificates it signs, with and without the loopback IP SANs; a
 * client certificate it signs; and a self-signed server certificate. EC P-256 keys, valid a day.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface Pair {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface Pki {
  dir: string;
  ca: Pair;
  /** SAN DNS:rs1.test, IP:127.0.0.1, IP:::1; signed by the CA. */
  server: Pair;
  /** SAN DNS:rs1.test only; signed by the CA. */
  serverNoIp: Pair;
  /** clientAuth, signed by the CA. */
  client: Pair;
  /** SAN IP:127.0.0.1, signed by itself. */
  selfSigned: Pair;
  remove(): void;
}

const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export function makePki(): Pki {
  const dir = mkdtempSync(path.join(tmpdir(), "vipd-pki-"));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const pair = (name: string): Pair => ({
    certFile: file(`${name}.crt`),
    keyFile: file(`${name}.key`),
    cert: readFileSync(file(`${name}.crt`)),
    key: readFileSync(file(`${name}.key`)),
  });

  // biome-ignore format: one openssl option and its value per pair reads best
  openssl("req", "-x509", ...newKey, "-keyout", file("ca.key"), "-out", file("ca.crt"), "-days", "1",
    "-subj", "/CN=vipd test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");

  const signed = (name: string, cn: string, extensions: string[]) => {
    writeFileSync(file(`${name}.ext`), `${extensions.join("\n")}\n`);
    openssl(
      "req",
      "-new",
      ...newKey,
      "-keyout",
      file(`${name}.key`),
      "-out",
      file(`${name}.csr`),
      "-subj",
      `/CN=${cn}`,
    );
    // biome-ignore format: one openssl option and its value per pair reads best
    openssl("x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.crt"), "-CAkey", file("ca.key"),
      "-CAcreateserial", "-out", file(`${name}.crt`), "-days", "1", "-extfile", file(`${name}.ext`));
    return pair(name);
  };
  const serverExt = ["basicConstraints=CA:FALSE", "keyUsage=digitalSignature", "extendedKeyUsage=serverAuth"];
  const server = signed("server", "rs1.test", [
    ...serverExt,
    "subjectAltName=DNS:rs1.test,IP:127.0.0.1,IP:::1",
  ]);
  const serverNoIp = signed("server-noip", "rs1.test", [...serverExt, "subjectAltName=DNS:rs1.test"]);
  const client = signed("client", "director.test", [
    "basicConstraints=CA:FALSE",
    "keyUsage=digitalSignature",
    "extendedKeyUsage=clientAuth",
  ]);

  // biome-ignore format: one openssl option and its value per pair reads best
  openssl("req", "-x509", ...newKey, "-keyout", file("self.key"), "-out", file("self.crt"), "-days", "1",
    "-subj", "/CN=self.test", "-addext", "subjectAltName=IP:127.0.0.1");

  return {
    dir,
    ca: pair("ca"),
    server,
    serverNoIp,
    client,
    selfSigned: pair("self"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

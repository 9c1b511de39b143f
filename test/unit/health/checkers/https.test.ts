import type https from "node:https";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { HttpCheckConfig, TlsCheckConfig } from "../../../../src/config/types.js";
import { closeKeptConnections, httpCheck } from "../../../../src/health/checkers/http.js";
import { makePki, type Pair, type Pki } from "./pki.js";
import { deadline, type Host, httpServer, httpSpec, httpsServer, serve, type Tracked } from "./servers.js";

let pki: Pki;
const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(w.message);
beforeAll(() => {
  pki = makePki();
  process.on("warning", onWarning);
});
afterAll(() => {
  process.off("warning", onWarning);
  pki?.remove();
});

const servers: Tracked[] = [];
afterEach(async () => {
  await closeKeptConnections();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function tlsServer(pair: Pair, options: https.ServerOptions = {}, host: Host = "127.0.0.1") {
  const srv = await httpsServer(
    { cert: pair.cert, key: pair.key, ...options },
    (_req, res) => res.end("ok"),
    host,
  );
  servers.push(srv);
  return srv;
}

function spec(tls: Partial<TlsCheckConfig>, over: Partial<HttpCheckConfig> = {}): HttpCheckConfig {
  return httpSpec({ type: "https", tls: { verify: true, ...tls }, ...over });
}

describe("https check: verification", () => {
  it("fails with unknown CA when the CA is not trusted", async () => {
    const srv = await tlsServer(pki.server);
    const result = await httpCheck(srv.target, spec({}), deadline());
    expect(result).toMatchObject({ ok: false, code: "tls", reason: "tls: unknown CA" });
    expect(srv.seen).toHaveLength(0);
    await srv.allClosed();
  });

  it("is ok with ca_file = the CA, checking the IP target against the IP SANs (no SNI sent)", async () => {
    const srv = await tlsServer(pki.server);
    const result = await httpCheck(
      srv.target,
      spec({ caFile: pki.ca.certFile }, { expect: "ok" }),
      deadline(),
    );
    expect(result).toMatchObject({ ok: true, code: "ok", reason: "ok" });
    expect(srv.seen[0]!.servername).toBeFalsy();
    expect(srv.seen[0]!.headers.host).toBe(`127.0.0.1:${srv.port}`);
    await srv.allClosed();
  });

  it("is ok on ::1 against the certificate's IPv6 SAN", async () => {
    const srv = await tlsServer(pki.server, {}, "::1");
    const result = await httpCheck(srv.target, spec({ caFile: pki.ca.certFile }), deadline());
    expect(result).toMatchObject({ ok: true, code: "ok" });
    expect(srv.seen[0]!.headers.host).toBe(`[::1]:${srv.port}`);
  });

  it("fails with name mismatch when the certificate has no SAN for the IP", async () => {
    const srv = await tlsServer(pki.serverNoIp);
    const result = await httpCheck(srv.target, spec({ caFile: pki.ca.certFile }), deadline());
    expect(result).toMatchObject({ ok: false, code: "tls", reason: "tls: name mismatch" });
    await srv.allClosed();
  });

  it("is ok with verify off, whatever the CA", async () => {
    const srv = await tlsServer(pki.server);
    expect(await httpCheck(srv.target, spec({ verify: false }), deadline())).toMatchObject({
      ok: true,
      code: "ok",
    });
    const self = await tlsServer(pki.selfSigned);
    expect(await httpCheck(self.target, spec({ verify: false }), deadline())).toMatchObject({ ok: true });
  });

  it("names a self-signed certificate", async () => {
    const srv = await tlsServer(pki.selfSigned);
    const result = await httpCheck(srv.target, spec({}), deadline());
    expect(result).toMatchObject({ ok: false, code: "tls", reason: "tls: self-signed certificate" });
  });

  it("is error, naming the file, when ca_file cannot be read", async () => {
    const srv = await tlsServer(pki.server);
    const missing = `${pki.dir}/missing.pem`;
    const result = await httpCheck(srv.target, spec({ caFile: missing }), deadline());
    expect(result).toMatchObject({
      ok: false,
      code: "error",
      reason: `cannot read ca_file ${missing}: ENOENT`,
    });
    expect(srv.opened()).toBe(0);
  });
});

describe("https check: SNI", () => {
  it("sends the sni name and verifies the certificate against it", async () => {
    // The certificate without IP SANs: only the name can make verification pass.
    const srv = await tlsServer(pki.serverNoIp);
    const result = await httpCheck(
      srv.target,
      spec({ caFile: pki.ca.certFile, sni: "rs1.test" }),
      deadline(),
    );
    expect(result).toMatchObject({ ok: true, code: "ok" });
    expect(srv.seen[0]!.servername).toBe("rs1.test");
  });

  it("takes the SNI name from a DNS Host header", async () => {
    const srv = await tlsServer(pki.serverNoIp);
    const result = await httpCheck(
      srv.target,
      spec({ caFile: pki.ca.certFile }, { host: "rs1.test:8443" }),
      deadline(),
    );
    expect(result).toMatchObject({ ok: true, code: "ok" });
    expect(srv.seen[0]!.servername).toBe("rs1.test");
    expect(srv.seen[0]!.headers.host).toBe("rs1.test:8443");
  });

  it("prefers sni over the Host header's name", async () => {
    const srv = await tlsServer(pki.server);
    const result = await httpCheck(
      srv.target,
      spec({ caFile: pki.ca.certFile, sni: "other.test" }, { host: "rs1.test" }),
      deadline(),
    );
    expect(result).toMatchObject({ ok: false, code: "tls", reason: "tls: name mismatch" });
  });

  it("fails with name mismatch for an sni the certificate does not name", async () => {
    const srv = await tlsServer(pki.server);
    const result = await httpCheck(
      srv.target,
      spec({ caFile: pki.ca.certFile, sni: "other.test" }),
      deadline(),
    );
    expect(result).toMatchObject({ ok: false, code: "tls", reason: "tls: name mismatch" });
    await srv.allClosed();
  });
});

describe("https check: client certificate", () => {
  const mutual = () => ({ requestCert: true, rejectUnauthorized: true, ca: pki.ca.cert });

  it("is ok with cert_file and key_file", async () => {
    const srv = await tlsServer(pki.server, mutual());
    const tls = { caFile: pki.ca.certFile, certFile: pki.client.certFile, keyFile: pki.client.keyFile };
    expect(await httpCheck(srv.target, spec(tls), deadline())).toMatchObject({ ok: true, code: "ok" });
    expect(srv.seen).toHaveLength(1);
  });

  it("fails with tls when the server requires a certificate and none is configured", async () => {
    // TLS 1.3: the client's handshake is done before the server has judged its (empty)
    // certificate; the server's certificate_required alert arrives while the request waits.
    const srv = await tlsServer(pki.server, mutual());
    const result = await httpCheck(srv.target, spec({ caFile: pki.ca.certFile }), deadline());
    expect(result).toMatchObject({ ok: false, code: "tls", reason: "tls: client certificate required" });
    expect(srv.seen).toHaveLength(0);
    await srv.allClosed();
  });

  it("fails with closed when a Node server does not trust the client certificate", async () => {
    // A Node server judges a client certificate after the handshake and, rejecting it, just
    // closes the connection without an alert: all the client sees is an EOF before any reply.
    // (An OpenSSL-based server that sends a bad_certificate / unknown_ca alert reads `tls`.)
    const srv = await tlsServer(pki.server, mutual());
    // The self-signed pair as a client certificate: not signed by the server's CA.
    const tls = {
      caFile: pki.ca.certFile,
      certFile: pki.selfSigned.certFile,
      keyFile: pki.selfSigned.keyFile,
    };
    const result = await httpCheck(srv.target, spec(tls), deadline());
    expect(result).toMatchObject({ ok: false, code: "closed", reason: "closed by the server" });
    expect(srv.seen).toHaveLength(0);
    await srv.allClosed();
  });
});

describe("https check: connections and failures", () => {
  it("is tls (not TLS) against a plain HTTP port", async () => {
    const srv = await httpServer((_req, res) => res.end("plain"));
    servers.push(srv);
    const result = await httpCheck(srv.target, spec({ verify: false }), deadline());
    expect(result).toMatchObject({ ok: false, code: "tls", reason: "tls: not TLS (wrong version number)" });
    await srv.allClosed();
  });

  it("times out in the handshake on a server that accepts and never answers", async () => {
    const srv = await serve(net.createServer((socket) => socket.resume()));
    servers.push(srv);
    const result = await httpCheck(srv.target, spec({ verify: false }), deadline(200));
    expect(result).toMatchObject({ ok: false, code: "timeout", reason: "timeout (tls handshake)" });
    await srv.allClosed();
  });

  it("makes a full handshake on a fresh connection per check", async () => {
    const srv = await tlsServer(pki.server);
    let handshakes = 0;
    srv.server.on("secureConnection", () => handshakes++);
    for (let i = 0; i < 2; i++)
      expect(await httpCheck(srv.target, spec({ caFile: pki.ca.certFile }), deadline())).toMatchObject({
        ok: true,
      });
    expect(srv.opened()).toBe(2);
    expect(handshakes).toBe(2);
    await srv.allClosed();
  });

  it("keeps one TLS connection with keepalive", async () => {
    const srv = await tlsServer(pki.server);
    const kept = spec({ caFile: pki.ca.certFile }, { keepalive: true, expect: "ok" });
    for (let i = 0; i < 3; i++)
      expect(await httpCheck(srv.target, kept, deadline())).toMatchObject({ ok: true });
    expect(srv.opened()).toBe(1);
    await closeKeptConnections();
    await srv.allClosed();
  });

  it("never set an IP as TLS servername (Node would have warned)", () => {
    expect(warnings.filter((w) => /servername/i.test(w))).toEqual([]);
  });
});

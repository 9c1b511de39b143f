import { describe, expect, it } from "vitest";
import { formatIssue } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/parse.js";
import type { ProbeCheckConfig, VipdConfig } from "../../../src/config/types.js";

function parse(text: string): { config?: VipdConfig; errors: string[] } {
  const result = parseConfig(text, "t.yaml", { hostname: "test-host" });
  return result.ok ? { config: result.config, errors: [] } : { errors: result.errors.map(formatIssue) };
}

function valid(text: string): VipdConfig {
  const { config, errors } = parse(text);
  if (config === undefined) throw new Error(`expected a valid config, got:\n${errors.join("\n")}`);
  return config;
}

const CHECK_LINE = 5;
const CHECK_COL = 12;

/** A service whose `check` value starts at 5:12; `rs` is appended inside the real server's mapping. */
function service(check: string, rs = ""): string {
  return `virtual_servers:
  - name: w
    address: 10.0.0.1
    port: 80
    check: ${check}
    real_servers:
      - { address: 10.0.1.1${rs} }
`;
}

/** The one check of the service's (only) real server. */
function check(text: string): ProbeCheckConfig {
  const checks = valid(service(text)).virtualServers[0]?.realServers[0]?.checks ?? [];
  expect(checks).toHaveLength(1);
  return checks[0] as ProbeCheckConfig;
}

/** The errors of `service(text)`. */
function errors(text: string): string[] {
  const { errors } = parse(service(text));
  if (errors.length === 0) throw new Error("expected the config to be invalid");
  return errors;
}

/** `t.yaml:5:COL: message`, COL being where `needle` starts in the check text. */
function at(text: string, needle: string, message: string): string {
  const index = text.indexOf(needle);
  if (index === -1) throw new Error(`'${needle}' is not in '${text}'`);
  return `t.yaml:${CHECK_LINE}:${CHECK_COL + index}: ${message}`;
}

describe("check keys for every probing type", () => {
  it("fast_interval and down_interval default to the interval, and are read as durations", () => {
    expect(check("{ type: tcp, interval: 3s }")).toMatchObject({
      intervalMs: 3000,
      fastIntervalMs: 3000,
      downIntervalMs: 3000,
    });
    expect(check("{ type: tcp, fast_interval: 1s, down_interval: 1m }")).toMatchObject({
      intervalMs: 2000,
      fastIntervalMs: 1000,
      downIntervalMs: 60_000,
    });
    const text = "{ type: tcp, fast_interval: 5ms }";
    expect(errors(text)).toEqual([at(text, "5ms", "fast_interval 5ms is out of range (10ms..1h)")]);
  });

  it("timeout must fit in fast_interval; down_interval may not be shorter than interval", () => {
    const fast = "{ type: tcp, fast_interval: 500ms }";
    expect(errors(fast)).toEqual([at(fast, "500ms", "timeout 1s is longer than fast_interval 500ms")]);
    const down = "{ type: tcp, interval: 5s, down_interval: 2s }";
    expect(errors(down)).toEqual([at(down, "2s", "down_interval 2s is shorter than interval 5s")]);
  });

  it("suggests the key for a misspelt new key", () => {
    const text = "{ type: tcp, fast_intervall: 1s }";
    expect(errors(text)).toEqual([
      at(text, "fast_intervall", "unknown key 'fast_intervall' (did you mean 'fast_interval'?)"),
    ]);
    const tls = "{ type: https, tls_verfy: false }";
    expect(errors(tls)).toEqual([
      at(tls, "tls_verfy", "unknown key 'tls_verfy' (did you mean 'tls_verify'?)"),
    ]);
  });

  it("initial is up or down, default down", () => {
    expect(check("{ type: tcp }").initial).toBe("down");
    expect(check("{ type: tcp, initial: up }").initial).toBe("up");
    const text = "{ type: tcp, initial: maybe }";
    expect(errors(text)).toEqual([
      at(text, "maybe", "unknown initial state 'maybe'; expected one of: up, down"),
    ]);
  });

  it("connect_address is a canonical IP address of the real server's family", () => {
    expect(check("{ type: tcp, connect_address: 10.0.2.1 }").connectAddress).toBe("10.0.2.1");
    const bad = "{ type: tcp, connect_address: admin.example.com }";
    expect(errors(bad)).toEqual([
      at(bad, "admin", "connect_address 'admin.example.com' is not an IP address"),
    ]);
    const multicast = "{ type: tcp, connect_address: 224.0.0.1 }";
    expect(errors(multicast)).toEqual([
      at(multicast, "224", "connect_address 224.0.0.1 is a multicast address"),
    ]);
    const v6 = "{ type: tcp, connect_address: '2001:DB8:0::1' }";
    expect(errors(v6)).toEqual([
      at(v6, "'2001", "connect_address 2001:db8::1 is IPv6 but real server 10.0.1.1 is IPv4"),
    ]);
  });

  it("connect_port is a port; `port` is the same setting, and giving both is an error", () => {
    expect(check("{ type: tcp, connect_port: 8080 }").connectPort).toBe(8080);
    expect(check("{ type: tcp, port: 8080 }").connectPort).toBe(8080);
    const range = "{ type: tcp, connect_port: 70000 }";
    expect(errors(range)).toEqual([at(range, "70000", "connect_port 70000 is out of range (1..65535)")]);
    const both = "{ type: tcp, port: 1, connect_port: 2 }";
    expect(errors(both)).toEqual([
      at(both, "port: 1", "'port' and 'connect_port' are the same setting; give only connect_port"),
    ]);
  });

  it("a real server's connect_port overrides the service's port (one setting)", () => {
    const checks = valid(service("{ type: tcp, port: 8080 }", ", check: { connect_port: 9090 }"))
      .virtualServers[0]?.realServers[0]?.checks;
    expect(checks?.[0]?.connectPort).toBe(9090);
  });
});

describe("http and https keys", () => {
  it("method defaults to GET and is upper-cased; it must be an HTTP token", () => {
    expect(check("{ type: http }")).toMatchObject({ method: "GET", path: "/" });
    expect(check("{ type: http, method: head }")).toMatchObject({ method: "HEAD" });
    const text = "{ type: http, method: 'GET /' }";
    expect(errors(text)).toEqual([
      at(text, "'GET", "method 'GET /' is not an HTTP method name (letters, digits and !#$%&'*+-.^_`|~)"),
    ]);
  });

  it("headers are lower-cased; Host goes in `host`; names are tokens, values strings", () => {
    expect(check("{ type: http, headers: { X-Probe: vipd, Accept: '*/*', x-id: '7' } }")).toMatchObject({
      headers: { "x-probe": "vipd", accept: "*/*", "x-id": "7" },
    });
    const host = "{ type: http, headers: { Host: example.com } }";
    expect(errors(host)).toEqual([
      at(host, "Host", "set the Host header with the check's 'host' key, not in headers"),
    ]);
    const name = "{ type: http, headers: { 'a b': c } }";
    expect(errors(name)).toEqual([
      at(name, "'a b'", "header name 'a b' is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"),
    ]);
    const number = "{ type: http, headers: { x-n: 5 } }";
    expect(errors(number)).toEqual([
      at(number, "5", 'expected a header value, got number 5 (quote it: "5")'),
    ]);
    const twice = "{ type: http, headers: { Accept: a, accept: b } }";
    expect(errors(twice)).toEqual([
      at(twice, "accept", "header 'accept' is given twice (names are case-insensitive)"),
    ]);
    const list = "{ type: http, headers: [a] }";
    expect(errors(list)).toEqual([
      at(list, "[a]", "expected a mapping of header names to values, got a list"),
    ]);
  });

  it("expect_regex must compile as a JavaScript regular expression", () => {
    expect(check("{ type: http, expect_regex: '^ok( [0-9]+)?$' }")).toMatchObject({
      expectRegex: "^ok( [0-9]+)?$",
    });
    const text = "{ type: http, expect_regex: 'ok(' }";
    expect(errors(text)).toEqual([
      at(
        text,
        "'ok(",
        "expect_regex does not compile: Invalid regular expression: /ok(/: Unterminated group",
      ),
    ]);
  });

  it("digest is md5:<32 hex> or sha256:<64 hex>, stored in lower case", () => {
    const md5 = "0123456789ABCDEF0123456789abcdef";
    expect(check(`{ type: http, digest: MD5:${md5} }`)).toMatchObject({
      digest: { algorithm: "md5", hex: md5.toLowerCase() },
    });
    expect(check(`{ type: http, digest: sha256:${"a".repeat(64)} }`)).toMatchObject({
      digest: { algorithm: "sha256", hex: "a".repeat(64) },
    });
    const short = `{ type: http, digest: sha256:${"a".repeat(63)} }`;
    expect(errors(short)).toEqual([
      at(short, "sha256:", "sha256 digests have 64 hex digits; this one has 63"),
    ]);
    const bare = `{ type: http, digest: ${md5} }`;
    expect(errors(bare)).toEqual([
      at(
        bare,
        md5,
        `digest '${md5}' is not md5:<32 hex digits> or sha256:<64 hex digits> (an MD5 digest is written md5:${md5})`,
      ),
    ]);
  });

  it("max_body is 1..16777216 bytes, default 65536; keepalive is a boolean, default false", () => {
    expect(check("{ type: http }")).toMatchObject({ maxBodyBytes: 65_536, keepalive: false });
    expect(check("{ type: http, max_body: 1024, keepalive: true }")).toMatchObject({
      maxBodyBytes: 1024,
      keepalive: true,
    });
    const zero = "{ type: http, max_body: 0 }";
    expect(errors(zero)).toEqual([at(zero, "0 }", "max_body 0 is out of range (1..16777216)")]);
    const yes = "{ type: http, keepalive: sometimes }";
    expect(errors(yes)).toEqual([at(yes, "sometimes", "expected true or false, got string 'sometimes'")]);
  });

  it("https verifies by default; tls is present exactly on https checks", () => {
    expect(check("{ type: https }")).toMatchObject({ tls: { verify: true } });
    expect(check("{ type: https, tls_verify: false }")).toMatchObject({ tls: { verify: false } });
    expect(check("{ type: http }")).not.toHaveProperty("tls");
    const http = "{ type: http, ca_file: /etc/ca.pem }";
    expect(errors(http)).toEqual([at(http, "ca_file", "'ca_file' applies only to https checks")]);
  });

  it("ca_file, cert_file and key_file are absolute paths (not opened at parse time); cert and key go together", () => {
    expect(
      check("{ type: https, ca_file: /nonexistent/ca.pem, cert_file: /etc/c.pem, key_file: /etc/c.key }"),
    ).toMatchObject({
      tls: { verify: true, caFile: "/nonexistent/ca.pem", certFile: "/etc/c.pem", keyFile: "/etc/c.key" },
    });
    const relative = "{ type: https, ca_file: ca.pem }";
    expect(errors(relative)).toEqual([at(relative, "ca.pem", "'ca.pem' must be an absolute path")]);
    const cert = "{ type: https, cert_file: /etc/c.pem }";
    expect(errors(cert)).toEqual([
      at(cert, "cert_file", "cert_file needs key_file too (a client certificate and its key)"),
    ]);
    const key = "{ type: https, key_file: /etc/c.key }";
    expect(errors(key)).toEqual([
      at(key, "key_file", "key_file needs cert_file too (a client certificate and its key)"),
    ]);
  });

  it("sni is a DNS name (a trailing dot is dropped), never an IP address", () => {
    expect(check("{ type: https, sni: www.example.com. }")).toMatchObject({
      tls: { verify: true, sni: "www.example.com" },
    });
    const ip = "{ type: https, sni: 10.0.0.1 }";
    expect(errors(ip)).toEqual([
      at(ip, "10.0.0.1", "sni '10.0.0.1' is an IP address; SNI carries a DNS name"),
    ]);
    const bad = "{ type: https, sni: a_b.example }";
    expect(errors(bad)).toEqual([
      at(
        bad,
        "a_b",
        "sni 'a_b.example' has a label 'a_b' with characters other than letters, digits and '-'",
      ),
    ]);
  });
});

describe("tcp, exec, agent and dns keys", () => {
  it("tcp send decodes \\n \\r \\t \\\\ \\xHH; expect is a substring of the reply", () => {
    expect(check("{ type: tcp, send: 'PING\\r\\n\\t\\\\\\x41', expect: PONG }")).toMatchObject({
      send: "PING\r\n\t\\A",
      expect: "PONG",
    });
    const unknown = "{ type: tcp, send: 'a\\qb' }";
    expect(errors(unknown)).toEqual([
      at(unknown, "'a", "send: unknown escape '\\q' (use \\n, \\r, \\t, \\\\ or \\xHH)"),
    ]);
    const hex = "{ type: tcp, send: 'a\\x4' }";
    expect(errors(hex)).toEqual([at(hex, "'a", "send: '\\x' needs two hex digits")]);
    const high = "{ type: tcp, send: '\\xff' }";
    expect(errors(high)).toEqual([
      at(high, "'\\x", "send: '\\xff' is not ASCII; send is sent as UTF-8, so write the character itself"),
    ]);
  });

  it("exec command is a non-empty list of strings (argv); a string is refused with the list it meant", () => {
    expect(check("{ type: exec, command: [/usr/bin/check, --port, '80'] }")).toMatchObject({
      type: "exec",
      command: ["/usr/bin/check", "--port", "80"],
      dynamicWeight: false,
    });
    const string = "{ type: exec, command: /usr/bin/check --port 80 }";
    expect(errors(string)).toEqual([
      at(
        string,
        "/usr",
        'command is run without a shell, so it is a list of arguments: write ["/usr/bin/check", "--port", "80"]',
      ),
    ]);
    const empty = "{ type: exec, command: [] }";
    expect(errors(empty)).toEqual([at(empty, "[]", "command needs at least the program to run")]);
    const number = "{ type: exec, command: [check, 80] }";
    expect(errors(number)).toEqual([
      at(number, "80", 'expected an argument, got number 80 (quote it: "80")'),
    ]);
    const none = "{ type: exec }";
    expect(errors(none)).toEqual([
      at(none, "{", "an exec check needs a 'command' (a list: program and arguments)"),
    ]);
  });

  it("exec dynamic_weight is a boolean; exec needs no port, even on a fwmark service", () => {
    expect(check("{ type: exec, command: [c], dynamic_weight: true }")).toMatchObject({
      dynamicWeight: true,
    });
    const fwmark = valid(`virtual_servers:
  - name: m
    fwmark: 1
    check: { type: exec, command: [c] }
    real_servers: [{ address: 10.0.1.1 }]
`);
    expect(fwmark.virtualServers[0]?.realServers[0]?.checks[0]?.connectPort).toBeUndefined();
  });

  it("agent needs connect_port (or port); its send is one line", () => {
    expect(check("{ type: agent, connect_port: 9777, send: status }")).toMatchObject({
      type: "agent",
      connectPort: 9777,
      send: "status",
    });
    const noPort = "{ type: agent }";
    expect(errors(noPort)).toEqual([
      at(noPort, "{", "an agent check needs a 'connect_port' (the agent listens on a port of its own)"),
    ]);
    const lines = '{ type: agent, port: 9777, send: "a\\nb" }';
    expect(errors(lines)).toEqual([
      at(lines, '"a', "an agent check's send is one line: it must not contain a line break"),
    ]);
  });

  it("dns needs a name; record (default A) and rcode (default NOERROR) in any case", () => {
    expect(check("{ type: dns, name: www.example.com }")).toMatchObject({
      type: "dns",
      name: "www.example.com",
      recordType: "A",
      rcode: "NOERROR",
    });
    expect(check("{ type: dns, name: _sip._udp.example.com., record: srv, rcode: nxdomain }")).toMatchObject({
      name: "_sip._udp.example.com",
      recordType: "SRV",
      rcode: "NXDOMAIN",
    });
    expect(check("{ type: dns, name: ., record: SOA }")).toMatchObject({ name: ".", recordType: "SOA" });
    const none = "{ type: dns }";
    expect(errors(none)).toEqual([at(none, "{", "a dns check needs a 'name' to resolve")]);
    const record = "{ type: dns, name: x.example, record: AAA }";
    expect(errors(record)).toEqual([
      at(
        record,
        "AAA",
        "unknown DNS record type 'AAA' (did you mean 'AAAA'?); expected one of: A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT",
      ),
    ]);
    const ip = "{ type: dns, name: 10.0.0.1, record: PTR }";
    expect(errors(ip)).toEqual([
      at(
        ip,
        "10.0.0.1",
        "name '10.0.0.1' is an IP address; a PTR check resolves its reverse name (1.0.0.10.in-addr.arpa)",
      ),
    ]);
    const rcode = "{ type: dns, name: x.example, rcode: OK }";
    expect(errors(rcode)[0]).toBe(
      at(
        rcode,
        "OK",
        "unknown DNS rcode 'OK'; expected one of: NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED",
      ),
    );
  });

  it("dns falls back to port 53 on a fwmark real server (no port needed)", () => {
    const config = valid(`virtual_servers:
  - name: m
    fwmark: 1
    protocol: udp
    check: { type: dns, name: example.com }
    real_servers: [{ address: 10.0.1.1 }]
`);
    expect(config.virtualServers[0]?.realServers[0]).toMatchObject({ port: 0, checks: [{ type: "dns" }] });
  });

  it("rejects keys that do not apply to the effective type, at the key", () => {
    const digest = `{ type: tcp, digest: md5:${"0".repeat(32)} }`;
    expect(errors(digest)).toEqual([at(digest, "digest", "'digest' does not apply to a 'tcp' check")]);
    const send = "{ type: http, send: x }";
    expect(errors(send)).toEqual([at(send, "send", "'send' does not apply to an 'http' check")]);
    const command = "{ type: dns, name: a.example, command: [x] }";
    expect(errors(command)).toEqual([at(command, "command", "'command' does not apply to a 'dns' check")]);
    const port = "{ type: none, port: 80 }";
    expect(errors(port)).toEqual([at(port, "port", "'port' does not apply to a 'none' check")]);
  });
});

describe("a list of checks", () => {
  const list = "[ { type: http, path: /ready }, { type: agent, connect_port: 9777 } ]";

  it("keeps each check, in order; real servers without a check inherit the list", () => {
    const vs = valid(service(list)).virtualServers[0];
    expect(vs?.checks?.map((c) => c.type)).toEqual(["http", "agent"]);
    expect(vs?.realServers[0]?.checks).toEqual(vs?.checks);
    expect(vs?.realServers[0]?.checks).not.toBe(vs?.checks);
  });

  it("a real server's list replaces the service's single check, without merging", () => {
    const vs = valid(
      service(
        "{ type: http, path: /a, interval: 5s, timeout: 2s }",
        ", check: [ { type: tcp }, { type: http } ]",
      ),
    ).virtualServers[0];
    expect(vs?.realServers[0]?.checks).toMatchObject([
      { type: "tcp", intervalMs: 2000, timeoutMs: 1000 },
      { type: "http", path: "/", intervalMs: 2000 },
    ]);
  });

  it("a real server's single check replaces the service's list, without merging", () => {
    const vs = valid(service(list, ", check: { type: http, fall: 5 }")).virtualServers[0];
    expect(vs?.realServers[0]?.checks).toMatchObject([{ type: "http", path: "/", fall: 5 }]);
    expect(vs?.realServers[0]?.checks).toHaveLength(1);
  });

  it("type: none alone means no checks; it cannot be one of a list; a list cannot be empty", () => {
    expect(valid(service("{ type: none }")).virtualServers[0]).toMatchObject({
      checks: [],
      realServers: [{ checks: [] }],
    });
    expect(valid(service(list, ", check: { type: none }")).virtualServers[0]?.realServers[0]?.checks).toEqual(
      [],
    );
    const withNone = "[ { type: tcp }, { type: none } ]";
    expect(errors(withNone)).toEqual([
      at(withNone, "none", "'none' cannot be one of several checks: write check: { type: none } alone"),
    ]);
    expect(errors("[]")).toEqual([
      at("[]", "[", "a list of checks needs at least one (for no checking write check: { type: none })"),
    ]);
    const scalar = "[ tcp ]";
    expect(errors(scalar)).toEqual([at(scalar, "tcp", "expected a check mapping, got string 'tcp'")]);
    expect(errors("tcp")).toEqual([
      at("tcp", "tcp", "expected a check mapping or a list of them, got string 'tcp'"),
    ]);
  });

  it("no check on the service or the real server means no checks", () => {
    const config = valid(
      "virtual_servers:\n  - { name: w, address: 10.0.0.1, port: 80, real_servers: [{ address: 10.0.1.1 }] }\n",
    );
    expect(config.virtualServers[0]?.checks).toBeUndefined();
    expect(config.virtualServers[0]?.realServers[0]?.checks).toEqual([]);
  });

  it("applies the no-port rule to each check of a fwmark real server", () => {
    const { errors } = parse(`virtual_servers:
  - name: m
    fwmark: 1
    check: [ { type: exec, command: [c] }, { type: tcp }, { type: dns, name: a.example } ]
    real_servers:
      - { address: 10.0.1.1 }
      - { address: 10.0.1.2, port: 80 }
`);
    expect(errors).toEqual([
      "t.yaml:6:9: this real server has no port for check 2 (tcp): set its 'port' or that check's 'connect_port'",
    ]);
  });
});

describe("virtual server: slow_start and max_down", () => {
  const vs = (extra: string) =>
    `virtual_servers:\n  - name: w\n    address: 10.0.0.1\n    port: 80\n${extra}`;

  it("slow_start is a duration 0s..1h, default 0", () => {
    expect(valid(vs("")).virtualServers[0]?.slowStartMs).toBe(0);
    expect(valid(vs("    slow_start: 30s\n")).virtualServers[0]?.slowStartMs).toBe(30_000);
    expect(parse(vs("    slow_start: 2h\n")).errors).toEqual([
      "t.yaml:5:17: slow_start 2h is out of range (0s..1h)",
    ]);
    expect(parse(vs("    slow_strat: 1s\n")).errors).toEqual([
      "t.yaml:5:5: unknown key 'slow_strat' (did you mean 'slow_start'?)",
    ]);
  });

  it("max_down is a count or a percentage (absent = no guard)", () => {
    expect(valid(vs("")).virtualServers[0]?.maxDown).toBeUndefined();
    expect(valid(vs("    max_down: 2\n")).virtualServers[0]?.maxDown).toEqual({ count: 2 });
    expect(valid(vs("    max_down: 0\n")).virtualServers[0]?.maxDown).toEqual({ count: 0 });
    expect(valid(vs("    max_down: 50%\n")).virtualServers[0]?.maxDown).toEqual({ percent: 50 });
    expect(valid(vs("    max_down: 12.5%\n")).virtualServers[0]?.maxDown).toEqual({ percent: 12.5 });
    expect(parse(vs("    max_down: 150%\n")).errors).toEqual([
      "t.yaml:5:15: max_down 150% is more than 100%",
    ]);
    expect(parse(vs("    max_down: half\n")).errors).toEqual([
      "t.yaml:5:15: max_down 'half' is not a count or a percentage such as 50%",
    ]);
    expect(parse(vs("    max_down: -1\n")).errors).toEqual([
      "t.yaml:5:15: max_down -1 is out of range (0..2147483647)",
    ]);
    expect(parse(vs("    max_down: true\n")).errors).toEqual([
      "t.yaml:5:15: expected a count of real servers or a percentage such as 50%, got boolean true",
    ]);
  });
});

describe("health section", () => {
  const cfg = (health: string) =>
    `virtual_servers:\n  - { name: w, address: 10.0.0.1, port: 80 }\nhealth: ${health}\n`;

  it("fills defaults and reads every key", () => {
    expect(valid(cfg("{}")).health).toEqual({
      stateDir: "/var/lib/vipd",
      concurrency: 1000,
      tlsConcurrency: 64,
    });
    expect(valid(cfg("{ state_dir: /srv/vipd, concurrency: 200, tls_concurrency: 20 }")).health).toEqual({
      stateDir: "/srv/vipd",
      concurrency: 200,
      tlsConcurrency: 20,
    });
    // The tls_concurrency default never exceeds concurrency.
    expect(valid(cfg("{ concurrency: 10 }")).health.tlsConcurrency).toBe(10);
  });

  it("rejects a relative state_dir, out-of-range limits and tls_concurrency above concurrency", () => {
    expect(parse(cfg("{ state_dir: state }")).errors).toEqual([
      "t.yaml:3:22: 'state' must be an absolute path",
    ]);
    expect(parse(cfg("{ concurrency: 0 }")).errors).toEqual([
      "t.yaml:3:24: concurrency 0 is out of range (1..100000)",
    ]);
    expect(parse(cfg("{ tls_concurrency: 20000 }")).errors).toEqual([
      "t.yaml:3:28: tls_concurrency 20000 is out of range (1..10000)",
    ]);
    expect(parse(cfg("{ concurrency: 10, tls_concurrency: 20 }")).errors).toEqual([
      "t.yaml:3:45: tls_concurrency 20 is above concurrency 10 (a TLS check counts against both)",
    ]);
    expect(parse(cfg("{ concurency: 10 }")).errors).toEqual([
      "t.yaml:3:11: unknown key 'concurency' (did you mean 'concurrency'?)",
    ]);
  });
});

/**
 * System errors from the addon carry code / errno / syscall like Node's own, and the
 * wrapper's and loader's errors carry stable VipdError codes. No privileges needed.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { constants as os, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { loadNative, loadNativeFrom, NATIVE_PATH } from "../../../src/sys/native.js";
import { ifIndexToName, ifNameToIndex, openSocket } from "../../../src/sys/socket.js";

const native = loadNative();
const C = native.constants as Record<string, number>;
const noop = () => {};

function thrown(
  fn: () => unknown,
): Error & { code?: string; errno?: number; syscall?: string; path?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw");
}

describe("system errors", () => {
  it("bind to a netlink port id already in use → EADDRINUSE from bind", () => {
    const a = openSocket({ family: "netlink", protocol: 0 });
    const b = openSocket({ family: "netlink", protocol: 0 });
    try {
      a.bind({ family: "netlink", pid: 0 });
      const addr = a.localAddress();
      expect(addr.family).toBe("netlink");
      const pid = addr.family === "netlink" ? addr.pid : undefined;
      expect(pid).toBeGreaterThan(0);
      const err = thrown(() => b.bind({ family: "netlink", pid }));
      expect(err.code).toBe("EADDRINUSE");
      expect(err.errno).toBe(-os.errno.EADDRINUSE);
      expect(err.syscall).toBe("bind");
      expect(err.message).toBe("bind EADDRINUSE: Address already in use");
    } finally {
      a.close();
      b.close();
    }
  });

  it("an impossible family/type/protocol combination → coded error from socket", () => {
    const err = thrown(() => new native.Socket(C.AF_INET!, C.SOCK_DGRAM!, 112, null, null, noop));
    expect(err.code).toBe("EPROTONOSUPPORT");
    expect(err.errno).toBe(-os.errno.EPROTONOSUPPORT);
    expect(err.syscall).toBe("socket");
    // Through the wrapper too: netlink protocol numbers stop at 31.
    const err2 = thrown(() => openSocket({ family: "netlink", protocol: 99 }));
    expect(err2.code).toBe("EPROTONOSUPPORT");
    expect(err2.syscall).toBe("socket");
  });

  it("a missing netns path → ENOENT from open, naming the path", () => {
    const err = thrown(() => openSocket({ family: "netlink", protocol: 0, netns: "/nonexistent/netns/x" }));
    expect(err.code).toBe("ENOENT");
    expect(err.syscall).toBe("open");
    expect(err.path).toBe("/nonexistent/netns/x");
  });

  it("a path that is not a network namespace → EINVAL from setns (or EPERM without privileges)", () => {
    const err = thrown(() => openSocket({ family: "netlink", protocol: 0, netns: "/proc/self/ns/uts" }));
    expect(["EINVAL", "EPERM"]).toContain(err.code);
    expect(err.syscall).toBe(
      err.code === "EPERM" ? "setns (needs CAP_SYS_ADMIN: the netns option is for the lab)" : "setns",
    );
  });

  it("a netns path that is a FIFO or a plain file → EINVAL at once, never a blocked event loop", () => {
    const dir = mkdtempSync(join(tmpdir(), "vipd-netns-fifo-"));
    try {
      const fifo = join(dir, "fifo");
      execFileSync("mkfifo", [fifo]);
      for (const path of [fifo, NATIVE_PATH]) {
        // In a child: before the fix, open() on the FIFO blocked forever.
        const r = spawnSync(
          process.execPath,
          [
            "-e",
            `const n = require(${JSON.stringify(NATIVE_PATH)});
             try { new n.Socket(n.constants.AF_NETLINK, n.constants.SOCK_RAW, 0, ${JSON.stringify(path)}, null, () => {}); }
             catch (e) { console.log(JSON.stringify({ code: e.code, syscall: e.syscall, path: e.path })); }`,
          ],
          { encoding: "utf8", timeout: 10_000 },
        );
        expect(r.signal).toBeNull();
        expect(JSON.parse(r.stdout)).toEqual({
          code: "EINVAL",
          syscall: "open (not a namespace file)",
          path,
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an option the socket's protocol lacks → ENOPROTOOPT from setsockopt/getsockopt", () => {
    const s = openSocket({ family: "netlink", protocol: 0 });
    try {
      const e1 = thrown(() => s.setOption(C.SOL_IP!, C.IP_TTL!, 1));
      expect(e1.code).toBe("ENOPROTOOPT");
      expect(e1.syscall).toBe("setsockopt");
      const e2 = thrown(() => s.getOption(C.SOL_IP!, C.IP_TTL!));
      expect(e2.code).toBe("ENOPROTOOPT");
      expect(e2.syscall).toBe("getsockopt");
    } finally {
      s.close();
    }
  });

  it("options vipd does not use are refused before the kernel sees them (SO_ATTACH_FILTER among them)", () => {
    const s = openSocket({ family: "netlink", protocol: 0 });
    const SO_ATTACH_FILTER = 26;
    try {
      for (const call of [
        () => s.setOption(C.SOL_SOCKET!, SO_ATTACH_FILTER, Buffer.alloc(16)),
        () => s.setOption(C.SOL_NETLINK!, 9999, 1),
        () => s.getOption(C.SOL_SOCKET!, C.SO_MARK!),
        () => s.setOption(C.SOL_SOCKET!, C.SO_PRIORITY!, 6),
      ]) {
        const e = thrown(call);
        expect(e.code).toBe("ERR_SOCKET_OPTION_NOT_ALLOWED");
        expect(e.message).toMatch(/^(set|get)sockopt\(level \d+, name \d+\) is not an option vipd uses$/);
      }
      // An allowed option with an oversized buffer is refused too.
      expect(() => s.setOption(C.SOL_SOCKET!, C.SO_BINDTODEVICE!, Buffer.alloc(65537))).toThrow(RangeError);
    } finally {
      s.close();
    }
  });

  it("interface lookups: ENODEV / ENXIO", () => {
    expect(ifNameToIndex("lo")).toBeGreaterThan(0);
    expect(ifIndexToName(ifNameToIndex("lo"))).toBe("lo");
    const e1 = thrown(() => ifNameToIndex("vipd-nope0"));
    expect(e1.code).toBe("ENODEV");
    expect(e1.syscall).toBe("if_nametoindex");
    const e2 = thrown(() => ifIndexToName(0x7ffffff0));
    expect(e2.code).toBe("ENXIO");
    expect(e2.syscall).toBe("if_indextoname");
  });
});

describe("closed sockets", () => {
  it("native methods throw EBADF; close is idempotent; fd is -1", () => {
    const s = new native.Socket(C.AF_NETLINK!, C.SOCK_RAW!, 0, null, null, noop);
    expect(s.fd).toBeGreaterThanOrEqual(0);
    s.close();
    s.close();
    expect(s.fd).toBe(-1);
    for (const [fn, syscall] of [
      [() => s.bind({ family: "netlink" }), "bind"],
      [() => s.sendmsg(Buffer.alloc(16)), "sendmsg"],
      [() => s.setsockopt(1, 8, 1), "setsockopt"],
      [() => s.getsockopt(1, 8), "getsockopt"],
      [() => s.getsockname(), "getsockname"],
    ] as const) {
      const err = thrown(fn);
      expect(err.code).toBe("EBADF");
      expect(err.syscall).toBe(syscall);
    }
    s.ref();
    s.unref();
    expect(s.hasRef()).toBe(false);
  });

  it("wrapper methods throw VipdError SOCKET_CLOSED and 'close' is emitted once", async () => {
    const s = openSocket({ family: "netlink", protocol: 0 });
    let closes = 0;
    const closed = new Promise<void>((resolve) =>
      s.on("close", () => {
        closes++;
        resolve();
      }),
    );
    s.close();
    s.close();
    expect(s.closed).toBe(true);
    expect(s.fd).toBe(-1);
    for (const fn of [
      () => s.bind({ family: "netlink" }),
      () => s.send(Buffer.alloc(16)),
      () => s.setOption(1, 8, 1),
      () => s.getOption(1, 8),
      () => s.localAddress(),
      () => s.bindToDevice("lo"),
    ]) {
      const err = thrown(fn);
      expect(err).toBeInstanceOf(VipdError);
      expect(err.code).toBe("SOCKET_CLOSED");
    }
    await closed;
    await new Promise((r) => setImmediate(r));
    expect(closes).toBe(1);
  });
});

describe("wrapper validation", () => {
  it("rejects bad families and types with TypeError", () => {
    expect(() => openSocket({ family: "unix" as never, protocol: 0 })).toThrow(TypeError);
    expect(() => openSocket({ family: "netlink", type: "stream" as never, protocol: 0 })).toThrow(TypeError);
    expect(() => openSocket(undefined as never)).toThrow(TypeError);
    expect(() => openSocket({ family: "toString" as never, protocol: 0 })).toThrow(TypeError);
  });

  it("rejects an address of another family with SOCKET_INVALID_ADDRESS", () => {
    const s = openSocket({ family: "netlink", protocol: 0 });
    try {
      const err = thrown(() => s.send(Buffer.alloc(16), { family: "inet", address: "127.0.0.1" }));
      expect(err).toBeInstanceOf(VipdError);
      expect(err.code).toBe("SOCKET_INVALID_ADDRESS");
      expect(thrown(() => s.bindToDevice("x".repeat(16))).code).toBe("SOCKET_INVALID_INTERFACE");
    } finally {
      s.close();
    }
  });
});

describe("loader", () => {
  it("names the missing path and how to build it", () => {
    const err = thrown(() => loadNativeFrom("/nonexistent/build/Release/vipd_native.node"));
    expect(err).toBeInstanceOf(VipdError);
    expect(err.code).toBe("NATIVE_NOT_BUILT");
    expect(err.message).toContain("/nonexistent/build/Release/vipd_native.node");
    expect(err.message).toContain("npm ci");
    expect(err.message).toContain("node scripts/build-native.mjs");
    expect((err as VipdError).context).toEqual({ path: "/nonexistent/build/Release/vipd_native.node" });
  });

  it("reports a file that is not an addon as NATIVE_LOAD_FAILED", () => {
    const err = thrown(() => loadNativeFrom(new URL(import.meta.url).pathname));
    expect(err.code).toBe("NATIVE_LOAD_FAILED");
  });

  it("resolves build/Release/vipd_native.node at the repository root", () => {
    expect(NATIVE_PATH).toMatch(/\/build\/Release\/vipd_native\.node$/);
    expect(NATIVE_PATH).not.toContain("/src/");
  });
});

/**
 * Argument checking of the native addon: every wrong type or value must surface as a
 * TypeError / RangeError (never a crash or an abort). Netlink sockets need no privileges,
 * so these run as any user.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadNative, type NativeSocketHandle } from "../../../src/sys/native.js";

const native = loadNative();
const C = native.constants as Record<string, number>;
const AF_NETLINK = C.AF_NETLINK!;
const SOCK_RAW = C.SOCK_RAW!;
const noop = () => {};

const open: NativeSocketHandle[] = [];
function netlink(): NativeSocketHandle {
  const s = new native.Socket(AF_NETLINK, SOCK_RAW, 0, null, null, noop);
  open.push(s);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

type AnyCtor = new (...args: unknown[]) => NativeSocketHandle;
const Socket = native.Socket as unknown as AnyCtor;
// biome-ignore lint/suspicious/noExplicitAny: calling with deliberately wrong argument types
type Loose = any;

describe("new Socket(...) argument checks", () => {
  it.each([
    ["family undefined", [undefined, SOCK_RAW, 0, null, null, noop]],
    ["family as string", ["16", SOCK_RAW, 0, null, null, noop]],
    ["type as string", [AF_NETLINK, "raw", 0, null, null, noop]],
    ["protocol as object", [AF_NETLINK, SOCK_RAW, {}, null, null, noop]],
    ["protocol missing", [AF_NETLINK, SOCK_RAW]],
    ["netns as number", [AF_NETLINK, SOCK_RAW, 0, 5, null, noop]],
    ["recvBufferSize as string", [AF_NETLINK, SOCK_RAW, 0, null, "65536", noop]],
    ["callback missing", [AF_NETLINK, SOCK_RAW, 0, null, null]],
    ["callback not a function", [AF_NETLINK, SOCK_RAW, 0, null, null, {}]],
  ])("%s → TypeError", (_name, args) => {
    expect(() => new Socket(...args)).toThrow(TypeError);
  });

  it.each([
    ["unsupported family AF_UNIX", [1, SOCK_RAW, 0, null, null, noop]],
    ["SOCK_STREAM", [AF_NETLINK, 1, 0, null, null, noop]],
    ["negative protocol", [AF_NETLINK, SOCK_RAW, -1, null, null, noop]],
    ["fractional protocol", [AF_NETLINK, SOCK_RAW, 1.5, null, null, noop]],
    ["NaN family", [Number.NaN, SOCK_RAW, 0, null, null, noop]],
    ["zero recvBufferSize", [AF_NETLINK, SOCK_RAW, 0, null, 0, noop]],
    ["huge recvBufferSize", [AF_NETLINK, SOCK_RAW, 0, null, 2 ** 40, noop]],
  ])("%s → RangeError", (_name, args) => {
    expect(() => new Socket(...args)).toThrow(RangeError);
  });

  it("requires new", () => {
    expect(() => (native.Socket as Loose)(AF_NETLINK, SOCK_RAW, 0, null, null, noop)).toThrow(TypeError);
  });

  it("rejects a netns path with an embedded NUL", () => {
    expect(() => new Socket(AF_NETLINK, SOCK_RAW, 0, "/run/netns/x\0y", null, noop)).toThrow(TypeError);
  });

  it("rejects methods called on a foreign receiver", () => {
    const s = netlink();
    const proto = Object.getPrototypeOf(s) as Record<string, (...a: unknown[]) => unknown>;
    expect(() => proto.bind!.call({}, { family: "netlink" })).toThrow(TypeError);
    expect(() => proto.close!.call(Object.create(proto))).toThrow(TypeError);
    expect(() => Object.getOwnPropertyDescriptor(proto, "fd")!.get!.call({})).toThrow(TypeError);
  });
});

describe("method argument checks", () => {
  it("bind", () => {
    const s = netlink() as Loose;
    expect(() => s.bind()).toThrow(TypeError);
    expect(() => s.bind("netlink")).toThrow(TypeError);
    expect(() => s.bind({})).toThrow(TypeError);
    expect(() => s.bind({ family: 16 })).toThrow(TypeError);
    expect(() => s.bind({ family: "inet", address: "127.0.0.1" })).toThrow(/does not match socket family/);
    expect(() => s.bind({ family: "netlink", pid: "1" })).toThrow(TypeError);
    expect(() => s.bind({ family: "netlink", pid: -1 })).toThrow(RangeError);
    expect(() => s.bind({ family: "netlink", groups: 2 ** 32 })).toThrow(RangeError);
    const getterThrows = {
      family: "netlink",
      get pid(): number {
        throw new Error("from getter");
      },
    };
    expect(() => s.bind(getterThrows)).toThrow("from getter");
  });

  it("setsockopt / getsockopt", () => {
    const s = netlink() as Loose;
    expect(() => s.setsockopt()).toThrow(TypeError);
    expect(() => s.setsockopt("1", 8, 1)).toThrow(TypeError);
    expect(() => s.setsockopt(1, 8)).toThrow(TypeError);
    expect(() => s.setsockopt(1, 8, "1")).toThrow(TypeError);
    expect(() => s.setsockopt(1, 8, [1])).toThrow(TypeError);
    expect(() => s.setsockopt(1, 8, 2 ** 31)).toThrow(RangeError);
    expect(() => s.getsockopt(1)).toThrow(TypeError);
    expect(() => s.getsockopt(1, 8, "4")).toThrow(TypeError);
    expect(() => s.getsockopt(1, 8, -1)).toThrow(RangeError);
    expect(() => s.getsockopt(1, 8, 1 << 20)).toThrow(RangeError);
  });

  it("sendmsg", () => {
    const s = netlink() as Loose;
    expect(() => s.sendmsg()).toThrow(TypeError);
    expect(() => s.sendmsg("hello")).toThrow(TypeError);
    expect(() => s.sendmsg([Buffer.alloc(4), "x"])).toThrow(TypeError);
    expect(() => s.sendmsg([])).toThrow(RangeError);
    expect(() => s.sendmsg(new Array(65).fill(Buffer.alloc(1)))).toThrow(RangeError);
    expect(() => s.sendmsg(Buffer.alloc(16), "kernel")).toThrow(TypeError);
    expect(() => s.sendmsg(Buffer.alloc(16), { family: "netlink" }, "opts")).toThrow(TypeError);
    expect(() => s.sendmsg(Buffer.alloc(16), { family: "netlink" }, { hopLimit: 1 })).toThrow(
      /need an inet or inet6 socket/,
    );
    expect(() => s.sendmsg(Buffer.alloc(16), { family: "netlink" }, { hopLimit: 256 })).toThrow(RangeError);
  });

  it("ifNameToIndex / ifIndexToName", () => {
    const n = native as Loose;
    expect(() => n.ifNameToIndex()).toThrow(TypeError);
    expect(() => n.ifNameToIndex(1)).toThrow(TypeError);
    expect(() => n.ifNameToIndex("")).toThrow(RangeError);
    expect(() => n.ifNameToIndex("a-name-way-too-long")).toThrow(RangeError);
    expect(() => n.ifNameToIndex("lo", 7)).toThrow(TypeError);
    expect(() => n.ifIndexToName("1")).toThrow(TypeError);
    expect(() => n.ifIndexToName(-1)).toThrow(RangeError);
  });
});

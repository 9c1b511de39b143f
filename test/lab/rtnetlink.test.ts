/**
 * rtnetlink and generic netlink against this kernel, inside a throwaway network namespace
 * (vnl-<random>) that is always deleted. Needs root.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VipdError } from "../../src/errors.js";
import { setLogLevel } from "../../src/log.js";
import { NetlinkError, type SocketOpener } from "../../src/netlink/connection.js";
import type { GenlClient } from "../../src/netlink/genl.js";
import { encodeNewAddress, IFF_LOOPBACK, type RouteEvent } from "../../src/netlink/route.js";
import {
  defaultSocketOpener,
  openGenl,
  Rtnetlink,
  type RtnetlinkSubscription,
} from "../../src/sys/rtnetlink.js";

setLogLevel("silent");

const NS = `vnl-${randomBytes(4).toString("hex")}`;
const NETNS = `/run/netns/${NS}`;
const DEV = "vnl0";
const PEER = "vnl1";
const EXTRA_PAIRS = 40;

function ip(...args: string[]): string {
  return execFileSync("ip", ["-n", NS, ...args], { encoding: "utf8" });
}

function ipJson<T>(...args: string[]): T {
  return JSON.parse(execFileSync("ip", ["-j", "-n", NS, ...args], { encoding: "utf8" })) as T;
}

interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  nodad?: boolean;
}

function ipAddresses(dev: string): string[] {
  const [link] = ipJson<Array<{ addr_info: IpAddrInfo[] }>>("addr", "show", "dev", dev);
  return (link?.addr_info ?? [])
    .filter((a) => !a.local.startsWith("fe80:"))
    .map((a) => `${a.local}/${a.prefixlen}`);
}

/** Resolves with the first event matching `pred`; fails (rather than hangs) after 10 s. */
function nextEvent(
  sub: RtnetlinkSubscription,
  what: string,
  pred: (e: RouteEvent) => boolean,
): Promise<RouteEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.removeListener("event", on);
      reject(new Error(`no ${what} event`));
    }, 10_000);
    const on = (e: RouteEvent) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      sub.removeListener("event", on);
      resolve(e);
    };
    sub.on("event", on);
  });
}

async function rejection(p: Promise<unknown>): Promise<VipdError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VipdError);
    return err as VipdError;
  }
  throw new Error("expected a rejection");
}

let rt: Rtnetlink | undefined;
let genl: GenlClient | undefined;
let datagrams = 0;

beforeAll(async () => {
  execFileSync("ip", ["netns", "add", NS]);
  ip("link", "add", DEV, "type", "veth", "peer", "name", PEER);
  ip("link", "set", DEV, "up");
  ip("link", "set", PEER, "up");
  // Enough links that a link dump cannot fit one datagram.
  const batch = Array.from(
    { length: EXTRA_PAIRS },
    (_, i) => `link add vnlx${i} type veth peer name vnly${i}`,
  );
  execFileSync("ip", ["-n", NS, "-batch", "-"], { input: `${batch.join("\n")}\n` });
  // Count the datagrams the rtnetlink request socket receives.
  const counting: SocketOpener = async (opts) => {
    const s = await defaultSocketOpener(opts);
    s.on("message", () => {
      datagrams++;
    });
    return s;
  };
  rt = await Rtnetlink.open({ netns: NETNS, openSocket: counting });
  genl = await openGenl({ netns: NETNS });
});

afterAll(() => {
  try {
    rt?.close();
    genl?.close();
  } finally {
    execFileSync("ip", ["netns", "del", NS]);
  }
});

describe("rtnetlink in a namespace", () => {
  it("lists the namespace's links, as ip sees them, across several datagrams", async () => {
    const before = datagrams;
    const links = await rt!.listLinks();
    expect(datagrams - before).toBeGreaterThan(1);
    expect(links).toHaveLength(3 + 2 * EXTRA_PAIRS);
    const lo = links.find((l) => l.name === "lo")!;
    expect(lo.ifindex).toBe(1);
    expect(lo.flags & IFF_LOOPBACK).toBe(IFF_LOOPBACK);
    const [want] = ipJson<Array<{ ifindex: number; address: string; mtu: number; flags: string[] }>>(
      "link",
      "show",
      DEV,
    );
    const dev = links.find((l) => l.name === DEV)!;
    expect(dev).toMatchObject({
      ifindex: want!.ifindex,
      mac: want!.address,
      mtu: want!.mtu,
      up: true,
      kind: "veth",
    });
    expect(dev.lowerUp).toBe(want!.flags.includes("LOWER_UP"));
    expect(await rt!.linkByName(DEV)).toMatchObject({ ifindex: want!.ifindex, name: DEV });
    expect(await rt!.linkByName("vnl-none")).toBeUndefined();
  });

  it("adds an IPv4 /24 and an IPv6 /64 (nodad), sees them, deletes them", async () => {
    await rt!.addAddress(DEV, "10.77.9.100/24");
    await rt!.addAddress(DEV, "fd00:77:9::100/64", { noDad: true });

    expect(ipAddresses(DEV).sort()).toEqual(["10.77.9.100/24", "fd00:77:9::100/64"]);
    const v6 = ipJson<Array<{ addr_info: IpAddrInfo[] }>>(
      "-6",
      "addr",
      "show",
      "dev",
      DEV,
    )[0]!.addr_info.find((a) => a.local === "fd00:77:9::100");
    expect(v6?.nodad).toBe(true);

    const listed = (await rt!.listAddresses(DEV)).filter((a) => !a.address.startsWith("fe80:"));
    expect(listed.map((a) => [a.family, a.cidr]).sort()).toEqual([
      ["inet", "10.77.9.100/24"],
      ["inet6", "fd00:77:9::100/64"],
    ]);
    const ifindex = (await rt!.linkByName(DEV))!.ifindex;
    expect(listed.every((a) => a.ifindex === ifindex)).toBe(true);
    expect(listed.find((a) => a.family === "inet")?.label).toBe(DEV);
    expect((listed.find((a) => a.family === "inet6")!.flags & 0x02) !== 0).toBe(true);

    await rt!.deleteAddress(DEV, "10.77.9.100/24");
    await rt!.deleteAddress(ifindex, "fd00:77:9::100/64");
    expect(ipAddresses(DEV)).toEqual([]);
    expect((await rt!.listAddresses(DEV)).filter((a) => !a.address.startsWith("fe80:"))).toEqual([]);
  });

  it("adding an address twice is an EEXIST error naming the operation", async () => {
    await rt!.addAddress(DEV, "10.77.9.101/24");
    try {
      const err = (await rejection(rt!.addAddress(DEV, "10.77.9.101/24"))) as NetlinkError;
      expect(err).toBeInstanceOf(NetlinkError);
      expect(err.code).toBe("EEXIST");
      expect(err.errno).toBe(17);
      expect(err.operation).toBe(`add address 10.77.9.101/24 on ${DEV}`);
      expect(err.message).toMatch(
        new RegExp(`^add address 10\\.77\\.9\\.101/24 on ${DEV} failed: EEXIST \\(File exists\\)`),
      );
    } finally {
      await rt!.deleteAddress(DEV, "10.77.9.101/24");
    }
    const gone = await rejection(rt!.deleteAddress(DEV, "10.77.9.101/24"));
    expect(gone.code).toBe("EADDRNOTAVAIL");
  });

  it("carries the kernel's extended ack message", async () => {
    const err = (await rejection(rt!.addAddress(999_999, "10.77.9.1/24"))) as NetlinkError;
    expect(err.code).toBe("ENODEV");
    expect(err.extack.message).toBeTruthy();
    expect(err.message).toContain(err.extack.message!);
  });

  it("applies a batch in one go and reports each result, past a failure", async () => {
    const ifindex = (await rt!.linkByName(DEV))!.ifindex;
    const cidrs = ["10.77.9.111/24", "10.77.9.111/24", "10.77.9.112/24"];
    const results = await rt!.conn.batch(
      cidrs.map((c) => ({ msg: encodeNewAddress(ifindex, c), operation: `add address ${c} on ${DEV}` })),
    );
    expect(results.map((r) => (r.ok ? "ok" : (r.error as VipdError).code))).toEqual(["ok", "EEXIST", "ok"]);
    expect(ipAddresses(DEV).sort()).toEqual(["10.77.9.111/24", "10.77.9.112/24"]);
    // The secondary first: deleting a primary IPv4 address takes its secondaries with it.
    await rt!.deleteAddress(DEV, "10.77.9.112/24");
    await rt!.deleteAddress(DEV, "10.77.9.111/24");
  });

  it("reports link down/up and address add/delete as events", async () => {
    const sub = await rt!.subscribe(["link", "ipv4-addr", "ipv6-addr"]);
    try {
      const down = nextEvent(sub, "link down", (e) => e.kind === "link" && e.link.name === DEV && !e.link.up);
      ip("link", "set", DEV, "down");
      expect(await down).toMatchObject({
        kind: "link",
        action: "new",
        link: { name: DEV, up: false, running: false },
      });

      const up = nextEvent(sub, "link up", (e) => e.kind === "link" && e.link.name === DEV && e.link.up);
      ip("link", "set", DEV, "up");
      expect(await up).toMatchObject({ kind: "link", action: "new", link: { name: DEV, up: true } });

      const added = nextEvent(
        sub,
        "address new",
        (e) => e.kind === "address" && e.address.address === "10.77.9.120",
      );
      ip("addr", "add", "10.77.9.120/24", "dev", DEV);
      expect(await added).toMatchObject({
        kind: "address",
        action: "new",
        address: { cidr: "10.77.9.120/24" },
      });

      const added6 = nextEvent(
        sub,
        "address6 new",
        (e) => e.kind === "address" && e.address.address === "fd00:77:9::120",
      );
      await rt!.addAddress(DEV, "fd00:77:9::120/64", { noDad: true });
      expect(await added6).toMatchObject({ action: "new", address: { family: "inet6", prefixLength: 64 } });

      const removed = nextEvent(sub, "address del", (e) => e.kind === "address" && e.action === "del");
      ip("addr", "del", "10.77.9.120/24", "dev", DEV);
      expect(await removed).toMatchObject({
        kind: "address",
        action: "del",
        address: { cidr: "10.77.9.120/24" },
      });

      const removed6 = nextEvent(sub, "address6 del", (e) => e.kind === "address" && e.action === "del");
      await rt!.deleteAddress(DEV, "fd00:77:9::120/64");
      expect(await removed6).toMatchObject({ action: "del", address: { address: "fd00:77:9::120" } });
    } finally {
      sub.close();
    }
  });
});

describe("opening", () => {
  it("fails with NETLINK_OPEN_FAILED for a namespace that does not exist", async () => {
    const err = await rejection(Rtnetlink.open({ netns: `/run/netns/${NS}-absent` }));
    expect(err.code).toBe("NETLINK_OPEN_FAILED");
    expect(err.message).toContain(`${NS}-absent`);
  });
});

describe("generic netlink in a namespace", () => {
  it("resolves nlctrl and ethtool as genl does", async () => {
    const nlctrl = await genl!.resolveFamily("nlctrl");
    expect(nlctrl).toMatchObject({ id: 0x10, name: "nlctrl" });
    expect(nlctrl.multicastGroups).toContainEqual({ name: "notify", id: 0x10 });
    const ethtool = await genl!.resolveFamily("ethtool");
    const text = execFileSync("ip", ["netns", "exec", NS, "genl", "ctrl", "get", "name", "ethtool"], {
      encoding: "utf8",
    });
    const id = Number.parseInt(/ID: (0x[0-9a-f]+)/.exec(text)![1]!, 16);
    expect(ethtool.id).toBe(id);
    expect(ethtool.version).toBeGreaterThan(0);
  });

  it("rejects an unknown family with ENOENT naming it", async () => {
    const err = (await rejection(genl!.resolveFamily("vipd-nope"))) as NetlinkError;
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err.code).toBe("ENOENT");
    expect(err.message).toContain('resolve generic netlink family "vipd-nope" failed: ENOENT');
  });

  it("dumps every family (a multi-part genl dump)", async () => {
    const ctrl = await genl!.family("nlctrl");
    const all = await ctrl.dump(3, undefined, { operation: "list generic netlink families" });
    const names = all.map((g) => g.attrs.string(2));
    expect(names).toContain("nlctrl");
    expect(names).toContain("ethtool");
  });
});

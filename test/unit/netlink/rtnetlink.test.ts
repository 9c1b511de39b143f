import { describe, expect, it } from "vitest";
import { VipdError } from "../../../src/errors.js";
import { setLogLevel } from "../../../src/log.js";
import { AttrMap, AttrWriter } from "../../../src/netlink/attr.js";
import { NetlinkError } from "../../../src/netlink/connection.js";
import {
  encodeMessage,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  type NlMessage,
} from "../../../src/netlink/message.js";
import {
  decodeAddress,
  encodeIfAddrMsg,
  encodeIfInfoMsg,
  encodeNewAddress,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  IFLA_IFNAME,
  IFLA_MTU,
  IFLA_OPERSTATE,
  type RouteEvent,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from "../../../src/netlink/route.js";
import { ack, done, FakeNetlinkSocket, nack, part, reply } from "../../../src/netlink/testing.js";
import { Rtnetlink } from "../../../src/sys/rtnetlink.js";
import type { OpenOptions } from "../../../src/sys/socket-types.js";

setLogLevel("silent");

interface FakeLink {
  index: number;
  name: string;
  flags: number;
}

/** A tiny rtnetlink "kernel": links by name/index, an address table, EEXIST / EADDRNOTAVAIL. */
function routeKernel(links: FakeLink[]) {
  const addrs: Buffer[] = []; // RTM_NEWADDR payloads as installed
  const linkPayload = (l: FakeLink) => [
    encodeIfInfoMsg({ index: l.index, flags: l.flags, type: 1 }),
    new AttrWriter().string(IFLA_IFNAME, l.name).u32(IFLA_MTU, 1500).u8(IFLA_OPERSTATE, 6).toBuffer(),
  ];
  const key = (p: Buffer) => {
    const a = decodeAddress({
      header: { length: 0, type: RTM_NEWADDR, flags: 0, seq: 0, pid: 0 },
      payload: p,
    })!;
    return `${a.ifindex} ${a.cidr}`;
  };
  const kernel = (req: NlMessage): Buffer[] => {
    switch (req.header.type) {
      case RTM_GETLINK: {
        if (req.header.flags & NLM_F_DUMP)
          return [...links.map((l) => part(req, RTM_NEWLINK, linkPayload(l))), done(req)];
        const index = req.payload.readInt32LE(4);
        const name = AttrMap.parse(req.payload.subarray(16)).string(IFLA_IFNAME);
        const l = links.find((x) => (name !== undefined ? x.name === name : x.index === index));
        return l ? [reply(req, RTM_NEWLINK, linkPayload(l)), ack(req)] : [nack(req, 19)];
      }
      case RTM_NEWADDR: {
        if (!links.some((l) => l.index === req.payload.readUInt32LE(4)))
          return [nack(req, 19, { message: "ipv4: Device not found" })];
        const k = key(req.payload);
        if (addrs.some((a) => key(a) === k)) return [nack(req, 17)];
        addrs.push(Buffer.from(req.payload));
        return [ack(req)];
      }
      case RTM_DELADDR: {
        const k = key(req.payload);
        const i = addrs.findIndex((a) => key(a) === k);
        if (i === -1) return [nack(req, 99)];
        addrs.splice(i, 1);
        return [ack(req)];
      }
      case RTM_GETADDR:
        return [...addrs.map((a) => part(req, RTM_NEWADDR, a)), done(req)];
      default:
        return [nack(req, 95)];
    }
  };
  return { kernel, addrs };
}

function setup(
  links: FakeLink[] = [
    { index: 1, name: "lo", flags: IFF_UP | IFF_RUNNING | IFF_LOWER_UP },
    { index: 4, name: "veth0", flags: IFF_UP },
  ],
) {
  const k = routeKernel(links);
  const sockets: FakeNetlinkSocket[] = [];
  const opened: OpenOptions[] = [];
  const openSocket = (opts: OpenOptions) => {
    opened.push(opts);
    const s = new FakeNetlinkSocket(k.kernel);
    sockets.push(s);
    return s;
  };
  return { ...k, sockets, opened, openSocket };
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

describe("Rtnetlink (fake kernel)", () => {
  it("opens NETLINK_ROUTE in the namespace and lists links", async () => {
    const f = setup();
    const rt = await Rtnetlink.open({ netns: "/run/netns/t", openSocket: f.openSocket });
    expect(f.opened[0]).toMatchObject({ family: "netlink", protocol: 0, netns: "/run/netns/t" });
    const links = await rt.listLinks();
    expect(links.map((l) => [l.ifindex, l.name, l.up, l.running, l.lowerUp, l.operState, l.mtu])).toEqual([
      [1, "lo", true, true, true, "up", 1500],
      [4, "veth0", true, false, false, "up", 1500],
    ]);
    expect(await rt.linkByName("veth0")).toMatchObject({ ifindex: 4 });
    expect(await rt.linkByName("nope")).toBeUndefined();
    expect(await rt.linkByIndex(1)).toMatchObject({ name: "lo" });
    rt.close();
  });

  it("adds, lists and deletes addresses by interface name", async () => {
    const f = setup();
    const rt = await Rtnetlink.open({ openSocket: f.openSocket });
    await rt.addAddress("veth0", "10.0.0.100/24");
    await rt.addAddress(4, "fd00::100/64", { noDad: true });
    const newaddr = f.sockets[0]!.requests.filter((r) => r.header.type === RTM_NEWADDR);
    expect(newaddr).toHaveLength(2);
    expect(newaddr[0]!.header.flags & (NLM_F_CREATE | NLM_F_EXCL)).toBe(NLM_F_CREATE | NLM_F_EXCL);
    expect((await rt.listAddresses("veth0")).map((a) => [a.family, a.cidr, a.flags])).toEqual([
      ["inet", "10.0.0.100/24", 0],
      ["inet6", "fd00::100/64", 2],
    ]);
    expect(await rt.listAddresses(1)).toEqual([]);
    await rt.deleteAddress("veth0", "10.0.0.100/24");
    await rt.deleteAddress(4, "fd00::100/64");
    expect(await rt.listAddresses()).toEqual([]);
    rt.close();
  });

  it("names the operation in EEXIST, ENODEV and EADDRNOTAVAIL errors", async () => {
    const f = setup();
    const rt = await Rtnetlink.open({ openSocket: f.openSocket });
    await rt.addAddress("veth0", "10.0.0.100/24");
    const exists = (await rejection(rt.addAddress("veth0", "10.0.0.100/24"))) as NetlinkError;
    expect(exists).toBeInstanceOf(NetlinkError);
    expect(exists.code).toBe("EEXIST");
    expect(exists.message).toBe("add address 10.0.0.100/24 on veth0 failed: EEXIST (File exists)");
    const noName = await rejection(rt.addAddress("eth9", "10.0.0.1/24"));
    expect(noName.code).toBe("ENODEV");
    expect(noName.message).toBe(
      'add address 10.0.0.1/24 on eth9 failed: ENODEV (No such device): no interface named "eth9"',
    );
    const noIndex = await rejection(rt.addAddress(99, "10.0.0.1/24"));
    expect(noIndex.message).toBe(
      "add address 10.0.0.1/24 on ifindex 99 failed: ENODEV (No such device): ipv4: Device not found",
    );
    const gone = await rejection(rt.deleteAddress("veth0", "10.0.0.7/24"));
    expect(gone.code).toBe("EADDRNOTAVAIL");
    expect(gone.message).toMatch(/^delete address 10\.0\.0\.7\/24 on veth0 failed: EADDRNOTAVAIL/);
    expect((await rejection(rt.addAddress("veth0", "10.0.0.300/24"))).code).toBe("NETLINK_BAD_ADDRESS");
    rt.close();
  });

  it("subscribes on a second socket bound to the groups and emits typed events", async () => {
    const f = setup();
    const rt = await Rtnetlink.open({ openSocket: f.openSocket });
    const sub = await rt.subscribe(["link", "ipv4-addr", "ipv6-addr"]);
    expect(f.sockets).toHaveLength(2);
    expect(f.sockets[1]!.bound).toEqual({ family: "netlink", pid: 0, groups: 0x111 });
    const events: RouteEvent[] = [];
    sub.on("event", (e) => events.push(e));
    const ev = f.sockets[1]!;
    ev.notify(
      encodeMessage({
        type: RTM_NEWLINK,
        payload: [
          encodeIfInfoMsg({ index: 4, flags: 0 }),
          new AttrWriter().string(IFLA_IFNAME, "veth0").toBuffer(),
        ],
      }),
      1,
    );
    const addr = encodeNewAddress(4, "10.0.0.100/24");
    ev.notify(encodeMessage({ type: RTM_DELADDR, payload: addr.payload! }), 0x10);
    ev.notify(encodeMessage({ type: 24, payload: encodeIfAddrMsg() }), 0x40); // a route: ignored
    expect(events).toEqual([
      {
        kind: "link",
        action: "new",
        link: expect.objectContaining({ ifindex: 4, name: "veth0", up: false, running: false }),
      },
      {
        kind: "address",
        action: "del",
        address: expect.objectContaining({ ifindex: 4, family: "inet", cidr: "10.0.0.100/24" }),
      },
    ]);
    const overruns: Error[] = [];
    sub.on("overrun", (e) => overruns.push(e));
    ev.emit("error", Object.assign(new Error("ENOBUFS"), { code: "ENOBUFS" }));
    expect(overruns).toHaveLength(1);
    rt.close();
    expect(ev.closed).toBe(true);
    expect(f.sockets[0]!.closed).toBe(true);
  });

  it("refuses an empty subscription", async () => {
    const f = setup();
    const rt = await Rtnetlink.open({ openSocket: f.openSocket });
    expect((await rejection(rt.subscribe([]))).code).toBe("NETLINK_BAD_GROUP");
    rt.close();
  });
});

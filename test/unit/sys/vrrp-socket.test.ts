import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { Announcer } from "../../../src/sys/announce.js";
import { encodeBpf, vridFilter } from "../../../src/sys/bpf.js";
import {
  IP_ADD_MEMBERSHIP,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IP_TTL,
  IPV6_JOIN_GROUP,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_LOOP,
  IPV6_UNICAST_HOPS,
  SO_RCVBUFFORCE,
  SOL_IP,
  SOL_IPV6,
  SOL_SOCKET,
} from "../../../src/sys/constants.js";
import { packIpMreqn, packIpv6Mreq } from "../../../src/sys/socket.js";
import type {
  OpenOptions,
  RecvInfo,
  SendOptions,
  SockAddr,
  VipdSocket,
} from "../../../src/sys/socket-types.js";
import { type ReceivedPacket, VrrpSocket } from "../../../src/sys/vrrp-socket.js";
import { decodeAdvert, type VrrpAdvert } from "../../../src/vrrp/packet.js";

class FakeSocket extends EventEmitter implements VipdSocket {
  readonly fd = 99;
  closed = false;
  device: string | undefined;
  readonly options: { level: number; name: number; value: number | Buffer }[] = [];
  readonly sent: { data: Buffer; to: SockAddr | undefined; options: SendOptions | undefined }[] = [];
  failTo: string | undefined;

  constructor(readonly opened: OpenOptions) {
    super();
  }
  get family() {
    return this.opened.family;
  }
  bind(): void {}
  setOption(level: number, name: number, value: number | Buffer): void {
    this.options.push({ level, name, value });
  }
  getOption(): never {
    throw new Error("not faked");
  }
  bindToDevice(ifname: string): void {
    this.device = ifname;
  }
  readonly filters: Buffer[] = [];
  attachFilter(program: Buffer): void {
    this.filters.push(program);
  }
  localAddress(): SockAddr {
    return { family: "inet", address: "0.0.0.0" };
  }
  send(data: Buffer | Buffer[], to?: SockAddr, options?: SendOptions): number {
    const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    if (to && "address" in to && to.address === this.failTo) throw new Error("sendmsg EHOSTUNREACH");
    this.sent.push({ data: buf, to, options });
    return buf.length;
  }
  close(): void {
    this.closed = true;
  }
  option(level: number, name: number) {
    return this.options.find((o) => o.level === level && o.name === name)?.value;
  }
}

function opener() {
  const made: FakeSocket[] = [];
  return {
    made,
    open: (o: OpenOptions) => {
      const s = new FakeSocket(o);
      made.push(s);
      return s;
    },
  };
}

const advert: VrrpAdvert = {
  version: 3,
  vrid: 51,
  priority: 150,
  maxAdvertIntervalCs: 10,
  addresses: ["10.0.0.100"],
};

describe("VrrpSocket (IPv4)", () => {
  it("opens a raw proto-112 socket bound to the device, joined to 224.0.0.18, TTL 255, no loop", () => {
    const o = opener();
    new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    const s = o.made[0]!;
    expect(s.opened).toMatchObject({ family: "inet", protocol: 112 });
    expect(s.device).toBe("eth0");
    expect(s.option(SOL_IP, IP_ADD_MEMBERSHIP)).toEqual(packIpMreqn("224.0.0.18", 7));
    expect(s.option(SOL_IP, IP_MULTICAST_IF)).toEqual(packIpMreqn("0.0.0.0", 7));
    expect(s.option(SOL_IP, IP_MULTICAST_TTL)).toBe(255);
    expect(s.option(SOL_IP, IP_TTL)).toBe(255);
    expect(s.option(SOL_IP, IP_MULTICAST_LOOP)).toBe(0);
  });

  it("sends to the group from the given source with a pseudo-header checksum for that pair", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    expect(vs.sendAdvert(advert, "10.0.0.2", { peers: [], checksumMode: "pseudo" })).toBe(1);
    const sent = o.made[0]!.sent[0]!;
    expect(sent.to).toEqual({ family: "inet", address: "224.0.0.18" });
    expect(sent.options).toEqual({ ifindex: 7, source: "10.0.0.2" });
    const d = decodeAdvert(sent.data, { family: "inet", src: "10.0.0.2", dst: "224.0.0.18" });
    expect(d).toMatchObject({ ok: true, advert: { priority: 150, checksumMode: "pseudo" } });
  });

  it("with unicast peers sends one advert per peer, each checksummed for its destination", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    vs.sendAdvert(advert, "10.0.0.2", { peers: ["10.0.0.3", "10.0.0.4"], checksumMode: "pseudo" });
    const sent = o.made[0]!.sent;
    expect(sent.map((x) => x.to)).toEqual([
      { family: "inet", address: "10.0.0.3" },
      { family: "inet", address: "10.0.0.4" },
    ]);
    for (const x of sent) {
      const dst = (x.to as { address: string }).address;
      expect(decodeAdvert(x.data, { family: "inet", src: "10.0.0.2", dst }).ok).toBe(true);
    }
  });

  it("unicast adverts carry unicast_ttl's send TTL; the group keeps the socket's 255", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    vs.sendAdvert(advert, "10.0.0.2", { peers: ["10.0.0.3"], checksumMode: "pseudo", unicastTtl: 64 });
    vs.sendAdvert(advert, "10.0.0.2", { peers: [], checksumMode: "pseudo", unicastTtl: 64 });
    expect(o.made[0]!.sent.map((x) => x.options)).toEqual([
      { ifindex: 7, source: "10.0.0.2", hopLimit: 64 },
      { ifindex: 7, source: "10.0.0.2" },
    ]);
  });

  it("a failing peer does not stop the others; the failure is reported", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    o.made[0]!.failTo = "10.0.0.3";
    expect(() =>
      vs.sendAdvert(advert, "10.0.0.2", { peers: ["10.0.0.3", "10.0.0.4"], checksumMode: "message" }),
    ).toThrow(/10\.0\.0\.3 \(sendmsg EHOSTUNREACH\)/);
    expect(o.made[0]!.sent).toHaveLength(1);
  });

  it("hands received IPv4 packets over whole (the IP header carries TTL, src and dst)", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    const got: ReceivedPacket[] = [];
    vs.on("packet", (p) => got.push(p));
    const info: RecvInfo = {
      from: { family: "inet", address: "10.0.0.9" },
      ifindex: 7,
      truncated: false,
      truncatedControl: false,
    };
    o.made[0]!.emit("message", Buffer.from([0x45]), info);
    expect(got).toEqual([{ family: "inet", packet: Buffer.from([0x45]), ifindex: 7 }]);
  });
});

describe("VrrpSocket: packets from another interface", () => {
  for (const family of ["inet", "inet6"] as const) {
    it(`${family}: a packet that arrived on another ifindex (queued before SO_BINDTODEVICE) is dropped as 'interface'`, () => {
      const o = opener();
      const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family, open: o.open });
      const got: ReceivedPacket[] = [];
      const drops: string[][] = [];
      vs.on("packet", (p) => got.push(p));
      vs.on("drop", (reason, detail) => drops.push([reason, detail]));
      const from =
        family === "inet"
          ? ({ family: "inet", address: "10.0.1.9" } as const)
          : ({ family: "inet6", address: "fe80::9", scopeId: 8 } as const);
      o.made[0]!.emit("message", Buffer.from([0x45]), {
        from,
        ifindex: 8,
        truncated: false,
        truncatedControl: false,
      } satisfies RecvInfo);
      expect(got).toEqual([]);
      expect(drops).toEqual([
        ["interface", `packet from ${from.address} arrived on ifindex 8, not on eth0 (ifindex 7)`],
      ]);
      // The socket's own interface still gets through.
      o.made[0]!.emit("message", Buffer.from([0x45]), {
        from,
        ifindex: 7,
        truncated: false,
        truncatedControl: false,
      } satisfies RecvInfo);
      expect(got).toHaveLength(1);
    });
  }
});

describe("VrrpSocket: kernel VRID filter", () => {
  it("attaches a filter for the VRIDs given, again only when they change", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    vs.setVrids([52, 51]);
    vs.setVrids([51, 52, 51]);
    expect(o.made[0]!.filters).toEqual([encodeBpf(vridFilter("inet", [51, 52]))]);
    expect(vs.filteredVrids).toBe("51,52");
    vs.setVrids([51]);
    expect(o.made[0]!.filters).toHaveLength(2);
  });

  it("IPv6 sockets stay unfiltered (a filter would make the kernel count bad checksums as queue drops)", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet6", open: o.open });
    vs.setVrids([51]);
    expect(o.made[0]!.filters).toEqual([]);
    expect(vs.filteredVrids).toBeUndefined();
  });

  it("a filter the kernel refuses leaves the socket unfiltered (validation still counts those as vrid)", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    o.made[0]!.attachFilter = () => {
      throw new Error("setsockopt(SO_ATTACH_FILTER) ENOMEM");
    };
    vs.setVrids([51]);
    expect(vs.filteredVrids).toBeUndefined();
  });
});

describe("VrrpSocket: receive queue", () => {
  it("asks for a 4 MiB receive queue (SO_RCVBUFFORCE)", () => {
    const o = opener();
    new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    expect(o.made[0]!.option(SOL_SOCKET, SO_RCVBUFFORCE)).toBe(4 * 1024 * 1024);
  });

  it("turns the kernel's cumulative queue-drop count into drops of the packets lost since the last report", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet", open: o.open });
    const drops: [string, number][] = [];
    const got: ReceivedPacket[] = [];
    vs.on("drop", (reason, _detail, count) => drops.push([reason, count]));
    vs.on("packet", (p) => got.push(p));
    const info = (queueDrops?: number): RecvInfo => ({
      from: { family: "inet", address: "10.0.0.9" },
      ifindex: 7,
      truncated: false,
      truncatedControl: false,
      ...(queueDrops !== undefined ? { queueDrops } : {}),
    });
    for (const q of [undefined, 5, 5, 12]) o.made[0]!.emit("message", Buffer.from([0x45]), info(q));
    expect(drops).toEqual([
      ["queue_overflow", 5],
      ["queue_overflow", 7],
    ]);
    expect(vs.queueDrops).toBe(12);
    // The packet that carried the count is itself delivered.
    expect(got).toHaveLength(4);
  });
});

describe("VrrpSocket (IPv6)", () => {
  it("joins ff02::12, hop limits 255, no loop; sends scoped to the interface", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet6", open: o.open });
    const s = o.made[0]!;
    expect(s.option(SOL_IPV6, IPV6_JOIN_GROUP)).toEqual(packIpv6Mreq("ff02::12", 7));
    expect(s.option(SOL_IPV6, IPV6_MULTICAST_HOPS)).toBe(255);
    expect(s.option(SOL_IPV6, IPV6_UNICAST_HOPS)).toBe(255);
    expect(s.option(SOL_IPV6, IPV6_MULTICAST_LOOP)).toBe(0);
    vs.sendAdvert({ ...advert, addresses: ["2001:db8::100"] }, "fe80::2", {
      peers: [],
      checksumMode: "pseudo",
    });
    expect(s.sent[0]?.to).toEqual({ family: "inet6", address: "ff02::12", scopeId: 7 });
    expect(decodeAdvert(s.sent[0]!.data, { family: "inet6", src: "fe80::2", dst: "ff02::12" }).ok).toBe(true);
  });

  it("reports hop limit, source and destination from ancillary data", () => {
    const o = opener();
    const vs = new VrrpSocket({ ifname: "eth0", ifindex: 7, family: "inet6", open: o.open });
    const got: ReceivedPacket[] = [];
    vs.on("packet", (p) => got.push(p));
    o.made[0]!.emit("message", Buffer.from([1]), {
      from: { family: "inet6", address: "fe80::9", scopeId: 7 },
      hopLimit: 255,
      destination: "ff02::12",
      ifindex: 7,
      truncated: false,
      truncatedControl: false,
    } satisfies RecvInfo);
    expect(got).toEqual([
      {
        family: "inet6",
        payload: Buffer.from([1]),
        hopLimit: 255,
        src: "fe80::9",
        dst: "ff02::12",
        ifindex: 7,
      },
    ]);
  });
});

describe("Announcer", () => {
  const mac = Buffer.from([2, 0, 0, 0, 0, 1]);

  it("sends gratuitous ARP frames to the broadcast MAC on the interface", () => {
    const o = opener();
    const a = new Announcer({ ifname: "eth0", ifindex: 7, mac, open: o.open });
    expect(a.garp("10.0.0.100", 3)).toBe(3);
    const s = o.made[0]!;
    expect(s.opened).toMatchObject({ family: "packet", protocol: 0 });
    expect(s.sent).toHaveLength(3);
    expect(s.sent[0]?.to).toEqual({
      family: "packet",
      ifindex: 7,
      protocol: 0x0806,
      address: Buffer.alloc(6, 0xff),
    });
    expect(s.sent[0]?.data.subarray(6, 12)).toEqual(mac);
  });

  it("sends unsolicited NAs from the VIP to ff02::1 with hop limit 255", () => {
    const o = opener();
    const a = new Announcer({ ifname: "eth0", ifindex: 7, mac, open: o.open });
    a.na("2001:db8::100", 2);
    const s = o.made[0]!;
    expect(s.opened).toMatchObject({ family: "inet6", protocol: 58 });
    expect(s.device).toBe("eth0");
    expect(s.sent[0]?.to).toEqual({ family: "inet6", address: "ff02::1", scopeId: 7 });
    expect(s.sent[0]?.options).toEqual({ ifindex: 7, source: "2001:db8::100", hopLimit: 255 });
    expect(s.sent[0]?.data[0]).toBe(136);
    a.close();
    expect(s.closed).toBe(true);
  });
});

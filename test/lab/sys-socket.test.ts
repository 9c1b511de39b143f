/**
 * src/sys/socket.ts against the real kernel (root): raw IPv4/IPv6 on loopback, AF_PACKET
 * across a veth pair and netlink inside network namespaces created here (vnat-<hex>,
 * always deleted), worker threads, and shutdown paths with sockets still open.
 * Traffic stays on the host's loopback or inside those namespaces.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { encodeBpf, vridFilter } from "../../src/sys/bpf.js";
import {
  ARPHRD_ETHER,
  ETH_P_ALL,
  ETH_P_ARP,
  IP_TTL,
  IPV6_CHECKSUM,
  IPV6_UNICAST_HOPS,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_EXT_ACK,
  PACKET_BROADCAST,
  PACKET_OUTGOING,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SOL_IP,
  SOL_IPV6,
  SOL_NETLINK,
  SOL_SOCKET,
} from "../../src/sys/constants.js";
import { loadNative } from "../../src/sys/native.js";
import { ifIndexToName, ifNameToIndex, type NativeVipdSocket, openSocket } from "../../src/sys/socket.js";
import type { RecvInfo } from "../../src/sys/socket-types.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

// ---------------------------------------------------------------- namespaces

const namespaces = new Set<string>();

/** A fresh network namespace with lo up; deleted in afterAll even when a test fails. */
function createNetns(): { name: string; path: string } {
  const name = `vnat-${randomBytes(4).toString("hex")}`;
  execFileSync("ip", ["netns", "add", name]);
  namespaces.add(name);
  execFileSync("ip", ["-n", name, "link", "set", "lo", "up"]);
  return { name, path: `/run/netns/${name}` };
}

function deleteNetns(name: string): void {
  spawnSync("ip", ["netns", "del", name]);
  namespaces.delete(name);
}

function deleteAllNetns(): void {
  for (const name of [...namespaces]) deleteNetns(name);
}
afterAll(deleteAllNetns);
// Also when the run is cut short (a hung test, Ctrl-C): never leave a namespace behind.
process.on("exit", deleteAllNetns);

// ---------------------------------------------------------------- sockets

const sockets: NativeVipdSocket[] = [];
function track(s: NativeVipdSocket): NativeVipdSocket {
  sockets.push(s);
  return s;
}
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

interface Received {
  msg: Buffer;
  info: RecvInfo;
}

/** The first datagram satisfying `pred`; rejects on an 'error' event. */
function nextMessage(
  sock: NativeVipdSocket,
  pred: (msg: Buffer, info: RecvInfo) => boolean,
): Promise<Received> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Buffer, info: RecvInfo) => {
      if (!pred(msg, info)) return;
      sock.off("message", onMessage).off("error", onError);
      resolve({ msg, info });
    };
    const onError = (err: Error) => {
      sock.off("message", onMessage).off("error", onError);
      reject(err);
    };
    sock.on("message", onMessage).on("error", onError);
  });
}

const nonce = () => randomBytes(12);

// ---------------------------------------------------------------- netlink helpers

const RTM_GETLINK = 18;
const RTM_NEWLINK = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const IFLA_IFNAME = 3;

/** RTM_GETLINK dump request: nlmsghdr + ifinfomsg (AF_UNSPEC). Netlink is host order (LE here). */
function getlinkRequest(seq: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(32, 0);
  b.writeUInt16LE(RTM_GETLINK, 4);
  b.writeUInt16LE(0x301, 6); // NLM_F_REQUEST | NLM_F_DUMP
  b.writeUInt32LE(seq, 8);
  return b;
}

/** Sends an RTM_GETLINK dump and collects interface names until NLMSG_DONE. */
function dumpLinkNames(sock: NativeVipdSocket): Promise<string[]> {
  const seq = randomBytes(4).readUInt32LE(0) >>> 1;
  const names: string[] = [];
  return new Promise((resolve, reject) => {
    const finish = (err?: Error) => {
      sock.off("message", onMessage);
      if (err) reject(err);
      else resolve(names);
    };
    const onMessage = (buf: Buffer) => {
      for (let off = 0; off + 16 <= buf.length; ) {
        const len = buf.readUInt32LE(off);
        const type = buf.readUInt16LE(off + 4);
        if (len < 16) break;
        if (buf.readUInt32LE(off + 8) === seq) {
          if (type === NLMSG_DONE) return finish();
          if (type === NLMSG_ERROR) return finish(new Error(`netlink error ${buf.readInt32LE(off + 16)}`));
          if (type === RTM_NEWLINK) {
            for (let a = off + 32; a + 4 <= off + len; ) {
              const alen = buf.readUInt16LE(a);
              if (alen < 4) break;
              if (buf.readUInt16LE(a + 2) === IFLA_IFNAME) {
                names.push(buf.toString("utf8", a + 4, a + alen).replace(/\0.*$/s, ""));
              }
              a += (alen + 3) & ~3;
            }
          }
        }
        off += (len + 3) & ~3;
      }
    };
    sock.on("message", onMessage);
    sock.send(getlinkRequest(seq), { family: "netlink", pid: 0 });
  });
}

// ---------------------------------------------------------------- tests

describe("raw IPv4, protocol 112, on 127.0.0.1", () => {
  it("receives the IP header, TTL 255 and the arrival interface", async () => {
    const rx = track(openSocket({ family: "inet", protocol: 112 }));
    rx.bind({ family: "inet", address: "127.0.0.1" });
    const tx = track(openSocket({ family: "inet", protocol: 112 }));
    tx.setOption(SOL_IP, IP_TTL, 255);
    expect(tx.getOption(SOL_IP, IP_TTL)).toBe(255);

    const payload = nonce();
    const got = nextMessage(rx, (m) => m.includes(payload));
    expect(tx.send(payload, { family: "inet", address: "127.0.0.1" })).toBe(payload.length);
    const { msg, info } = await got;

    expect(msg[0]! >> 4).toBe(4); // IPv4 header first
    const ihl = (msg[0]! & 0x0f) * 4;
    expect(msg[8]).toBe(255); // TTL in the header
    expect(msg[9]).toBe(112); // protocol
    expect(msg.subarray(ihl)).toEqual(payload);
    expect(info.ttl).toBe(255);
    expect(info.ifindex).toBe(ifNameToIndex("lo"));
    expect(info.destination).toBe("127.0.0.1");
    expect(info.from).toEqual({ family: "inet", address: "127.0.0.1" });
    expect(info.truncated).toBe(false);
    expect(info.truncatedControl).toBe(false);
  });

  it("counts what a full receive queue dropped (SO_RXQ_OVFL): received + dropped = sent", async () => {
    const rx = track(openSocket({ family: "inet", protocol: 112 }));
    rx.bind({ family: "inet", address: "127.0.0.1" });
    rx.setOption(SOL_SOCKET, SO_RCVBUF, 4096);
    const tx = track(openSocket({ family: "inet", protocol: 112 }));
    const tag = nonce();
    let received = 0;
    let queueDrops = 0;
    let last = Date.now();
    rx.on("message", (msg: Buffer, info: RecvInfo) => {
      if (!msg.includes(tag)) return;
      received += 1;
      queueDrops = Math.max(queueDrops, info.queueDrops ?? 0);
      last = Date.now();
    });
    const sent = 500;
    // Sent in one synchronous run: the event loop cannot read in between, so the queue overflows.
    for (let i = 0; i < sent; i++)
      tx.send(Buffer.concat([tag, Buffer.alloc(512)]), { family: "inet", address: "127.0.0.1" });
    const settle = async () => {
      while (Date.now() - last < 300) await new Promise((r) => setTimeout(r, 50));
    };
    await settle();
    // The count rides on the next datagram queued after the drops (as the next advert would).
    tx.send(Buffer.concat([tag, Buffer.alloc(512)]), { family: "inet", address: "127.0.0.1" });
    last = Date.now();
    await settle();
    expect(queueDrops).toBeGreaterThan(0);
    expect(received + queueDrops).toBe(sent + 1);
  });

  it("sends an iovec of several buffers with a per-packet TTL", async () => {
    const rx = track(openSocket({ family: "inet", protocol: 112 }));
    rx.bind({ family: "inet", address: "127.0.0.1" });
    const parts = [nonce(), Buffer.from("-middle-"), nonce()];
    const got = nextMessage(rx, (m) => m.includes(parts[0]!));
    rx.send(parts, { family: "inet", address: "127.0.0.1" }, { hopLimit: 7, ifindex: ifNameToIndex("lo") });
    const { msg, info } = await got;
    expect(msg.subarray(20)).toEqual(Buffer.concat(parts));
    expect(info.ttl).toBe(7);
  });

  it("reports truncation when the datagram exceeds recvBufferSize", async () => {
    const rx = track(openSocket({ family: "inet", protocol: 112, recvBufferSize: 24 }));
    rx.bind({ family: "inet", address: "127.0.0.1" });
    const tag = nonce();
    const payload = Buffer.concat([tag.subarray(0, 4), Buffer.alloc(100, 0xab)]);
    const got = nextMessage(rx, (m) => m.subarray(20).equals(tag.subarray(0, 4)));
    rx.send(payload, { family: "inet", address: "127.0.0.1" });
    const { msg, info } = await got;
    expect(msg.length).toBe(24);
    expect(info.truncated).toBe(true);
  });

  it("rejects a malformed destination before the kernel sees it", () => {
    const tx = track(openSocket({ family: "inet", protocol: 112 }));
    expect(() => tx.send(Buffer.alloc(4), { family: "inet", address: "300.1.1.1" })).toThrow(
      expect.objectContaining({ code: "SOCKET_INVALID_ADDRESS" }),
    );
    expect(() =>
      tx.send(Buffer.alloc(4), { family: "inet", address: "127.0.0.1" }, { source: "::1" }),
    ).toThrow(expect.objectContaining({ code: "SOCKET_INVALID_ADDRESS" }));
  });
});

describe("kernel VRID filter (src/sys/bpf.ts) on raw sockets", () => {
  /** A VRRP-looking payload: version 3, type 1, the VRID, a tag to find it by. */
  const vrrpLike = (vrid: number, tag: Buffer) => Buffer.concat([Buffer.from([0x31, vrid, 100, 0]), tag]);

  for (const [family, address] of [
    ["inet", "127.0.0.1"],
    ["inet6", "::1"],
  ] as const) {
    it(`${family}: only the VRIDs in the filter are queued`, async () => {
      const rx = track(openSocket({ family, protocol: 112 }));
      rx.bind({ family, address });
      rx.attachFilter(encodeBpf(vridFilter(family, [51, 53])));
      const tx = track(openSocket({ family, protocol: 112 }));
      const tag = nonce();
      const seen: number[] = [];
      rx.on("message", (msg: Buffer) => {
        const at = msg.indexOf(tag);
        if (at >= 4) seen.push(msg[at - 3] as number);
      });
      for (const vrid of [50, 51, 52, 53, 254]) tx.send(vrrpLike(vrid, tag), { family, address });
      // A last one that passes, with a tag of its own, marks the end: the kernel queues in order.
      const last = nonce();
      const end = nextMessage(rx, (m) => m.includes(last));
      tx.send(vrrpLike(53, last), { family, address });
      await end;
      expect(seen).toEqual([51, 53]);
    });
  }

  it("a program the kernel refuses (a jump past the end) is EINVAL; an empty one never reaches it", () => {
    const s = track(openSocket({ family: "inet", protocol: 112 }));
    const bad = Buffer.from("1500ff0033000000", "hex"); // jeq #51, jt 255: out of range
    expect(() => s.attachFilter(bad)).toThrow(
      expect.objectContaining({ code: "EINVAL", syscall: "setsockopt(SO_ATTACH_FILTER)" }),
    );
    expect(() => s.attachFilter(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => s.attachFilter(Buffer.alloc(12))).toThrow(RangeError);
  });
});

describe("sendmsg reads the data buffers only after all JS has run", () => {
  const native = loadNative();
  const C = native.constants as Record<string, number>;
  /** A Buffer over its own ArrayBuffer, and a function that detaches (frees) that memory. */
  const detachable = (size: number, fill: number) => {
    const ab = new ArrayBuffer(size);
    return { buf: Buffer.from(ab).fill(fill), detach: () => void structuredClone(ab, { transfer: [ab] }) };
  };

  it("a getter on `to`, on `options` or on a later array element that detaches a buffer sends nothing of it", () => {
    const raw = new native.Socket(C.AF_INET!, C.SOCK_RAW!, 112, null, null, () => {});
    try {
      const a = detachable(64, 0x41);
      const to = {
        family: "inet",
        get address() {
          a.detach();
          return "127.0.0.1";
        },
      };
      // Before the fix the kernel was handed the freed 64 bytes.
      expect(raw.sendmsg(a.buf, to as never, null)).toBe(0);

      const b = detachable(64, 0x42);
      const options = {
        get hopLimit() {
          b.detach();
          return 64;
        },
      };
      expect(raw.sendmsg(b.buf, { family: "inet", address: "127.0.0.1" }, options)).toBe(0);

      const c = detachable(32, 0x43);
      const tail = Buffer.from("tail");
      const parts: Buffer[] = [c.buf];
      Object.defineProperty(parts, 1, {
        enumerable: true,
        get() {
          c.detach();
          return tail;
        },
      });
      expect(raw.sendmsg(parts, { family: "inet", address: "127.0.0.1" }, null)).toBe(tail.length);
    } finally {
      raw.close();
    }
  });
});

describe("raw IPv6, protocol 112, on ::1", () => {
  it("delivers the hop limit (IPV6_UNICAST_HOPS 255) and packet info", async () => {
    const rx = track(openSocket({ family: "inet6", protocol: 112 }));
    rx.bind({ family: "inet6", address: "::1" });
    const tx = track(openSocket({ family: "inet6", protocol: 112 }));
    tx.setOption(SOL_IPV6, IPV6_UNICAST_HOPS, 255);
    tx.setOption(SOL_IPV6, IPV6_CHECKSUM, 6); // what VRRPv3 over IPv6 uses; payload needs >= 8 bytes

    const payload = Buffer.concat([Buffer.alloc(8), nonce()]);
    const got = nextMessage(rx, (m) => m.subarray(8).equals(payload.subarray(8)));
    tx.send(payload, { family: "inet6", address: "::1" });
    const { msg, info } = await got;

    expect(msg.length).toBe(payload.length); // no IPv6 header on raw IPv6 sockets
    expect(msg.readUInt16BE(6)).not.toBe(0); // the kernel filled in the checksum
    expect(info.hopLimit).toBe(255);
    expect(info.ifindex).toBe(ifNameToIndex("lo"));
    expect(info.destination).toBe("::1");
    expect(info.from).toEqual({ family: "inet6", address: "::1", scopeId: 0 });
  });

  it("honours a per-packet hop limit and source", async () => {
    const rx = track(openSocket({ family: "inet6", protocol: 112 }));
    rx.bind({ family: "inet6", address: "::1" });
    const payload = nonce();
    const got = nextMessage(rx, (m) => m.equals(payload));
    // A zone suffix is accepted and becomes scopeId (ignored by the kernel for ::1).
    rx.send(payload, { family: "inet6", address: "::1%lo" }, { hopLimit: 9, source: "::1", ifindex: 0 });
    const { info } = await got;
    expect(info.hopLimit).toBe(9);
  });
});

describe("AF_PACKET across a veth pair in a namespace", () => {
  it("sends an ARP frame out one end and receives it on the other (raw and dgram)", async () => {
    const ns = createNetns();
    try {
      execFileSync("ip", ["-n", ns.name, "link", "add", "va", "type", "veth", "peer", "name", "vb"]);
      execFileSync("ip", ["-n", ns.name, "link", "set", "va", "up"]);
      execFileSync("ip", ["-n", ns.name, "link", "set", "vb", "up"]);
      const va = ifNameToIndex("va", ns.path);
      const vb = ifNameToIndex("vb", ns.path);
      expect(ifIndexToName(vb, ns.path)).toBe("vb");

      const rawRx = track(openSocket({ family: "packet", protocol: ETH_P_ARP, netns: ns.path }));
      rawRx.bind({ family: "packet", ifindex: vb });
      const dgramRx = track(
        openSocket({ family: "packet", type: "dgram", protocol: ETH_P_ARP, netns: ns.path }),
      );
      dgramRx.bind({ family: "packet", ifindex: vb });
      const tx = track(openSocket({ family: "packet", protocol: ETH_P_ARP, netns: ns.path }));
      tx.bind({ family: "packet", ifindex: va });
      expect(tx.localAddress()).toMatchObject({ family: "packet", ifindex: va, protocol: ETH_P_ARP });

      const src = Buffer.from([0x02, ...randomBytes(5)]);
      const arp = Buffer.concat([
        Buffer.from("0001080006040001", "hex"), // Ethernet/IPv4, request
        src,
        Buffer.from([10, 99, 0, 1]),
        Buffer.alloc(6),
        Buffer.from([10, 99, 0, 2]),
      ]);
      const frame = Buffer.concat([Buffer.alloc(6, 0xff), src, Buffer.from([0x08, 0x06]), arp]);

      // A packet socket never sees its own transmissions; an ETH_P_ALL tap on va does, as outgoing.
      const monitor = track(openSocket({ family: "packet", protocol: ETH_P_ALL, netns: ns.path }));
      monitor.bind({ family: "packet", ifindex: va });

      const rawGot = nextMessage(rawRx, (m) => m.subarray(6, 12).equals(src));
      const dgramGot = nextMessage(dgramRx, (m) => m.subarray(8, 14).equals(src));
      const outGot = nextMessage(monitor, (m) => m.subarray(6, 12).equals(src));
      // A veth whose carrier is still coming up drops frames: resend until one arrives.
      tx.send(frame, { family: "packet", ifindex: va });
      const resend = setInterval(() => {
        if (!tx.closed) tx.send(frame, { family: "packet", ifindex: va });
      }, 50);
      try {
        const raw = await rawGot;
        expect(raw.msg.subarray(0, frame.length)).toEqual(frame);
        expect(raw.info.ifindex).toBe(vb);
        expect(raw.info.from).toEqual({
          family: "packet",
          ifindex: vb,
          protocol: ETH_P_ARP,
          hatype: ARPHRD_ETHER,
          pkttype: PACKET_BROADCAST,
          address: src,
        });
        const dgram = await dgramGot;
        expect(dgram.msg.subarray(0, arp.length)).toEqual(arp); // link-layer header removed
        const out = await outGot;
        expect(out.info.from).toMatchObject({ ifindex: va, protocol: ETH_P_ARP, pkttype: PACKET_OUTGOING });
      } finally {
        clearInterval(resend);
      }

      // SOCK_DGRAM send: the kernel builds the Ethernet header from the address.
      const dgramTx = track(
        openSocket({ family: "packet", type: "dgram", protocol: ETH_P_ARP, netns: ns.path }),
      );
      const arp2 = Buffer.from(arp);
      const src2 = Buffer.from([0x02, ...randomBytes(5)]);
      src2.copy(arp2, 8);
      const got2 = nextMessage(dgramRx, (m) => m.subarray(8, 14).equals(src2));
      dgramTx.send(arp2, { family: "packet", ifindex: va, address: Buffer.alloc(6, 0xff) });
      expect((await got2).msg.subarray(0, arp2.length)).toEqual(arp2);
    } finally {
      for (const s of sockets.splice(0)) s.close();
      deleteNetns(ns.name);
    }
  });
});

describe("netlink", () => {
  it("dumps links over NETLINK_ROUTE and sees lo", async () => {
    const nl = track(openSocket({ family: "netlink", protocol: 0, recvBufferSize: 1 << 20 }));
    nl.setOption(SOL_NETLINK, NETLINK_EXT_ACK, 1);
    nl.bind({ family: "netlink" });
    const local = nl.localAddress();
    expect(local).toMatchObject({ family: "netlink", groups: 0 });
    expect(local.family === "netlink" && local.pid).toBeGreaterThan(0);
    const names = await dumpLinkNames(nl);
    expect(names).toContain("lo");
  });

  it("with netns and only the service's capabilities (no CAP_SYS_ADMIN): EPERM that says why", () => {
    const ns = createNetns();
    const addon =
      process.env.VIPD_NATIVE_ADDON ??
      fileURLToPath(new URL("../../build/Release/vipd_native.node", import.meta.url));
    const r = spawnSync(
      "setpriv",
      [
        "--bounding-set=-sys_admin",
        process.execPath,
        "-e",
        `const n = require(${JSON.stringify(addon)});
         try { new n.Socket(n.constants.AF_NETLINK, n.constants.SOCK_RAW, 0, ${JSON.stringify(ns.path)}, null, () => {}); console.log("opened"); }
         catch (e) { console.log(JSON.stringify({ code: e.code, syscall: e.syscall, path: e.path })); }`,
      ],
      { encoding: "utf8", timeout: 10_000 },
    );
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({
      code: "EPERM",
      syscall: "setns (needs CAP_SYS_ADMIN: the netns option is for the lab)",
      path: ns.path,
    });
  });

  it("with netns: a fresh namespace has only lo", async () => {
    const ns = createNetns();
    try {
      const nl = track(
        openSocket({ family: "netlink", protocol: 0, netns: ns.path, recvBufferSize: 1 << 20 }),
      );
      expect(await dumpLinkNames(nl)).toEqual(["lo"]);
      expect(ifNameToIndex("lo", ns.path)).toBe(1);
      // The calling thread came back to its own namespace.
      const host = track(openSocket({ family: "netlink", protocol: 0, recvBufferSize: 1 << 20 }));
      expect((await dumpLinkNames(host)).length).toBeGreaterThanOrEqual(1);
      expect(() => ifNameToIndex("vipd-nope0", ns.path)).toThrow(expect.objectContaining({ code: "ENODEV" }));
    } finally {
      for (const s of sockets.splice(0)) s.close();
      deleteNetns(ns.name);
    }
  });

  it("reports receive-queue overflow as an ENOBUFS 'error' event and keeps receiving", async () => {
    const ns = createNetns();
    try {
      const nl = track(openSocket({ family: "netlink", protocol: 0, netns: ns.path }));
      nl.setOption(SOL_SOCKET, SO_RCVBUFFORCE, 4096);
      expect(nl.getOption(SOL_SOCKET, SO_RCVBUF)).toBeLessThanOrEqual(8192);
      nl.bind({ family: "netlink" }); // multicast delivery needs a bound port
      nl.setOption(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, 5); // RTNLGRP_IPV4_IFADDR
      const errors: Error[] = [];
      let afterError = 0;
      nl.on("error", (e) => errors.push(e));
      nl.on("message", () => {
        if (errors.length > 0) afterError++;
      });
      // Blocks this thread while the kernel queues far more notifications than fit.
      const batch = Array.from(
        { length: 200 },
        (_, i) => `addr add 10.98.${i >> 8}.${i & 255}/32 dev lo`,
      ).join("\n");
      execFileSync("ip", ["-n", ns.name, "-batch", "-"], { input: `${batch}\n` });
      while (errors.length === 0) await new Promise((r) => setImmediate(r));
      expect(errors[0]).toMatchObject({ code: "ENOBUFS", syscall: "recvmsg" });
      // Still alive: a new notification arrives after the overflow.
      const tag = nextMessage(nl, (m) => m.includes(Buffer.from([10, 97, 0, 1])));
      execFileSync("ip", ["-n", ns.name, "addr", "add", "10.97.0.1/32", "dev", "lo"]);
      await tag;
      expect(afterError).toBeGreaterThan(0);
    } finally {
      for (const s of sockets.splice(0)) s.close();
      deleteNetns(ns.name);
    }
  });
});

describe("socket options and binding", () => {
  it("bindToDevice, SO_RCVBUF round trip and buffer getOption", () => {
    const s = track(openSocket({ family: "inet", protocol: 112 }));
    s.bindToDevice("lo");
    const dev = s.getOption(SOL_SOCKET, 25 /* SO_BINDTODEVICE */, 16);
    expect(dev.toString("utf8").replace(/\0.*$/s, "")).toBe("lo");
    s.setOption(SOL_SOCKET, SO_RCVBUF, 65536);
    expect(s.getOption(SOL_SOCKET, SO_RCVBUF)).toBe(131072); // the kernel doubles it
    expect(() => s.bindToDevice("vipd-nope0")).toThrow(
      expect.objectContaining({ code: "ENODEV", syscall: "setsockopt" }),
    );
  });
});

describe("worker_threads", () => {
  it("a socket opened in a worker receives on the worker's event loop", async () => {
    const payload = nonce();
    const w = new Worker(fixture("sys-socket-worker.mjs"), {
      workerData: { mode: "receive", nonce: payload.toString("hex") },
    });
    // Node emits a worker's last messages and its 'exit' in one go: listen from the start.
    const exited = once(w, "exit");
    try {
      const [ready] = (await once(w, "message")) as [{ type: string; fd: number }];
      expect(ready.type).toBe("ready");
      expect(ready.fd).toBeGreaterThanOrEqual(0);
      const tx = track(openSocket({ family: "inet", protocol: 112 }));
      tx.setOption(SOL_IP, IP_TTL, 255);
      const got = once(w, "message");
      tx.send(payload, { family: "inet", address: "127.0.0.1" });
      const [m] = (await got) as [{ type: string; data: Uint8Array; info: RecvInfo }];
      expect(m.type).toBe("message");
      expect(Buffer.from(m.data).subarray(20)).toEqual(payload);
      expect(m.info.ttl).toBe(255);
      expect(m.info.destination).toBe("127.0.0.1");
      // The worker closed its socket after one datagram; nothing keeps it alive then.
      const [code] = (await exited) as [number];
      expect(code).toBe(0);
    } finally {
      await w.terminate();
    }
  });

  it("terminating a worker with an open, busy socket is clean", async () => {
    const payload = nonce();
    const w = new Worker(fixture("sys-socket-worker.mjs"), {
      workerData: { mode: "hold", nonce: payload.toString("hex") },
    });
    const [ready] = (await once(w, "message")) as [{ type: string }];
    expect(ready.type).toBe("ready");
    const tx = track(openSocket({ family: "inet", protocol: 112 }));
    for (let i = 0; i < 50; i++) tx.send(payload, { family: "inet", address: "127.0.0.1" });
    const code = await w.terminate();
    expect(code).toBe(1);
    // This thread's sockets still work afterwards.
    const rx = track(openSocket({ family: "inet", protocol: 112 }));
    rx.bind({ family: "inet", address: "127.0.0.1" });
    const again = nonce();
    const got = nextMessage(rx, (m) => m.includes(again));
    tx.send(again, { family: "inet", address: "127.0.0.1" });
    await got;
  });
});

describe("closing and shutdown", () => {
  it("close with a read pending, and close from inside a callback with more queued", async () => {
    const idle = openSocket({ family: "inet", protocol: 112 });
    idle.close();
    await once(idle, "close");

    const rx = track(openSocket({ family: "inet", protocol: 112 }));
    rx.bind({ family: "inet", address: "127.0.0.1" });
    const tag = nonce();
    let seen = 0;
    rx.on("message", (m: Buffer) => {
      if (!m.includes(tag)) return;
      seen++;
      rx.close();
    });
    for (let i = 0; i < 5; i++) rx.send(tag, { family: "inet", address: "127.0.0.1" });
    await once(rx, "close");
    await new Promise((r) => setImmediate(r));
    expect(seen).toBe(1);
  });

  it.each([
    ["exit", "process.exit with open sockets and queued data"],
    ["natural", "the loop runs dry with unref'd open sockets"],
    ["worker", "the main thread exits while a worker holds sockets"],
  ])("child %s: %s → exit 0, nothing on stderr", (mode) => {
    const r = spawnSync(process.execPath, [fixture("sys-socket-child.mjs"), mode], { encoding: "utf8" });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
      status: 0,
      signal: null,
      stderr: "",
    });
  });

  it("child gc: finalizers of closed and self-closed sockets run cleanly", () => {
    const r = spawnSync(process.execPath, ["--expose-gc", fixture("sys-socket-child.mjs"), "gc"], {
      encoding: "utf8",
    });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout }).toEqual({
      status: 0,
      signal: null,
      stderr: "",
      stdout: "gc-done\n",
    });
  });

  it("child pending: a failure building a received message reaches the callback, and the socket stays live", () => {
    const r = spawnSync(process.execPath, [fixture("sys-socket-child.mjs"), "pending"], { encoding: "utf8" });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
      status: 0,
      signal: null,
      stderr: "",
    });
    // Before the fix: {"messages":0,"errors":[]} — the pending exception made the thread deaf.
    expect(JSON.parse(r.stdout)).toEqual({ messages: 20, errors: ["setter-boom"] });
  });

  it("child throw: an exception in a receive listener is an uncaught exception, not swallowed", () => {
    const r = spawnSync(process.execPath, [fixture("sys-socket-child.mjs"), "throw"], { encoding: "utf8" });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("boom-from-listener");
  });
});

import { AttrMap, AttrWriter, parseAttrs } from "../../../src/netlink/attr.js";

/**
 * A tiny in-memory IPVS for tests: it takes generic netlink request payloads and answers
 * dumps with reply payloads the way net/netfilter/ipvs/ip_vs_ctl.c does (nests without
 * NLA_F_NESTED, HASHED set, FLAGS mask ~0, 16-byte addresses, STATS and STATS64 with PAD
 * attributes, TUN_* always present). It uses literal attribute numbers on purpose, so it
 * checks the codec's constants rather than sharing them.
 */

export class FakeErrno extends Error {
  constructor(readonly errno: "EINVAL" | "EEXIST" | "ESRCH" | "ENOENT" | "ERANGE" | "EAFNOSUPPORT") {
    super(errno);
  }
}

interface KDest {
  af: number;
  addr: Buffer; // 16 bytes
  port: number;
  fwd: number;
  weight: number;
  u: number;
  l: number;
  tunType: number;
  tunPort: number;
  tunFlags: number;
}

interface KService {
  af: number;
  protocol: number;
  addr: Buffer; // 16 bytes
  port: number;
  fwmark: number;
  sched: string;
  pe?: string;
  flags: number;
  timeout: number;
  netmask: Buffer; // the 4 NETMASK bytes as given
  dests: KDest[];
}

const HASHED = 0x2;
const SCHEDULERS = new Set([
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "lblcr",
  "dh",
  "sh",
  "sed",
  "nq",
  "fo",
  "ovf",
  "mh",
]);

function addr16(b: Buffer | undefined): Buffer {
  const out = Buffer.alloc(16);
  b?.copy(out, 0, 0, Math.min(16, b.length));
  return out;
}

function eqAddr(af: number, a: Buffer, b: Buffer): boolean {
  return af === 2 ? a.subarray(0, 4).equals(b.subarray(0, 4)) : a.equals(b);
}

/** Reads a nest from a request: the top-level attribute `type`, NESTED flag or not. */
function nestOf(payload: Buffer, type: number): AttrMap | undefined {
  const a = parseAttrs(payload, "request").find((x) => x.type === type);
  return a ? AttrMap.parse(a.data, `request nest ${type}`) : undefined;
}

export class FakeIpvs {
  readonly services: KService[] = [];
  /** Commands handled, in order, as [cmd, ok]. */
  readonly log: Array<[number, boolean]> = [];

  private findService(s: AttrMap): {
    svc: KService | undefined;
    ident: Omit<KService, "sched" | "flags" | "timeout" | "netmask" | "dests">;
  } {
    const af = s.u16(1);
    const fwmark = s.u32(5);
    const protocol = s.u16(2);
    const addr = s.bytes(3);
    const port = s.u16be(4);
    if (
      af === undefined ||
      !(fwmark !== undefined || (protocol !== undefined && addr && port !== undefined))
    ) {
      throw new FakeErrno("EINVAL");
    }
    if (af !== 2 && af !== 10) throw new FakeErrno("EAFNOSUPPORT");
    const ident =
      fwmark !== undefined
        ? { af, protocol: 6, addr: Buffer.alloc(16), port: 0, fwmark }
        : { af, protocol: protocol!, addr: addr16(addr), port: port!, fwmark: 0 };
    const svc = this.services.find((x) =>
      ident.fwmark
        ? x.fwmark === ident.fwmark && x.af === af
        : x.fwmark === 0 &&
          x.af === af &&
          x.protocol === ident.protocol &&
          x.port === ident.port &&
          eqAddr(af, x.addr, ident.addr),
    );
    return { svc, ident };
  }

  /** Applies one command; throws FakeErrno like the kernel's negative return. */
  handle(cmd: number, payload: Buffer): void {
    try {
      this.dispatch(cmd, payload);
      this.log.push([cmd, true]);
    } catch (err) {
      this.log.push([cmd, false]);
      throw err;
    }
  }

  private dispatch(cmd: number, payload: Buffer): void {
    if (cmd === 17) {
      this.services.length = 0;
      return;
    }
    const s = nestOf(payload, 1);
    if (!s) throw new FakeErrno("EINVAL");
    const { svc, ident } = this.findService(s);
    const full = cmd === 1 || cmd === 2;
    let parsed: Pick<KService, "sched" | "pe" | "flags" | "timeout" | "netmask"> | undefined;
    if (full) {
      const sched = s.string(6);
      const flagsBuf = s.bytes(7, 8);
      const timeout = s.u32(8);
      const netmask = s.bytes(9, 4);
      if (sched === undefined || !flagsBuf || timeout === undefined || !netmask)
        throw new FakeErrno("EINVAL");
      const flags = flagsBuf.readUInt32LE(0);
      const mask = flagsBuf.readUInt32LE(4);
      const prefill = svc ? svc.flags : 0;
      const pe = s.string(11);
      parsed = {
        sched,
        flags: (prefill & ~mask) | (flags & mask),
        timeout,
        netmask: Buffer.from(netmask),
        ...(pe ? { pe } : {}),
      };
    }
    if (cmd !== 1 && !svc) throw new FakeErrno("ESRCH");

    if (cmd === 1 || cmd === 2) {
      const p = parsed!;
      if (!SCHEDULERS.has(p.sched)) throw new FakeErrno("ENOENT");
      if (ident.af === 10) {
        const plen = p.netmask.readUInt32LE(0); // (__force __u32) of the be32 read
        if (plen < 1 || plen > 128) throw new FakeErrno("EINVAL");
      }
      if (cmd === 1) {
        if (svc) throw new FakeErrno("EEXIST");
        this.services.push({ ...ident, ...p, flags: (p.flags & ~HASHED) | HASHED, dests: [] });
      } else {
        Object.assign(svc!, { ...p, flags: p.flags | HASHED });
        if (!p.pe) delete svc!.pe;
      }
      return;
    }
    if (cmd === 3) {
      this.services.splice(this.services.indexOf(svc!), 1);
      return;
    }
    if (cmd === 5 || cmd === 6 || cmd === 7) {
      this.destCmd(cmd, svc!, payload);
      return;
    }
    throw new FakeErrno("EINVAL");
  }

  private destCmd(cmd: number, svc: KService, payload: Buffer): void {
    const d = nestOf(payload, 2);
    if (!d) throw new FakeErrno("EINVAL");
    const addr = d.bytes(1);
    const port = d.u16be(2);
    if (!addr || port === undefined) throw new FakeErrno("EINVAL");
    const af = d.u16(11) || svc.af;
    const u: KDest = {
      af,
      addr: addr16(addr),
      port,
      fwd: 0,
      weight: 0,
      u: 0,
      l: 0,
      tunType: 0,
      tunPort: 0,
      tunFlags: 0,
    };
    if (cmd !== 7) {
      const fwd = d.u32(3);
      const weight = d.u32(4);
      const uth = d.u32(5);
      const lth = d.u32(6);
      if (fwd === undefined || weight === undefined || uth === undefined || lth === undefined) {
        throw new FakeErrno("EINVAL");
      }
      Object.assign(u, {
        fwd: fwd & 7,
        weight,
        u: uth,
        l: lth,
        tunType: d.u8(13) ?? 0,
        tunPort: d.u16be(14) ?? 0,
        tunFlags: d.u16(15) ?? 0,
      });
      if (u.af !== svc.af && u.fwd !== 2) throw new FakeErrno("EINVAL");
      if ((u.weight | 0) < 0) throw new FakeErrno("ERANGE"); // the kernel's weight is an int
      if (u.l > u.u) throw new FakeErrno("ERANGE");
      if (u.tunType === 1 && u.tunPort === 0) throw new FakeErrno("EINVAL");
    }
    const existing = svc.dests.find(
      (x) => x.af === u.af && x.port === u.port && eqAddr(u.af, x.addr, u.addr),
    );
    if (cmd === 5) {
      if (existing) throw new FakeErrno("EEXIST");
      svc.dests.push(u);
    } else if (cmd === 6) {
      if (!existing) throw new FakeErrno("ENOENT");
      Object.assign(existing, u);
    } else {
      if (!existing) throw new FakeErrno("ENOENT");
      svc.dests.splice(svc.dests.indexOf(existing), 1);
    }
  }

  /** GET_SERVICE dump: one reply payload per service. */
  dumpServices(): Buffer[] {
    return this.services.map((s) => {
      const w = new AttrWriter().u16(1, s.af);
      if (s.fwmark) w.u32(5, s.fwmark);
      else w.u16(2, s.protocol).bytes(3, s.addr).u16be(4, s.port);
      w.string(6, s.sched);
      if (s.pe) w.string(11, s.pe);
      const flags = Buffer.alloc(8);
      flags.writeUInt32LE(s.flags, 0);
      flags.writeUInt32LE(0xffffffff, 4);
      w.bytes(7, flags).u32(8, s.timeout).bytes(9, s.netmask);
      w.bytes(10, stats32()).bytes(12, stats64());
      return new AttrWriter().bytes(1, w.toBuffer()).toBuffer(); // nla_nest_start_noflag
    });
  }

  /** GET_DEST dump for the service named in `request` (an unknown service gives an empty dump). */
  dumpDests(request: Buffer): Buffer[] {
    const s = nestOf(request, 1);
    if (!s) return [];
    const { svc } = this.findService(s);
    if (!svc) return [];
    return svc.dests.map((d) => {
      const w = new AttrWriter()
        .bytes(1, d.addr)
        .u16be(2, d.port)
        .u32(3, d.fwd)
        .u32(4, d.weight)
        .u8(13, d.tunType)
        .u16be(14, d.tunPort)
        .u16(15, d.tunFlags)
        .u32(5, d.u)
        .u32(6, d.l)
        .u32(7, 3)
        .u32(8, 4)
        .u32(9, 5)
        .u16(11, d.af)
        .bytes(10, stats32())
        .bytes(12, stats64());
      return new AttrWriter().bytes(2, w.toBuffer()).toBuffer();
    });
  }
}

/** ip_vs_genl_fill_stats: u32 counters and rates, u64 byte counts. */
function stats32(): Buffer {
  const w = new AttrWriter().u32(1, 7).u32(2, 70).u32(3, 60);
  w.flag(11).u64(4, 7000n).flag(11).u64(5, 6000n);
  return w.u32(6, 1).u32(7, 10).u32(8, 9).u32(9, 1000).u32(10, 900).toBuffer();
}

/** ip_vs_genl_fill_stats64: every field u64, each preceded by a PAD here (as on strict-alignment arches). */
function stats64(): Buffer {
  const w = new AttrWriter();
  const vals = [7n, 70n, 60n, 7000n, 6000n, 1n, 10n, 9n, 1000n, 900n];
  vals.forEach((v, i) => {
    w.flag(11).u64(i + 1, v + (1n << 40n));
  });
  return w.toBuffer();
}

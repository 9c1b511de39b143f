import { AttrMap, AttrWriter, parseAttrs } from "../../../src/netlink/attr.js";
import type { SocketOpener } from "../../../src/netlink/connection.js";
import { errnoNumber } from "../../../src/netlink/errno.js";
import { encodeGenlHeader, GENL_ID_CTRL } from "../../../src/netlink/genl.js";
import { NLM_F_ACK, NLM_F_DUMP, type NlMessage } from "../../../src/netlink/message.js";
import { ack, done, FakeNetlinkSocket, nack, part, reply } from "../../../src/netlink/testing.js";
import { FakeErrno, FakeIpvs } from "./fake-ipvs.js";

/**
 * The IPVS generic netlink family as a fake kernel behind FakeNetlinkSockets: nlctrl resolves
 * "IPVS", and IPVS commands go to a FakeIpvs (the table simulator), plus GET_INFO, ZERO and the
 * sync daemons, which FakeIpvs does not model. Like the kernel it answers a request without
 * NLM_F_ACK only when it fails. Literal numbers on purpose (uapi ip_vs.h / genetlink.h), so the
 * client's constants are checked rather than shared.
 */

export const FAMILY_ID = 0x23;

export interface FakeDaemon {
  state: number; // 1 master, 2 backup
  ifname: string;
  syncId: number;
}

export class FakeIpvsNetlink {
  readonly ipvs = new FakeIpvs();
  readonly daemons: FakeDaemon[] = [];
  /** Every socket handed out by opener(), in order. */
  readonly sockets: FakeNetlinkSocket[] = [];
  /** Every IPVS request, in order: [cmd, flags]. */
  readonly commands: Array<{ cmd: number; flags: number; payload: Buffer }> = [];
  /** The family is known (false: resolving it answers ENOENT, as without ip_vs). */
  available = true;
  /** Refuse the next IPVS request with this errno (the ip_vs autoload quirk). */
  failNext: string | undefined;
  /** Called for each IPVS request; return an errno name to refuse it. */
  refuse: ((cmd: number, attrs: Buffer) => string | undefined) | undefined;
  /** Never answer IPVS write requests (for timeouts). */
  silent = false;
  zeroed = 0;

  /** A SocketOpener whose every socket talks to this kernel. */
  opener(): SocketOpener {
    return () => {
      const s = new FakeNetlinkSocket((req) => this.answer(req), 4242 + this.sockets.length);
      this.sockets.push(s);
      return s;
    };
  }

  /** Datagrams sent to IPVS by all sockets. */
  get datagrams(): number {
    return this.sockets.reduce((n, s) => n + s.sent.length, 0);
  }

  private answer(req: NlMessage): Buffer | Buffer[] | undefined {
    if (req.header.type === GENL_ID_CTRL) return this.nlctrl(req);
    if (req.header.type !== FAMILY_ID) return nack(req, 95);
    const cmd = req.payload[0] as number;
    const attrs = req.payload.subarray(4);
    this.commands.push({ cmd, flags: req.header.flags, payload: Buffer.from(attrs) });
    const fail = (name: string) => nack(req, errnoNumber(name) ?? 22);
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      return fail(e);
    }
    const refused = this.refuse?.(cmd, attrs);
    if (refused) return fail(refused);
    const ok = (): Buffer | undefined => ((req.header.flags & NLM_F_ACK) !== 0 ? ack(req) : undefined);
    const msg = (c: number, w: AttrWriter | Buffer) =>
      [encodeGenlHeader({ cmd: c, version: 1 }), Buffer.isBuffer(w) ? w : w.toBuffer()] as Buffer[];
    const dump = (req.header.flags & NLM_F_DUMP) === NLM_F_DUMP;
    try {
      switch (cmd) {
        case 15: // GET_INFO
          return [reply(req, FAMILY_ID, msg(15, new AttrWriter().u32(1, 0x010201).u32(2, 4096))), ack(req)];
        case 4: {
          // GET_SERVICE
          const all = this.ipvs.dumpServices();
          if (dump) return [...all.map((p) => part(req, FAMILY_ID, msg(1, p))), done(req)];
          const idx = this.findServiceIndex(attrs);
          if (idx < 0) return fail("ESRCH");
          return [reply(req, FAMILY_ID, msg(1, all[idx] as Buffer)), ack(req)];
        }
        case 8: // GET_DEST
          return [...this.ipvs.dumpDests(attrs).map((p) => part(req, FAMILY_ID, msg(5, p))), done(req)];
        case 11: // GET_DAEMON
          return [
            ...this.daemons.map((d) =>
              part(
                req,
                FAMILY_ID,
                msg(
                  9,
                  new AttrWriter().bytes(
                    3,
                    new AttrWriter().u32(1, d.state).string(2, d.ifname).u32(3, d.syncId).toBuffer(),
                  ),
                ),
              ),
            ),
            done(req),
          ];
        case 9: {
          // NEW_DAEMON
          const d = this.daemonNest(attrs);
          const state = d.u32(1) ?? 0;
          if (this.daemons.some((x) => x.state === state)) return fail("EEXIST");
          this.daemons.push({ state, ifname: d.string(2) ?? "", syncId: d.u32(3) ?? 0 });
          return ok();
        }
        case 10: {
          // DEL_DAEMON
          const state = this.daemonNest(attrs).u32(1) ?? 0;
          const i = this.daemons.findIndex((x) => x.state === state);
          if (i < 0) return fail("ESRCH");
          this.daemons.splice(i, 1);
          return ok();
        }
        case 16: // ZERO
          this.zeroed++;
          return ok();
        default:
          if (this.silent) return undefined;
          this.ipvs.handle(cmd, attrs);
          return ok();
      }
    } catch (err) {
      if (err instanceof FakeErrno) return fail(err.errno);
      throw err;
    }
  }

  private findServiceIndex(attrs: Buffer): number {
    // Compare the request's identity with each service's as the dump reports it.
    const a = parseAttrs(attrs, "request").find((x) => x.type === 1);
    if (!a) return -1;
    const req = AttrMap.parse(a.data);
    return this.ipvs.dumpServices().findIndex((p) => {
      const s = AttrMap.parse(AttrMap.parse(p).get(1)?.data ?? Buffer.alloc(0));
      if (s.u16(1) !== req.u16(1)) return false;
      if (req.u32(5) !== undefined) return s.u32(5) === req.u32(5);
      return (
        s.u32(5) === undefined &&
        s.u16(2) === req.u16(2) &&
        s.u16be(4) === req.u16be(4) &&
        Buffer.compare(
          (s.bytes(3) ?? Buffer.alloc(16)).subarray(0, s.u16(1) === 2 ? 4 : 16),
          (req.bytes(3) ?? Buffer.alloc(16)).subarray(0, s.u16(1) === 2 ? 4 : 16),
        ) === 0
      );
    });
  }

  private daemonNest(attrs: Buffer): AttrMap {
    const a = parseAttrs(attrs, "request").find((x) => x.type === 3);
    return AttrMap.parse(a?.data ?? Buffer.alloc(0));
  }

  private nlctrl(req: NlMessage): Buffer[] {
    const name = AttrMap.parse(req.payload.subarray(4)).string(2);
    if (name !== "IPVS" || !this.available) return [nack(req, 2)];
    const attrs = new AttrWriter().u16(1, FAMILY_ID).string(2, "IPVS").u32(3, 1).u32(4, 0).u32(5, 6);
    return [reply(req, GENL_ID_CTRL, [encodeGenlHeader({ cmd: 1, version: 2 }), attrs.toBuffer()]), ack(req)];
  }
}

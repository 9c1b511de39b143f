import { VipdError } from "../errors.js";
import { AttrMap, AttrWriter } from "./attr.js";
import {
  type BatchItem,
  type BatchOptions,
  type BatchResult,
  type BatchSource,
  type ConnectionOptions,
  NetlinkConnection,
  NetlinkError,
  operationName,
  type SocketOpener,
} from "./connection.js";
import { NETLINK_GENERIC, type NlMessage, type NlMsgHeader, type OutgoingMessage } from "./message.js";

/**
 * Generic netlink (include/uapi/linux/genetlink.h): struct genlmsghdr {u8 cmd; u8 version;
 * u16 reserved} after the nlmsghdr, then an optional family header, then attributes.
 * Families are resolved by name through the controller family "nlctrl" (id 0x10).
 */

export const GENL_HDRLEN = 4;
export const GENL_ID_CTRL = 0x10;

export const CTRL_CMD_NEWFAMILY = 1;
export const CTRL_CMD_DELFAMILY = 2;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_CMD_NEWMCAST_GRP = 7;
export const CTRL_CMD_DELMCAST_GRP = 8;

export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
export const CTRL_ATTR_MAXATTR = 5;
export const CTRL_ATTR_OPS = 6;
export const CTRL_ATTR_MCAST_GROUPS = 7;

export const CTRL_ATTR_OP_ID = 1;
export const CTRL_ATTR_OP_FLAGS = 2;

export const CTRL_ATTR_MCAST_GRP_NAME = 1;
export const CTRL_ATTR_MCAST_GRP_ID = 2;

const CTRL_NAMES: Record<number, string> = {
  [CTRL_ATTR_FAMILY_ID]: "CTRL_ATTR_FAMILY_ID",
  [CTRL_ATTR_FAMILY_NAME]: "CTRL_ATTR_FAMILY_NAME",
  [CTRL_ATTR_VERSION]: "CTRL_ATTR_VERSION",
  [CTRL_ATTR_HDRSIZE]: "CTRL_ATTR_HDRSIZE",
  [CTRL_ATTR_MAXATTR]: "CTRL_ATTR_MAXATTR",
  [CTRL_ATTR_OPS]: "CTRL_ATTR_OPS",
  [CTRL_ATTR_MCAST_GROUPS]: "CTRL_ATTR_MCAST_GROUPS",
};

export interface GenlHeader {
  cmd: number;
  version: number;
}

export function encodeGenlHeader(h: GenlHeader): Buffer {
  const b = Buffer.alloc(GENL_HDRLEN);
  b.writeUInt8(h.cmd & 0xff, 0);
  b.writeUInt8(h.version & 0xff, 1);
  return b;
}

/**
 * The genl header for requests, one shared (never changed) buffer per command and version:
 * a batch of thousands of requests would otherwise allocate one each.
 */
const requestHeaders = new Map<number, Buffer>();

function genlHeader(cmd: number, version: number): Buffer {
  const key = ((cmd & 0xff) << 8) | (version & 0xff);
  let h = requestHeaders.get(key);
  if (!h) {
    h = encodeGenlHeader({ cmd, version });
    requestHeaders.set(key, h);
  }
  return h;
}

export interface GenlRequest {
  /** The family id (nlmsg_type). */
  family: number;
  cmd: number;
  version: number;
  /** Extra nlmsg flags (NLM_F_REQUEST is always set by the connection). */
  flags?: number;
  /** The family's own fixed header, for families with hdrsize > 0. */
  familyHeader?: Buffer;
  attrs?: AttrWriter | Buffer;
}

/** Builds the netlink message for a generic netlink request (seq is set by the connection). */
export function encodeGenlRequest(r: GenlRequest): OutgoingMessage {
  const parts: Buffer[] = [genlHeader(r.cmd, r.version)];
  if (r.familyHeader) parts.push(r.familyHeader);
  if (r.attrs) parts.push(Buffer.isBuffer(r.attrs) ? r.attrs : r.attrs.toBuffer());
  return { type: r.family, flags: r.flags ?? 0, payload: parts };
}

export interface GenlMessage {
  header: NlMsgHeader;
  cmd: number;
  version: number;
  /** The family header bytes (empty unless hdrsize > 0). */
  familyHeader: Buffer;
  attrs: AttrMap;
}

/** Decodes a generic netlink message; `hdrSize` is the family header length to skip. */
export function decodeGenl(
  msg: NlMessage,
  opts: { hdrSize?: number; where?: string; names?: Record<number, string> } = {},
): GenlMessage {
  const hdrSize = opts.hdrSize ?? 0;
  const where = opts.where ?? `genl message type ${msg.header.type}`;
  if (msg.payload.length < GENL_HDRLEN + hdrSize) {
    throw new VipdError(
      "NETLINK_MALFORMED",
      `${where}: payload of ${msg.payload.length} bytes is shorter than the genl header (${GENL_HDRLEN + hdrSize})`,
      { where, offset: 16, length: msg.payload.length },
    );
  }
  return {
    header: msg.header,
    cmd: msg.payload.readUInt8(0),
    version: msg.payload.readUInt8(1),
    familyHeader: msg.payload.subarray(GENL_HDRLEN, GENL_HDRLEN + hdrSize),
    attrs: AttrMap.parse(msg.payload.subarray(GENL_HDRLEN + hdrSize), where, opts.names),
  };
}

export interface GenlMulticastGroup {
  name: string;
  id: number;
}

export interface GenlFamilyInfo {
  id: number;
  name: string;
  version: number;
  hdrSize: number;
  maxAttr: number;
  /** Commands the family supports, with their GENL_* flags (when the kernel lists them). */
  ops: Array<{ id: number; flags: number }>;
  multicastGroups: GenlMulticastGroup[];
}

/** The CTRL_CMD_GETFAMILY request for `name` (CTRL_ATTR_FAMILY_NAME, NUL-terminated). */
export function encodeGetFamily(name: string): OutgoingMessage {
  return encodeGenlRequest({
    family: GENL_ID_CTRL,
    cmd: CTRL_CMD_GETFAMILY,
    version: 1,
    attrs: new AttrWriter().string(CTRL_ATTR_FAMILY_NAME, name),
  });
}

/** Decodes a CTRL_CMD_NEWFAMILY reply (the answer to GETFAMILY). */
export function decodeFamily(msg: NlMessage): GenlFamilyInfo {
  const g = decodeGenl(msg, { where: "nlctrl family reply", names: CTRL_NAMES });
  const a = g.attrs;
  const info: GenlFamilyInfo = {
    id: a.require(CTRL_ATTR_FAMILY_ID, a.u16),
    name: a.require(CTRL_ATTR_FAMILY_NAME, a.string),
    version: a.u32(CTRL_ATTR_VERSION) ?? 0,
    hdrSize: a.u32(CTRL_ATTR_HDRSIZE) ?? 0,
    maxAttr: a.u32(CTRL_ATTR_MAXATTR) ?? 0,
    ops: [],
    multicastGroups: [],
  };
  const ops = a.nested(CTRL_ATTR_OPS);
  if (ops) {
    for (const op of ops.attrs) {
      const m = AttrMap.parse(op.data, "nlctrl family reply > CTRL_ATTR_OPS");
      const id = m.u32(CTRL_ATTR_OP_ID);
      if (id !== undefined) info.ops.push({ id, flags: m.u32(CTRL_ATTR_OP_FLAGS) ?? 0 });
    }
  }
  const groups = a.nested(CTRL_ATTR_MCAST_GROUPS);
  if (groups) {
    for (const grp of groups.attrs) {
      const m = AttrMap.parse(grp.data, "nlctrl family reply > CTRL_ATTR_MCAST_GROUPS");
      const name = m.string(CTRL_ATTR_MCAST_GRP_NAME);
      const id = m.u32(CTRL_ATTR_MCAST_GRP_ID);
      if (name !== undefined && id !== undefined) info.multicastGroups.push({ name, id });
    }
  }
  return info;
}

/** Retries `fn` once when its first attempt fails and `shouldRetry` agrees. */
export async function retryOnce<T>(fn: () => Promise<T>, shouldRetry: (err: unknown) => boolean): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!shouldRetry(err)) throw err;
    return fn();
  }
}

/** The default retry predicate: a kernel refusal or a timeout. */
export function isRetryableFirstFailure(err: unknown): boolean {
  return err instanceof NetlinkError || (err instanceof VipdError && err.code === "NETLINK_TIMEOUT");
}

export interface GenlFamilyOptions {
  /** Version written into genlmsghdr (default: the family's version from the kernel). */
  version?: number;
  /** Attribute names for error messages. */
  names?: Record<number, string>;
  /**
   * Retry the first request made through this family once when it fails.
   * Use it for families that the kernel loads on demand (IPVS: resolving the family
   * autoloads ip_vs, and the first command afterwards can fail). `true` uses
   * isRetryableFirstFailure; a function decides per error. For a batch, only the failed
   * items are sent again.
   */
  retryFirstRequest?: boolean | ((err: unknown) => boolean);
}

export interface GenlRequestOptions {
  operation: string;
  flags?: number;
  /** Default true: wait for the kernel's ACK (replies that come first are returned). */
  ack?: boolean;
  timeoutMs?: number;
  familyHeader?: Buffer;
}

export interface GenlDumpOptions {
  operation: string;
  flags?: number;
  timeoutMs?: number;
  familyHeader?: Buffer;
  retries?: number;
}

export interface GenlBatchItem {
  cmd: number;
  attrs?: AttrWriter | Buffer;
  flags?: number;
  familyHeader?: Buffer;
  /** What it does, for errors; a function is called only when an error names it. */
  operation: string | (() => string);
}

/**
 * A batch whose requests write their own attributes (the connection's BatchSource, for genl):
 * request `i` is command `cmd(i)`, `write(i, w)` appends its attributes (after the genl
 * header) to `w`, throwing to refuse it; `operation(i)` is called only when an error names it.
 */
export interface GenlBatchSource {
  readonly length: number;
  cmd(i: number): number;
  write(i: number, w: AttrWriter): void;
  operation(i: number): string;
}

export type GenlBatchResult = { ok: true; replies: GenlMessage[] } | { ok: false; error: Error };

/** One resolved family on a connection: builds its requests and decodes its replies. */
export class GenlFamily {
  readonly info: GenlFamilyInfo;
  readonly version: number;
  private readonly names: Record<number, string>;
  private retryPredicate: ((err: unknown) => boolean) | undefined;

  constructor(
    readonly conn: NetlinkConnection,
    info: GenlFamilyInfo,
    opts: GenlFamilyOptions = {},
  ) {
    this.info = info;
    this.version = opts.version ?? info.version;
    this.names = opts.names ?? {};
    const r = opts.retryFirstRequest;
    this.retryPredicate = r === true ? isRetryableFirstFailure : typeof r === "function" ? r : undefined;
  }

  get id(): number {
    return this.info.id;
  }

  /** Builds the netlink message for `cmd` on this family. */
  message(cmd: number, attrs?: AttrWriter | Buffer, flags = 0, familyHeader?: Buffer): OutgoingMessage {
    if (familyHeader === undefined && Buffer.isBuffer(attrs)) {
      // The common case (a batch of thousands), without the intermediate GenlRequest.
      return { type: this.info.id, flags, payload: [genlHeader(cmd, this.version), attrs] };
    }
    const r: GenlRequest = { family: this.info.id, cmd, version: this.version, flags };
    if (attrs) r.attrs = attrs;
    if (familyHeader) r.familyHeader = familyHeader;
    return encodeGenlRequest(r);
  }

  /** Decodes a message of this family. */
  decode(msg: NlMessage, where?: string): GenlMessage {
    return decodeGenl(msg, {
      hdrSize: this.info.hdrSize,
      where: where ?? `${this.info.name} reply`,
      names: this.names,
    });
  }

  private takeRetry(): ((err: unknown) => boolean) | undefined {
    const r = this.retryPredicate;
    this.retryPredicate = undefined;
    return r;
  }

  async request(
    cmd: number,
    attrs: AttrWriter | Buffer | undefined,
    opts: GenlRequestOptions,
  ): Promise<GenlMessage[]> {
    const msg = this.message(cmd, attrs, opts.flags ?? 0, opts.familyHeader);
    const run = () =>
      this.conn.request(msg, {
        operation: opts.operation,
        ...(opts.ack !== undefined ? { ack: opts.ack } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      });
    const retry = this.takeRetry();
    const replies = retry ? await retryOnce(run, retry) : await run();
    return replies.map((m) => this.decode(m, `${opts.operation}: reply`));
  }

  async dump(
    cmd: number,
    attrs: AttrWriter | Buffer | undefined,
    opts: GenlDumpOptions,
  ): Promise<GenlMessage[]> {
    const msg = this.message(cmd, attrs, opts.flags ?? 0, opts.familyHeader);
    const run = () =>
      this.conn.dump(msg, {
        operation: opts.operation,
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      });
    const retry = this.takeRetry();
    const replies = retry ? await retryOnce(run, retry) : await run();
    return replies.map((m) => this.decode(m, `${opts.operation}: reply`));
  }

  /**
   * Several commands in as few datagrams as possible; per-item results, in order. Never rejects.
   * Items are GenlBatchItem objects, or a GenlBatchSource writing each straight into the datagram.
   */
  async batch(
    items: readonly GenlBatchItem[] | GenlBatchSource,
    opts: BatchOptions = {},
  ): Promise<GenlBatchResult[]> {
    let nl: readonly BatchItem[] | BatchSource;
    let name: (i: number) => string;
    if (Array.isArray(items)) {
      const list = items as readonly GenlBatchItem[];
      const msgs = new Array<BatchItem>(list.length);
      for (let i = 0; i < list.length; i++) {
        const it = list[i]!;
        msgs[i] = {
          msg: this.message(it.cmd, it.attrs, it.flags ?? 0, it.familyHeader),
          operation: it.operation,
        };
      }
      nl = msgs;
      name = (i) => operationName(list[i]!.operation);
    } else {
      const src = items as GenlBatchSource;
      nl = this.source(src);
      name = (i) => src.operation(i);
    }
    const raw = await this.conn.batch(nl, opts);
    const retry = this.takeRetry();
    if (retry) {
      const again = raw.flatMap((r, i) => (!r.ok && retry(r.error) ? [i] : []));
      if (again.length > 0) {
        const second = await this.conn.batch(subset(nl, again), opts);
        again.forEach((i, k) => {
          raw[i] = second[k]!;
        });
      }
    }
    for (let i = 0; i < raw.length; i++) {
      const r = raw[i]!;
      // No replies (the usual answer to a write): the result as it is, nothing to decode.
      if (!r.ok || r.replies.length === 0) continue;
      try {
        const where = `${name(i)}: reply`;
        raw[i] = { ok: true, replies: r.replies.map((m) => this.decode(m, where)) } as unknown as BatchResult;
      } catch (err) {
        raw[i] = { ok: false, error: err as Error };
      }
    }
    return raw as unknown as GenlBatchResult[];
  }

  /** A GenlBatchSource as the connection's BatchSource: the genl header, then the attributes. */
  private source(src: GenlBatchSource): BatchSource {
    const type = this.info.id;
    const version = this.version & 0xff;
    return {
      length: src.length,
      type: () => type,
      write: (i, w) => {
        const at = w.reserve(4);
        w.setU16(at, (src.cmd(i) & 0xff) | (version << 8)).setU16(at + 2, 0);
        src.write(i, w);
      },
      operation: (i) => src.operation(i),
    };
  }

  /**
   * Joins the named multicast group and calls `listener` with every notification of this
   * family. Returns a function that stops listening (and leaves the group).
   */
  subscribe(group: string, listener: (msg: GenlMessage) => void): () => void {
    const g = this.info.multicastGroups.find((x) => x.name === group);
    if (!g) {
      throw new VipdError(
        "NETLINK_NO_SUCH_GROUP",
        `generic netlink family ${this.info.name} has no multicast group "${group}"`,
        { family: this.info.name, group, groups: this.info.multicastGroups.map((x) => x.name) },
      );
    }
    this.conn.addMembership(g.id);
    const onNote = (m: NlMessage) => {
      if (m.header.type !== this.info.id) return;
      try {
        listener(this.decode(m, `${this.info.name} notification`));
      } catch (err) {
        if (this.conn.listenerCount("error") > 0) this.conn.emit("error", err as Error);
      }
    };
    this.conn.on("notification", onNote);
    return () => {
      this.conn.removeListener("notification", onNote);
      if (!this.conn.closed) this.conn.dropMembership(g.id);
    };
  }
}

export interface GenlOpenOptions extends ConnectionOptions {
  netns?: string;
  recvBufferSize?: number;
  socketReceiveBuffer?: number;
}

/** A generic netlink connection with a family cache. */
export class GenlClient {
  private readonly cache = new Map<string, Promise<GenlFamilyInfo>>();

  constructor(readonly conn: NetlinkConnection) {}

  static async open(openSocket: SocketOpener, opts: GenlOpenOptions = {}): Promise<GenlClient> {
    const conn = await NetlinkConnection.open(openSocket, {
      name: "genl",
      ...opts,
      protocol: NETLINK_GENERIC,
    });
    return new GenlClient(conn);
  }

  /**
   * Asks nlctrl for the family `name`. An unknown family rejects with NetlinkError code
   * ENOENT whose operation names the family. Successful answers are cached.
   */
  resolveFamily(name: string, opts: { timeoutMs?: number } = {}): Promise<GenlFamilyInfo> {
    let p = this.cache.get(name);
    if (!p) {
      p = this.lookup(name, opts.timeoutMs);
      this.cache.set(name, p);
      p.catch(() => this.cache.delete(name));
    }
    return p;
  }

  private async lookup(name: string, timeoutMs?: number): Promise<GenlFamilyInfo> {
    const operation = `resolve generic netlink family "${name}"`;
    const replies = await this.conn.request(encodeGetFamily(name), {
      operation,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    const reply = replies.find((m) => m.header.type === GENL_ID_CTRL);
    if (!reply) {
      throw new VipdError("NETLINK_NO_REPLY", `${operation}: the kernel acknowledged but sent no family`, {
        operation,
      });
    }
    return decodeFamily(reply);
  }

  /** Forgets cached family ids (after a module reload, say). */
  forget(name?: string): void {
    if (name === undefined) this.cache.clear();
    else this.cache.delete(name);
  }

  async family(name: string, opts: GenlFamilyOptions = {}): Promise<GenlFamily> {
    return new GenlFamily(this.conn, await this.resolveFamily(name), opts);
  }

  close(): void {
    this.conn.close();
  }
}

/** The items of `batch` at `indices`, in that order. */
function subset(
  batch: readonly BatchItem[] | BatchSource,
  indices: readonly number[],
): readonly BatchItem[] | BatchSource {
  if (Array.isArray(batch)) return indices.map((i) => (batch as readonly BatchItem[])[i]!);
  const src = batch as BatchSource;
  return {
    length: indices.length,
    type: (k) => src.type(indices[k]!),
    flags: (k) => src.flags?.(indices[k]!) ?? 0,
    write: (k, w) => src.write(indices[k]!, w),
    operation: (k) => src.operation(indices[k]!),
  };
}

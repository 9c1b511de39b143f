import { VipdError } from "../errors.js";

/**
 * Netlink attributes (struct nlattr): u16 length (header included), u16 type, payload,
 * padded to 4 bytes. Integers are host order (little-endian on every platform we ship),
 * except where the kernel says otherwise (ports, some addresses), for which *Be accessors exist.
 */

export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

export function nlaAlign(len: number): number {
  return (len + 3) & ~3;
}

export interface NlAttr {
  /** Attribute type with the NESTED / NET_BYTEORDER flag bits masked off. */
  type: number;
  nested: boolean;
  netByteOrder: boolean;
  data: Buffer;
}

/**
 * Builds a stream of attributes straight into one growing buffer: no buffer per attribute and
 * no concatenation, since big IPVS batches write tens of thousands of attributes. Every method
 * returns `this` so calls chain.
 */
export class AttrWriter {
  private buf: Buffer;
  private off = 0;

  /** `capacity`: the initial size; the buffer grows as needed. */
  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(capacity, 16));
  }

  /** Room for `n` more bytes. */
  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(b, 0, 0, this.off);
    this.buf = b;
  }

  private tooLong(type: number, payloadLength: number): VipdError {
    return new VipdError(
      "NETLINK_ATTR_TOO_LONG",
      `attribute ${type} payload of ${payloadLength} bytes does not fit`,
      { type },
    );
  }

  /** The attribute header; returns where the payload starts (room for it and the padding is made). */
  private header(type: number, payloadLength: number): number {
    const len = NLA_HDRLEN + payloadLength;
    if (len > 0xffff) throw this.tooLong(type, payloadLength);
    this.room(nlaAlign(len));
    const b = this.buf;
    const o = this.off;
    b[o] = len & 0xff;
    b[o + 1] = len >>> 8;
    b[o + 2] = type & 0xff;
    b[o + 3] = (type >>> 8) & 0xff;
    return o + NLA_HDRLEN;
  }

  /** Moves past `n` payload bytes at `at`, zeroing the padding after them. */
  private done(at: number, n: number): this {
    const b = this.buf;
    let end = at + n;
    while (end & 3) b[end++] = 0;
    this.off = end;
    return this;
  }

  /** `value` as it is, or zero-extended to `size` bytes when that is larger (an in6_addr-sized field, say). */
  bytes(type: number, value: Uint8Array, size = value.length): this {
    const len = value.length;
    const n = Math.max(size, len);
    const at = this.header(type, n);
    const b = this.buf;
    if (n <= 32) {
      // Addresses and the like: a loop beats set/fill and their argument checks.
      for (let i = 0; i < len; i++) b[at + i] = value[i] as number;
      for (let i = len; i < n; i++) b[at + i] = 0;
    } else {
      b.set(value, at);
      if (n > len) b.fill(0, at + len, at + n);
    }
    return this.done(at, n);
  }
  flag(type: number): this {
    return this.done(this.header(type, 0), 0);
  }
  // The fixed-size writers store bytes (and padding) directly: they run for every attribute of
  // every message of a big batch. Buffer's own methods serve values that need their range checks.
  u8(type: number, value: number): this {
    const at = this.header(type, 1);
    const b = this.buf;
    if (value >>> 0 === value && value <= 0xff) b[at] = value;
    else b.writeUInt8(value, at);
    b[at + 1] = 0;
    b[at + 2] = 0;
    b[at + 3] = 0;
    this.off = at + 4;
    return this;
  }
  u16(type: number, value: number): this {
    const at = this.header(type, 2);
    const b = this.buf;
    if (value >>> 0 === value && value <= 0xffff) {
      b[at] = value & 0xff;
      b[at + 1] = value >>> 8;
    } else {
      b.writeUInt16LE(value, at);
    }
    b[at + 2] = 0;
    b[at + 3] = 0;
    this.off = at + 4;
    return this;
  }
  u16be(type: number, value: number): this {
    const at = this.header(type, 2);
    const b = this.buf;
    if (value >>> 0 === value && value <= 0xffff) {
      b[at] = value >>> 8;
      b[at + 1] = value & 0xff;
    } else {
      b.writeUInt16BE(value, at);
    }
    b[at + 2] = 0;
    b[at + 3] = 0;
    this.off = at + 4;
    return this;
  }
  u32(type: number, value: number): this {
    const at = this.header(type, 4);
    const v = value >>> 0;
    const b = this.buf;
    b[at] = v & 0xff;
    b[at + 1] = (v >>> 8) & 0xff;
    b[at + 2] = (v >>> 16) & 0xff;
    b[at + 3] = v >>> 24;
    this.off = at + 4;
    return this;
  }
  u32be(type: number, value: number): this {
    const at = this.header(type, 4);
    const v = value >>> 0;
    const b = this.buf;
    b[at] = v >>> 24;
    b[at + 1] = (v >>> 16) & 0xff;
    b[at + 2] = (v >>> 8) & 0xff;
    b[at + 3] = v & 0xff;
    this.off = at + 4;
    return this;
  }
  u64(type: number, value: bigint): this {
    const at = this.header(type, 8);
    this.buf.writeBigUInt64LE(value, at);
    return this.done(at, 8);
  }
  /** NUL-terminated string, as the kernel's NLA_NUL_STRING / NLA_STRING expect. */
  string(type: number, value: string): this {
    const n = Buffer.byteLength(value, "utf8");
    const at = this.header(type, n + 1);
    this.buf.write(value, at, n, "utf8");
    this.buf[at + n] = 0;
    return this.done(at, n + 1);
  }
  /**
   * A nested attribute; `build` fills it, writing into this same buffer (so `inner` is this
   * writer: inside `build`, `length` and `toBuffer` cover everything written so far).
   * NLA_F_NESTED is set, which the kernel accepts everywhere.
   */
  nested(type: number, build: (inner: AttrWriter) => void): this {
    const start = this.nestStart(type);
    build(this);
    return this.nestEnd(start);
  }
  /**
   * nested() without a callback, for hot paths: opens the nest (NLA_F_NESTED set) and returns
   * where it starts, for nestEnd once its attributes are written.
   */
  nestStart(type: number): number {
    const start = this.off;
    this.header(type | NLA_F_NESTED, 0);
    this.off = start + NLA_HDRLEN;
    return start;
  }
  /** Closes the nest nestStart opened at `start` (its length patched in). */
  nestEnd(start: number): this {
    const len = this.off - start;
    if (len > 0xffff) {
      const type = this.buf.readUInt16LE(start + 2);
      this.off = start;
      throw this.tooLong(type, len - NLA_HDRLEN);
    }
    this.buf[start] = len & 0xff;
    this.buf[start + 1] = len >>> 8;
    return this;
  }
  /**
   * `n` bytes of room at the end, taken as they are (to be filled with setU16 / setU32, such
   * as a message header); returns where they start.
   */
  reserve(n: number): number {
    this.room(n);
    const at = this.off;
    this.off = at + n;
    return at;
  }
  /** Stores a host-order u16 at `at`, inside what was written. */
  setU16(at: number, value: number): this {
    const b = this.buf;
    b[at] = value & 0xff;
    b[at + 1] = (value >>> 8) & 0xff;
    return this;
  }
  /** Stores a host-order u32 at `at`, inside what was written. */
  setU32(at: number, value: number): this {
    const v = value >>> 0;
    const b = this.buf;
    b[at] = v & 0xff;
    b[at + 1] = (v >>> 8) & 0xff;
    b[at + 2] = (v >>> 16) & 0xff;
    b[at + 3] = v >>> 24;
    return this;
  }
  /** Zeroes up to the next 4-byte boundary. */
  align(): this {
    const end = nlaAlign(this.off);
    if (end === this.off) return this;
    this.room(end - this.off);
    return this.done(this.off, 0);
  }
  /** Attributes that are already encoded (whole and aligned), copied in as they are. */
  append(encoded: Uint8Array): this {
    this.room(encoded.length);
    this.buf.set(encoded, this.off);
    this.off += encoded.length;
    return this;
  }

  get length(): number {
    return this.off;
  }
  /** The bytes written so far, in a buffer of their own (the writer may go on). */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.off));
  }
  /**
   * The bytes written so far (from offset `from`) without a copy: a view of the writer's
   * buffer, valid until the writer is reset (for payloads encoded only to be copied into a
   * datagram).
   */
  view(from = 0): Buffer {
    return this.buf.subarray(from, this.off);
  }
  /**
   * Drops everything after the first `length` bytes (default: everything), keeping the buffer,
   * so one writer can encode many messages, or take back a message it could not finish.
   */
  reset(length = 0): this {
    if (length < this.off) this.off = Math.max(0, length);
    return this;
  }
}

/**
 * Splits a buffer into attributes, checking every length. `where` names what is
 * being parsed so a malformed kernel answer produces an error that says where.
 */
export function parseAttrs(buf: Buffer, where = "attributes"): NlAttr[] {
  const out: NlAttr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const rawType = buf.readUInt16LE(off + 2);
    if (len < NLA_HDRLEN || off + len > buf.length) {
      throw new VipdError(
        "NETLINK_MALFORMED",
        `${where}: attribute at offset ${off} has length ${len}, ${buf.length - off} bytes remain`,
        { where, offset: off, length: len, type: rawType & NLA_TYPE_MASK },
      );
    }
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      netByteOrder: (rawType & NLA_F_NET_BYTEORDER) !== 0,
      data: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += nlaAlign(len);
  }
  if (off < buf.length && buf.length - off >= NLA_HDRLEN) {
    throw new VipdError("NETLINK_MALFORMED", `${where}: ${buf.length - off} trailing bytes`, { where });
  }
  return out;
}

/**
 * Read access to a parsed attribute set by type, with length-checked typed getters.
 * `names` maps types to names so errors say "IPVS_SVC_ATTR_PORT" rather than "4".
 * The last occurrence of a type wins; use `all()` for repeated types.
 */
export class AttrMap {
  readonly attrs: NlAttr[];
  private readonly byType = new Map<number, NlAttr>();

  constructor(
    attrs: NlAttr[],
    private readonly where = "attributes",
    private readonly names: Record<number, string> = {},
  ) {
    this.attrs = attrs;
    for (const a of attrs) this.byType.set(a.type, a);
  }

  static parse(buf: Buffer, where = "attributes", names: Record<number, string> = {}): AttrMap {
    return new AttrMap(parseAttrs(buf, where), where, names);
  }

  has(type: number): boolean {
    return this.byType.has(type);
  }
  get(type: number): NlAttr | undefined {
    return this.byType.get(type);
  }
  all(type: number): NlAttr[] {
    return this.attrs.filter((a) => a.type === type);
  }

  private name(type: number): string {
    return this.names[type] ?? `attribute ${type}`;
  }

  private sized(type: number, min: number, exact: boolean): Buffer | undefined {
    const a = this.byType.get(type);
    if (!a) return undefined;
    if (exact ? a.data.length !== min : a.data.length < min) {
      throw new VipdError(
        "NETLINK_ATTR_LENGTH",
        `${this.where}: ${this.name(type)} has ${a.data.length} bytes, expected ${exact ? "" : "at least "}${min}`,
        { where: this.where, type, length: a.data.length, expected: min },
      );
    }
    return a.data;
  }

  /** The value, or an error naming the missing attribute. */
  require<T>(type: number, read: (this: AttrMap, type: number) => T | undefined): T {
    const v = read.call(this, type);
    if (v === undefined) {
      throw new VipdError("NETLINK_ATTR_MISSING", `${this.where}: ${this.name(type)} is missing`, {
        where: this.where,
        type,
      });
    }
    return v;
  }

  u8(type: number): number | undefined {
    return this.sized(type, 1, true)?.readUInt8(0);
  }
  u16(type: number): number | undefined {
    return this.sized(type, 2, true)?.readUInt16LE(0);
  }
  u16be(type: number): number | undefined {
    return this.sized(type, 2, true)?.readUInt16BE(0);
  }
  u32(type: number): number | undefined {
    return this.sized(type, 4, true)?.readUInt32LE(0);
  }
  u32be(type: number): number | undefined {
    return this.sized(type, 4, true)?.readUInt32BE(0);
  }
  u64(type: number): bigint | undefined {
    return this.sized(type, 8, true)?.readBigUInt64LE(0);
  }
  bytes(type: number, minLength = 0): Buffer | undefined {
    return this.sized(type, minLength, false);
  }
  /** A string attribute; a trailing NUL (and anything after it) is dropped. */
  string(type: number): string | undefined {
    const d = this.byType.get(type)?.data;
    if (!d) return undefined;
    const nul = d.indexOf(0);
    return d.subarray(0, nul === -1 ? d.length : nul).toString("utf8");
  }
  nested(type: number, names: Record<number, string> = {}): AttrMap | undefined {
    const a = this.byType.get(type);
    if (!a) return undefined;
    return AttrMap.parse(a.data, `${this.where} > ${this.name(type)}`, names);
  }
}

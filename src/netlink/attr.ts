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

/** Builds a stream of attributes. Every method returns `this` so calls chain. */
export class AttrWriter {
  private readonly chunks: Buffer[] = [];

  private put(type: number, payload: Buffer): this {
    const len = NLA_HDRLEN + payload.length;
    if (len > 0xffff) {
      throw new VipdError(
        "NETLINK_ATTR_TOO_LONG",
        `attribute ${type} payload of ${payload.length} bytes does not fit`,
        {
          type,
        },
      );
    }
    const hdr = Buffer.alloc(NLA_HDRLEN);
    hdr.writeUInt16LE(len, 0);
    hdr.writeUInt16LE(type, 2);
    this.chunks.push(hdr, payload);
    const pad = nlaAlign(len) - len;
    if (pad > 0) this.chunks.push(Buffer.alloc(pad));
    return this;
  }

  bytes(type: number, value: Uint8Array): this {
    return this.put(type, Buffer.from(value));
  }
  flag(type: number): this {
    return this.put(type, Buffer.alloc(0));
  }
  u8(type: number, value: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(value, 0);
    return this.put(type, b);
  }
  u16(type: number, value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(value, 0);
    return this.put(type, b);
  }
  u16be(type: number, value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value, 0);
    return this.put(type, b);
  }
  u32(type: number, value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0, 0);
    return this.put(type, b);
  }
  u32be(type: number, value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value >>> 0, 0);
    return this.put(type, b);
  }
  u64(type: number, value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(value, 0);
    return this.put(type, b);
  }
  /** NUL-terminated string, as the kernel's NLA_NUL_STRING / NLA_STRING expect. */
  string(type: number, value: string): this {
    return this.put(type, Buffer.concat([Buffer.from(value, "utf8"), Buffer.alloc(1)]));
  }
  /** A nested attribute; `build` fills it. NLA_F_NESTED is set, which the kernel accepts everywhere. */
  nested(type: number, build: (inner: AttrWriter) => void): this {
    const inner = new AttrWriter();
    build(inner);
    return this.put(type | NLA_F_NESTED, inner.toBuffer());
  }

  get length(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
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

import { VipdError } from "../errors.js";
import { AttrMap, AttrWriter, parseAttrs } from "./attr.js";
import { errnoMessage, errnoName } from "./errno.js";

/**
 * The netlink message codec (include/uapi/linux/netlink.h): struct nlmsghdr
 * {u32 len; u16 type; u16 flags; u32 seq; u32 pid}, host byte order, followed by the
 * payload; messages in one datagram are each aligned to 4 bytes. Pure functions only.
 */

export const NLMSG_HDRLEN = 16;
export const NLMSG_ALIGNTO = 4;

// Control message types (< NLMSG_MIN_TYPE).
export const NLMSG_NOOP = 0x1;
export const NLMSG_ERROR = 0x2;
export const NLMSG_DONE = 0x3;
export const NLMSG_OVERRUN = 0x4;
export const NLMSG_MIN_TYPE = 0x10;

// Standard flag values.
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
// Modifiers to GET requests.
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_ATOMIC = 0x400;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
// Modifiers to NEW requests.
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
// Modifiers to DELETE requests.
export const NLM_F_NONREC = 0x100;
export const NLM_F_BULK = 0x200;
// Flags for ACK (NLMSG_ERROR) messages.
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

// Netlink protocols used by vipd.
export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

// Socket options (level SOL_NETLINK).
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_DROP_MEMBERSHIP = 2;
export const NETLINK_PKTINFO = 3;
export const NETLINK_BROADCAST_ERROR = 4;
export const NETLINK_NO_ENOBUFS = 5;
export const NETLINK_LISTEN_ALL_NSID = 8;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

// Extended ack attributes (enum nlmsgerr_attrs).
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;
export const NLMSGERR_ATTR_COOKIE = 3;
export const NLMSGERR_ATTR_POLICY = 4;
export const NLMSGERR_ATTR_MISS_TYPE = 5;
export const NLMSGERR_ATTR_MISS_NEST = 6;

const NLMSGERR_NAMES: Record<number, string> = {
  [NLMSGERR_ATTR_MSG]: "NLMSGERR_ATTR_MSG",
  [NLMSGERR_ATTR_OFFS]: "NLMSGERR_ATTR_OFFS",
  [NLMSGERR_ATTR_COOKIE]: "NLMSGERR_ATTR_COOKIE",
  [NLMSGERR_ATTR_POLICY]: "NLMSGERR_ATTR_POLICY",
  [NLMSGERR_ATTR_MISS_TYPE]: "NLMSGERR_ATTR_MISS_TYPE",
  [NLMSGERR_ATTR_MISS_NEST]: "NLMSGERR_ATTR_MISS_NEST",
};

// Policy description attributes (enum netlink_policy_type_attr), inside NLMSGERR_ATTR_POLICY.
export const NL_POLICY_TYPE_ATTR_TYPE = 1;
export const NL_POLICY_TYPE_ATTR_MIN_VALUE_S = 2;
export const NL_POLICY_TYPE_ATTR_MAX_VALUE_S = 3;
export const NL_POLICY_TYPE_ATTR_MIN_VALUE_U = 4;
export const NL_POLICY_TYPE_ATTR_MAX_VALUE_U = 5;
export const NL_POLICY_TYPE_ATTR_MIN_LENGTH = 6;
export const NL_POLICY_TYPE_ATTR_MAX_LENGTH = 7;
export const NL_POLICY_TYPE_ATTR_POLICY_IDX = 8;
export const NL_POLICY_TYPE_ATTR_POLICY_MAXTYPE = 9;
export const NL_POLICY_TYPE_ATTR_BITFIELD32_MASK = 10;
export const NL_POLICY_TYPE_ATTR_PAD = 11;
export const NL_POLICY_TYPE_ATTR_MASK = 12;

/** enum netlink_attribute_type, the value of NL_POLICY_TYPE_ATTR_TYPE. */
const NL_ATTR_TYPE_NAMES = [
  "invalid",
  "flag",
  "u8",
  "u16",
  "u32",
  "u64",
  "s8",
  "s16",
  "s32",
  "s64",
  "binary",
  "string",
  "nul-string",
  "nested",
  "nested-array",
  "bitfield32",
  "sint",
  "uint",
];

export function nlmsgAlign(len: number): number {
  return (len + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
}

export interface NlMsgHeader {
  /** nlmsg_len: header plus payload, without trailing alignment padding. */
  length: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export interface NlMessage {
  header: NlMsgHeader;
  /** The bytes after the 16-byte header, up to nlmsg_len. */
  payload: Buffer;
}

export interface OutgoingMessage {
  type: number;
  flags?: number;
  seq?: number;
  pid?: number;
  /** Family header plus attributes; several parts are concatenated. */
  payload?: Buffer | readonly Buffer[];
}

function malformed(message: string, context: Record<string, unknown>): VipdError {
  return new VipdError("NETLINK_MALFORMED", message, context);
}

/** Writes a header into `buf` at `offset`. */
export function writeHeader(buf: Buffer, offset: number, h: NlMsgHeader): void {
  buf.writeUInt32LE(h.length >>> 0, offset);
  buf.writeUInt16LE(h.type & 0xffff, offset + 4);
  buf.writeUInt16LE(h.flags & 0xffff, offset + 6);
  buf.writeUInt32LE(h.seq >>> 0, offset + 8);
  buf.writeUInt32LE(h.pid >>> 0, offset + 12);
}

/** Reads the header at `offset`; the caller guarantees 16 bytes are there. */
export function readHeader(buf: Buffer, offset = 0): NlMsgHeader {
  return {
    length: buf.readUInt32LE(offset),
    type: buf.readUInt16LE(offset + 4),
    flags: buf.readUInt16LE(offset + 6),
    seq: buf.readUInt32LE(offset + 8),
    pid: buf.readUInt32LE(offset + 12),
  };
}

function put32(out: Buffer, at: number, value: number): void {
  const v = value >>> 0;
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = v >>> 24;
}

/** The bytes of `msg`'s payload (family header plus attributes). */
export function payloadLength(msg: OutgoingMessage): number {
  const p = msg.payload;
  if (p === undefined) return 0;
  if (Buffer.isBuffer(p)) return p.length;
  const parts = p as readonly Buffer[];
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i]!.length;
  return n;
}

/** The bytes `msg` takes in a datagram: header, payload and the padding to 4 bytes. */
export function encodedLength(msg: OutgoingMessage): number {
  return nlmsgAlign(NLMSG_HDRLEN + payloadLength(msg));
}

/**
 * Encodes one message into `out` at `offset` (which must have encodedLength(msg) bytes of
 * room, padding included) and returns the offset after it, so that a batch of messages
 * can be written straight into one datagram. `flags` and `seq`, when given, override the
 * message's own.
 */
export function encodeMessageInto(
  out: Buffer,
  offset: number,
  msg: OutgoingMessage,
  flags = msg.flags ?? NLM_F_REQUEST,
  seq = msg.seq ?? 0,
): number {
  const payloadLen = payloadLength(msg);
  const length = NLMSG_HDRLEN + payloadLen;
  if (length > 0xffffffff) {
    throw new VipdError("NETLINK_MESSAGE_TOO_LONG", `netlink message of ${length} bytes does not fit`, {
      length,
    });
  }
  // The header as writeHeader writes it, with plain stores: this runs once per message of a batch.
  put32(out, offset, length);
  const type = msg.type & 0xffff;
  out[offset + 4] = type & 0xff;
  out[offset + 5] = type >>> 8;
  out[offset + 6] = flags & 0xff;
  out[offset + 7] = (flags >>> 8) & 0xff;
  put32(out, offset + 8, seq);
  put32(out, offset + 12, msg.pid ?? 0);
  let off = offset + NLMSG_HDRLEN;
  const p = msg.payload;
  if (Buffer.isBuffer(p)) {
    out.set(p, off);
    off += p.length;
  } else if (p !== undefined) {
    const parts = p as readonly Buffer[];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part.length <= 8) for (let j = 0; j < part.length; j++) out[off + j] = part[j] as number;
      else out.set(part, off);
      off += part.length;
    }
  }
  const end = offset + nlmsgAlign(length);
  if (off < end) out.fill(0, off, end);
  return end;
}

/**
 * Encodes one message. nlmsg_len counts header and payload; the returned buffer is padded
 * to a 4-byte boundary so that encoded messages can be concatenated into one datagram.
 */
export function encodeMessage(msg: OutgoingMessage): Buffer {
  const out = Buffer.alloc(encodedLength(msg));
  encodeMessageInto(out, 0, msg);
  return out;
}

/**
 * Splits a received datagram into messages, checking every length. A datagram may hold
 * several messages; an empty datagram holds none. Anything that does not add up is a
 * NETLINK_MALFORMED error carrying the offset of the bad message.
 */
export function decodeMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    const remaining = buf.length - off;
    if (remaining < NLMSG_HDRLEN) {
      throw malformed(`truncated netlink header at offset ${off}: ${remaining} bytes, need ${NLMSG_HDRLEN}`, {
        offset: off,
        remaining,
      });
    }
    const header = readHeader(buf, off);
    if (header.length < NLMSG_HDRLEN) {
      throw malformed(`netlink message at offset ${off} has length ${header.length}, less than its header`, {
        offset: off,
        length: header.length,
        type: header.type,
      });
    }
    if (header.length > remaining) {
      throw malformed(
        `netlink message at offset ${off} has length ${header.length}, only ${remaining} bytes remain`,
        { offset: off, length: header.length, remaining, type: header.type },
      );
    }
    out.push({ header, payload: buf.subarray(off + NLMSG_HDRLEN, off + header.length) });
    off += Math.min(nlmsgAlign(header.length), remaining);
  }
  return out;
}

/** Extended ack information (NLMSGERR_ATTR_*), present when the kernel sent it. */
export interface ExtAck {
  /** Human-readable reason, e.g. "ipv4: Device not found". */
  message?: string;
  /** Byte offset, in the original request (header included), of the attribute at fault. */
  offset?: number;
  cookie?: Buffer;
  /** The policy the rejected attribute failed (NL_POLICY_TYPE_ATTR_*). */
  policy?: ExtAckPolicy;
  /** Type of a missing required attribute. */
  missingType?: number;
  /** Offset of the nest in which `missingType` was missing. */
  missingNest?: number;
}

export interface ExtAckPolicy {
  /** The attribute type the kernel expected ("u32", "string", ...). */
  type?: string;
  minValue?: bigint;
  maxValue?: bigint;
  minLength?: number;
  maxLength?: number;
  policyIndex?: number;
  policyMaxType?: number;
  bitfield32Mask?: number;
  mask?: bigint;
}

export interface NlErrorMessage {
  /** The kernel's value: 0 for an ACK, otherwise a negative errno. */
  error: number;
  /** The positive errno (0 for an ACK). */
  errno: number;
  /** The echoed header of the request this answers. */
  original: NlMsgHeader;
  /** The echoed request payload, when the kernel did not cap it (NLM_F_CAPPED clear). */
  originalPayload?: Buffer;
  extack: ExtAck;
}

function readSigned(buf: Buffer): bigint | undefined {
  if (buf.length === 8) return buf.readBigInt64LE(0);
  if (buf.length === 4) return BigInt(buf.readInt32LE(0));
  return undefined;
}
function readUnsigned(buf: Buffer): bigint | undefined {
  if (buf.length === 8) return buf.readBigUInt64LE(0);
  if (buf.length === 4) return BigInt(buf.readUInt32LE(0));
  return undefined;
}

function decodePolicy(map: AttrMap): ExtAckPolicy {
  const p: ExtAckPolicy = {};
  const t = map.u32(NL_POLICY_TYPE_ATTR_TYPE);
  if (t !== undefined) p.type = NL_ATTR_TYPE_NAMES[t] ?? `type ${t}`;
  const rd = (type: number, f: (b: Buffer) => bigint | undefined): bigint | undefined => {
    const a = map.get(type);
    return a ? f(a.data) : undefined;
  };
  const minS = rd(NL_POLICY_TYPE_ATTR_MIN_VALUE_S, readSigned);
  const maxS = rd(NL_POLICY_TYPE_ATTR_MAX_VALUE_S, readSigned);
  const minU = rd(NL_POLICY_TYPE_ATTR_MIN_VALUE_U, readUnsigned);
  const maxU = rd(NL_POLICY_TYPE_ATTR_MAX_VALUE_U, readUnsigned);
  if (minS !== undefined || minU !== undefined) p.minValue = minS ?? minU;
  if (maxS !== undefined || maxU !== undefined) p.maxValue = maxS ?? maxU;
  const minL = map.u32(NL_POLICY_TYPE_ATTR_MIN_LENGTH);
  if (minL !== undefined) p.minLength = minL;
  const maxL = map.u32(NL_POLICY_TYPE_ATTR_MAX_LENGTH);
  if (maxL !== undefined) p.maxLength = maxL;
  const idx = map.u32(NL_POLICY_TYPE_ATTR_POLICY_IDX);
  if (idx !== undefined) p.policyIndex = idx;
  const mt = map.u32(NL_POLICY_TYPE_ATTR_POLICY_MAXTYPE);
  if (mt !== undefined) p.policyMaxType = mt;
  const bf = map.u32(NL_POLICY_TYPE_ATTR_BITFIELD32_MASK);
  if (bf !== undefined) p.bitfield32Mask = bf;
  const mask = rd(NL_POLICY_TYPE_ATTR_MASK, readUnsigned);
  if (mask !== undefined) p.mask = mask;
  return p;
}

/** Decodes extended-ack TLVs (the tail of NLMSG_ERROR / NLMSG_DONE when NLM_F_ACK_TLVS is set). */
export function decodeExtAck(buf: Buffer, where = "extended ack"): ExtAck {
  const map = new AttrMap(parseAttrs(buf, where), where, NLMSGERR_NAMES);
  const ext: ExtAck = {};
  const msg = map.string(NLMSGERR_ATTR_MSG);
  if (msg !== undefined) ext.message = msg;
  const offs = map.u32(NLMSGERR_ATTR_OFFS);
  if (offs !== undefined) ext.offset = offs;
  const cookie = map.get(NLMSGERR_ATTR_COOKIE);
  if (cookie) ext.cookie = Buffer.from(cookie.data);
  const policy = map.nested(NLMSGERR_ATTR_POLICY);
  if (policy) ext.policy = decodePolicy(policy);
  const missType = map.u32(NLMSGERR_ATTR_MISS_TYPE);
  if (missType !== undefined) ext.missingType = missType;
  const missNest = map.u32(NLMSGERR_ATTR_MISS_NEST);
  if (missNest !== undefined) ext.missingNest = missNest;
  return ext;
}

/**
 * Decodes an NLMSG_ERROR payload: s32 error, the echoed request header (and, unless
 * NLM_F_CAPPED, its payload), then extended-ack TLVs when NLM_F_ACK_TLVS is set.
 */
export function decodeError(msg: NlMessage): NlErrorMessage {
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) {
    throw malformed(`NLMSG_ERROR payload of ${p.length} bytes, need ${4 + NLMSG_HDRLEN}`, {
      offset: 0,
      length: p.length,
      seq: msg.header.seq,
    });
  }
  const error = p.readInt32LE(0);
  if (error > 0) {
    throw malformed(`NLMSG_ERROR carries a positive error ${error}`, {
      offset: 0,
      error,
      seq: msg.header.seq,
    });
  }
  const original = readHeader(p, 4);
  const capped = (msg.header.flags & NLM_F_CAPPED) !== 0;
  let tlvStart = 4 + NLMSG_HDRLEN;
  let originalPayload: Buffer | undefined;
  // An ACK for success echoes only the header even when NLM_F_CAPPED is clear (older kernels).
  if (!capped && p.length > 4 + NLMSG_HDRLEN && original.length > NLMSG_HDRLEN) {
    const end = 4 + original.length;
    if (end > p.length) {
      throw malformed(
        `NLMSG_ERROR echoes a request of ${original.length} bytes but only ${p.length - 4} are present`,
        { offset: 4, length: original.length, seq: msg.header.seq },
      );
    }
    originalPayload = p.subarray(4 + NLMSG_HDRLEN, end);
    tlvStart = 4 + nlmsgAlign(original.length);
  }
  let extack: ExtAck = {};
  if ((msg.header.flags & NLM_F_ACK_TLVS) !== 0 && tlvStart < p.length) {
    extack = decodeExtAck(p.subarray(tlvStart), "NLMSG_ERROR extended ack");
  }
  const out: NlErrorMessage = { error, errno: error === 0 ? 0 : -error, original, extack };
  if (originalPayload) out.originalPayload = originalPayload;
  return out;
}

export interface NlDoneMessage {
  /** 0, or the negative errno that ended the dump. */
  error: number;
  errno: number;
  extack: ExtAck;
}

/** Decodes NLMSG_DONE: an optional s32 error, then extended-ack TLVs when NLM_F_ACK_TLVS is set. */
export function decodeDone(msg: NlMessage): NlDoneMessage {
  const p = msg.payload;
  if (p.length < 4) return { error: 0, errno: 0, extack: {} };
  const error = p.readInt32LE(0);
  let extack: ExtAck = {};
  if ((msg.header.flags & NLM_F_ACK_TLVS) !== 0 && p.length > 4) {
    extack = decodeExtAck(p.subarray(4), "NLMSG_DONE extended ack");
  }
  // Some families put a positive value here; only a negative one is an error.
  return { error: Math.min(error, 0), errno: error < 0 ? -error : 0, extack };
}

/** "EEXIST (File exists)" */
export function describeErrno(errno: number): string {
  return `${errnoName(errno)} (${errnoMessage(errno)})`;
}

/** Encodes extended-ack TLVs; the inverse of decodeExtAck (for fakes and tests). */
export function encodeExtAck(ext: ExtAck): Buffer {
  const w = new AttrWriter();
  if (ext.message !== undefined) w.string(NLMSGERR_ATTR_MSG, ext.message);
  if (ext.offset !== undefined) w.u32(NLMSGERR_ATTR_OFFS, ext.offset);
  if (ext.cookie !== undefined) w.bytes(NLMSGERR_ATTR_COOKIE, ext.cookie);
  const pol = ext.policy;
  if (pol !== undefined) {
    w.nested(NLMSGERR_ATTR_POLICY, (n) => {
      const s64 = (type: number, v: bigint) => {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(v, 0);
        n.bytes(type, b);
      };
      if (pol.type !== undefined) {
        const t = NL_ATTR_TYPE_NAMES.indexOf(pol.type);
        n.u32(NL_POLICY_TYPE_ATTR_TYPE, t === -1 ? 0 : t);
      }
      if (pol.minValue !== undefined) {
        if (pol.minValue < 0n) s64(NL_POLICY_TYPE_ATTR_MIN_VALUE_S, pol.minValue);
        else n.u64(NL_POLICY_TYPE_ATTR_MIN_VALUE_U, pol.minValue);
      }
      if (pol.maxValue !== undefined) {
        if (pol.maxValue < 0n) s64(NL_POLICY_TYPE_ATTR_MAX_VALUE_S, pol.maxValue);
        else n.u64(NL_POLICY_TYPE_ATTR_MAX_VALUE_U, pol.maxValue);
      }
      if (pol.minLength !== undefined) n.u32(NL_POLICY_TYPE_ATTR_MIN_LENGTH, pol.minLength);
      if (pol.maxLength !== undefined) n.u32(NL_POLICY_TYPE_ATTR_MAX_LENGTH, pol.maxLength);
      if (pol.policyIndex !== undefined) n.u32(NL_POLICY_TYPE_ATTR_POLICY_IDX, pol.policyIndex);
      if (pol.policyMaxType !== undefined) n.u32(NL_POLICY_TYPE_ATTR_POLICY_MAXTYPE, pol.policyMaxType);
      if (pol.bitfield32Mask !== undefined) n.u32(NL_POLICY_TYPE_ATTR_BITFIELD32_MASK, pol.bitfield32Mask);
      if (pol.mask !== undefined) n.u64(NL_POLICY_TYPE_ATTR_MASK, pol.mask);
    });
  }
  if (ext.missingType !== undefined) w.u32(NLMSGERR_ATTR_MISS_TYPE, ext.missingType);
  if (ext.missingNest !== undefined) w.u32(NLMSGERR_ATTR_MISS_NEST, ext.missingNest);
  return w.toBuffer();
}

export interface ErrorMessageSpec {
  /** Positive errno; 0 makes an ACK. */
  errno: number;
  /** Header of the request being answered (its seq and pid are echoed). */
  original: NlMsgHeader;
  /** Echo the request payload too (what the kernel does without NETLINK_CAP_ACK). */
  originalPayload?: Buffer;
  extack?: ExtAck;
}

/** Encodes an NLMSG_ERROR / ACK the way the kernel does (for fakes and tests). */
export function encodeErrorMessage(spec: ErrorMessageSpec): Buffer {
  const tlvs = spec.extack ? encodeExtAck(spec.extack) : Buffer.alloc(0);
  let flags = 0;
  if (spec.originalPayload === undefined) flags |= NLM_F_CAPPED;
  if (tlvs.length > 0) flags |= NLM_F_ACK_TLVS;
  const head = Buffer.alloc(4 + NLMSG_HDRLEN);
  head.writeInt32LE(-Math.abs(spec.errno), 0);
  const echoed = spec.originalPayload;
  writeHeader(head, 4, {
    ...spec.original,
    length: echoed === undefined ? spec.original.length : NLMSG_HDRLEN + echoed.length,
  });
  const parts: Buffer[] = [head];
  if (echoed !== undefined) {
    parts.push(echoed, Buffer.alloc(nlmsgAlign(echoed.length) - echoed.length));
  }
  parts.push(tlvs);
  return encodeMessage({
    type: NLMSG_ERROR,
    flags,
    seq: spec.original.seq,
    pid: spec.original.pid,
    payload: parts,
  });
}

/** Encodes NLMSG_DONE (NLM_F_MULTI) ending a dump, with an errno when it failed. */
export function encodeDoneMessage(spec: {
  seq: number;
  pid?: number;
  errno?: number;
  extack?: ExtAck;
}): Buffer {
  const tlvs = spec.extack ? encodeExtAck(spec.extack) : Buffer.alloc(0);
  const e = Buffer.alloc(4);
  e.writeInt32LE(-Math.abs(spec.errno ?? 0), 0);
  return encodeMessage({
    type: NLMSG_DONE,
    flags: NLM_F_MULTI | (tlvs.length > 0 ? NLM_F_ACK_TLVS : 0),
    seq: spec.seq,
    pid: spec.pid ?? 0,
    payload: [e, tlvs],
  });
}

/**
 * The part of the DNS wire format (RFC 1035 §4) the dns check needs, pure: a one-question query,
 * and a response decoded down to its header, questions and answer records.
 *
 * decodeResponse never throws: the bytes come off the network, so every length, count and
 * compression pointer is checked against the buffer, and anything out of bounds is an `error`.
 * A compression pointer must point before the labels it continues (the start of the name, or
 * the previous pointer's target): RFC 1035 only defines pointers to a prior occurrence, and with
 * each jump landing strictly earlier than the last, no chain of pointers can loop.
 * The authority and additional sections are not read: the check needs neither, and an odd record
 * there (EDNS options, say) must not make an otherwise good answer "malformed". Answer RDATA is
 * returned raw; names inside it stay compressed (they point into the whole message).
 *
 * Names are in presentation form without the final dot, bytes outside printable ASCII and the
 * characters `.` and `\` within a label written as `\DDD` (RFC 4343), so a label holding a dot
 * cannot pass for two labels.
 */
import type { DnsRecordType } from "../config/types.js";

export const RECORD_TYPES: Readonly<Record<DnsRecordType, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
};

export const CLASS_IN = 1;

const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"] as const;

/** The rcode's mnemonic, or `RCODE<n>` for those the check has no name for. */
export function rcodeName(rcode: number): string {
  return RCODES[rcode] ?? `RCODE${rcode}`;
}

export interface DnsQuery {
  /** 0..65535 */
  id: number;
  /** `example.com` or `example.com.`; ASCII (IDNs in their xn-- form). */
  name: string;
  recordType: DnsRecordType;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: Buffer;
}

export interface DnsResponse {
  id: number;
  rcode: string;
  /** TC: the server cut the answer short to fit a datagram. */
  truncated: boolean;
  questions: DnsQuestion[];
  answers: DnsRecord[];
}

const HEADER_BYTES = 12;
const MAX_LABEL = 63;
const MAX_NAME = 255;
const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;

/**
 * The query: recursion desired, one question of class IN. Throws a RangeError for a name that
 * cannot be encoded (an empty or over-long label, a name over 255 bytes, non-ASCII, a `\`) or a
 * bad id:
 * configuration is validated before any check runs, so here that is a bug, not an input.
 */
export function encodeQuery(query: DnsQuery): Buffer {
  if (!Number.isInteger(query.id) || query.id < 0 || query.id > 0xffff)
    throw new RangeError(`DNS id ${query.id} is not 0..65535`);
  const name = encodeName(query.name);
  const buf = Buffer.alloc(HEADER_BYTES + name.length + 4);
  buf.writeUInt16BE(query.id, 0);
  buf.writeUInt16BE(FLAG_RD, 2);
  buf.writeUInt16BE(1, 4); // QDCOUNT; AN, NS and AR counts stay 0
  name.copy(buf, HEADER_BYTES);
  buf.writeUInt16BE(RECORD_TYPES[query.recordType], HEADER_BYTES + name.length);
  buf.writeUInt16BE(CLASS_IN, HEADER_BYTES + name.length + 2);
  return buf;
}

function encodeName(name: string): Buffer {
  const text = name.endsWith(".") ? name.slice(0, -1) : name;
  const parts: Buffer[] = [];
  if (text !== "") {
    for (const label of text.split(".")) {
      if (label === "") throw new RangeError(`DNS name ${JSON.stringify(name)} has an empty label`);
      // No `\` either: presentation escapes are not supported, so a name reads back as written.
      if (!/^[\x21-\x5b\x5d-\x7e]+$/.test(label))
        throw new RangeError(`DNS name ${JSON.stringify(name)} is not printable ASCII without \\`);
      if (label.length > MAX_LABEL)
        throw new RangeError(`DNS label ${JSON.stringify(label)} is longer than ${MAX_LABEL} bytes`);
      parts.push(Buffer.from([label.length]), Buffer.from(label, "ascii"));
    }
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > MAX_NAME)
    throw new RangeError(`DNS name ${JSON.stringify(name)} is longer than ${MAX_NAME} bytes`);
  return wire;
}

/** Raised inside the decoder only; decodeResponse turns it into `{ error }`. */
class Malformed extends Error {}

export function decodeResponse(input: Uint8Array): DnsResponse | { error: string } {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  try {
    return decode(buf);
  } catch (err) {
    if (err instanceof Malformed) return { error: err.message };
    throw err;
  }
}

function decode(buf: Buffer): DnsResponse {
  if (buf.length < HEADER_BYTES) throw new Malformed(`truncated header (${buf.length} bytes)`);
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & FLAG_QR) === 0) throw new Malformed("not a response (QR clear)");
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) throw new Malformed(`opcode ${opcode}, not a reply to a query`);
  const truncated = (flags & FLAG_TC) !== 0;
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);

  let pos = HEADER_BYTES;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qdcount; i++) {
    const { name, end } = readName(buf, pos);
    need(buf, end, 4, `question ${i + 1} of ${qdcount}`);
    questions.push({ name, type: buf.readUInt16BE(end), class: buf.readUInt16BE(end + 2) });
    pos = end + 4;
  }

  const answers: DnsRecord[] = [];
  for (let i = 0; i < ancount; i++) {
    // RFC 2181 §9: a truncated reply holds only whole records, but its counts may promise more.
    if (truncated && pos === buf.length) break;
    if (pos >= buf.length) throw new Malformed(`answer count ${ancount}, but the message ends after ${i}`);
    const { name, end } = readName(buf, pos);
    need(buf, end, 10, `answer ${i + 1} of ${ancount}`);
    const rdlength = buf.readUInt16BE(end + 8);
    need(buf, end + 10, rdlength, `answer ${i + 1} of ${ancount} data`);
    answers.push({
      name,
      type: buf.readUInt16BE(end),
      class: buf.readUInt16BE(end + 2),
      ttl: buf.readUInt32BE(end + 4),
      data: Buffer.from(buf.subarray(end + 10, end + 10 + rdlength)),
    });
    pos = end + 10 + rdlength;
  }

  return { id, rcode: rcodeName(flags & 0xf), truncated, questions, answers };
}

function need(buf: Buffer, at: number, bytes: number, what: string): void {
  if (at + bytes > buf.length) throw new Malformed(`${what} runs past the end of the message`);
}

/** The name at `start`, and where the bytes after it begin (after the first pointer, if any). */
function readName(buf: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = start;
  // Where the labels being read began: a pointer must land before it.
  let segment = start;
  let end: number | undefined;
  let wireLength = 1; // the root label's zero byte
  for (;;) {
    if (pos >= buf.length) throw new Malformed("name runs past the end of the message");
    const len = buf[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new Malformed("compression pointer runs past the end of the message");
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= buf.length) throw new Malformed(`compression pointer to ${target} is out of range`);
      if (target >= segment)
        throw new Malformed(`compression pointer at ${pos} to ${target} does not point backwards (a loop)`);
      end ??= pos + 2;
      pos = segment = target;
      continue;
    }
    // 0x40 and 0x80 are the extended and reserved label types (RFC 6891): lengths 64..191.
    if (len > MAX_LABEL) throw new Malformed(`label length ${len} is over ${MAX_LABEL}`);
    if (len === 0) break;
    wireLength += 1 + len;
    if (wireLength > MAX_NAME) throw new Malformed(`name longer than ${MAX_NAME} bytes`);
    if (pos + 1 + len > buf.length) throw new Malformed("label runs past the end of the message");
    labels.push(presentLabel(buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return { name: labels.join("."), end: end ?? pos + 1 };
}

function presentLabel(bytes: Buffer): string {
  let out = "";
  for (const b of bytes) {
    const printable = b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c;
    out += printable ? String.fromCharCode(b) : `\\${String(b).padStart(3, "0")}`;
  }
  return out;
}

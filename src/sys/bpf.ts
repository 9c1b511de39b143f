/**
 * Classic BPF programs for the VRRP sockets [pure]: built here, attached by the addon's
 * attachFilter (the only way to SO_ATTACH_FILTER). The kernel runs them before a packet is
 * queued, so adverts of other virtual routers on the segment (VRIDs this director does not
 * run) never cost a wake-up, a copy or a line of JavaScript.
 *
 * What a raw socket's filter sees: IPv4, the packet from its IP header on; IPv6, the payload only
 * (the VRRP message). Everything else (TTL, checksum, version...) stays with the JavaScript
 * validation, which counts each reason; only foreign VRIDs, which are normal on a shared segment
 * and were never more than a debug line, go here.
 */
import { VipdError } from "../errors.js";
import type { SocketFamily } from "./socket-types.js";

// linux/filter.h / linux/bpf_common.h
const BPF_LD = 0x00;
const BPF_LDX = 0x01;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_W = 0x00;
const BPF_B = 0x10;
const BPF_ABS = 0x20;
const BPF_IND = 0x40;
const BPF_MSH = 0xa0;
const BPF_JEQ = 0x10;
const BPF_K = 0x00;

/** One struct sock_filter: code (u16), jt (u8), jf (u8), k (u32), in host byte order. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const insn = (code: number, k: number, jt = 0, jf = 0): BpfInstruction => ({ code, jt, jf, k });

/** Keep the whole packet (the return value is the number of bytes to keep). */
const ACCEPT = insn(BPF_RET | BPF_K, 0xffffffff);
const REJECT = insn(BPF_RET | BPF_K, 0);

/**
 * Accepts a VRRP packet only when its VRID (the second byte of the VRRP header) is one of
 * `vrids`. IPv4: the header length comes from the IHL (`ldxb 4*([0]&0xf)`), then `ldb [x+1]`.
 */
export function vridFilter(
  family: Extract<SocketFamily, "inet" | "inet6">,
  vrids: readonly number[],
): BpfInstruction[] {
  const set = [...new Set(vrids)].sort((a, b) => a - b);
  if (set.length === 0 || set.some((v) => !Number.isInteger(v) || v < 1 || v > 255)) {
    throw new VipdError(
      "BPF_BAD_VRIDS",
      `a VRID filter needs 1 to 255 VRIDs in 1..255, got [${vrids.join(", ")}]`,
      {
        vrids: [...vrids],
      },
    );
  }
  const load =
    family === "inet"
      ? [insn(BPF_LDX | BPF_B | BPF_MSH, 0), insn(BPF_LD | BPF_B | BPF_IND, 1)]
      : [insn(BPF_LD | BPF_B | BPF_ABS, 1)];
  return acceptIfAnyOf(load, set);
}

/** `ld [offset]`: the big-endian 32-bit word at `offset` into A (e.g. 12: an IPv4 source). */
export function loadWord(offset: number): BpfInstruction {
  return insn(BPF_LD | BPF_W | BPF_ABS, offset);
}

/** Runs `load` (which leaves a value in A), then accepts the packet when A is one of `values`. */
export function acceptIfAnyOf(load: readonly BpfInstruction[], values: readonly number[]): BpfInstruction[] {
  if (values.length === 0 || values.length > 255) {
    throw new VipdError("BPF_BAD_VALUES", `a filter compares 1 to 255 values, got ${values.length}`, {
      count: values.length,
    });
  }
  // Each compare jumps over the remaining compares and the REJECT to ACCEPT when it matches.
  const compares = values.map((v, i) => insn(BPF_JMP | BPF_JEQ | BPF_K, v >>> 0, values.length - i, 0));
  return [...load, ...compares, REJECT, ACCEPT];
}

/** The program as the kernel's struct sock_filter array. */
export function encodeBpf(program: readonly BpfInstruction[]): Buffer {
  const out = Buffer.alloc(program.length * 8);
  program.forEach((p, i) => {
    out.writeUInt16LE(p.code, i * 8);
    out.writeUInt8(p.jt, i * 8 + 2);
    out.writeUInt8(p.jf, i * 8 + 3);
    out.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return out;
}

/**
 * Loader and raw types of the native addon (native/vipd_native.c, built by
 * scripts/build-native.mjs into build/Release/vipd_native.node). Only src/sys/ uses
 * this directly; everything else goes through src/sys/socket.ts.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { VipdError } from "../errors.js";
import type { RecvInfo, SendOptions, SockAddr } from "./socket-types.js";

/** Same relative path from src/sys/ (tsx, vitest) and dist/sys/ (built). */
export const NATIVE_PATH = fileURLToPath(new URL("../../build/Release/vipd_native.node", import.meta.url));

/**
 * Errors thrown by the addon for failed syscalls, and delivered to the receive callback:
 * `message` is "syscall CODE: description", `errno` is negative as in Node's own system errors.
 */
export interface NativeSystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  /** The netns path, when opening or entering it failed. */
  path?: string;
}

/** One datagram (err null) or one receive error (data and info undefined). `this` is the socket. */
export type NativeRecvCallback = (
  err: NativeSystemError | null,
  data: Buffer | undefined,
  info: RecvInfo | undefined,
) => void;

/**
 * The addon's Socket. Methods throw TypeError / RangeError for bad arguments and
 * NativeSystemError for failed syscalls (EBADF once closed).
 */
export interface NativeSocketHandle {
  /** -1 once closed. */
  readonly fd: number;
  bind(addr: SockAddr): void;
  setsockopt(level: number, name: number, value: number | Buffer): void;
  getsockopt(level: number, name: number): number;
  getsockopt(level: number, name: number, size: number): Buffer;
  getsockname(): SockAddr;
  sendmsg(data: Buffer | readonly Buffer[], to?: SockAddr | null, options?: SendOptions | null): number;
  /** SO_ATTACH_FILTER with a classic BPF program (struct sock_filter[]; src/sys/bpf.ts). */
  attachFilter(program: Buffer): void;
  /** Idempotent; safe from inside the receive callback. */
  close(): void;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
}

export interface NativeBinding {
  /**
   * socket(family, type|SOCK_NONBLOCK|SOCK_CLOEXEC, protocol) in `netns` (a path) or the
   * caller's namespace; polling starts at once on the calling thread's event loop.
   * `protocol` is the host-order ethertype for AF_PACKET.
   */
  Socket: new (
    family: number,
    type: number,
    protocol: number,
    netns: string | null,
    recvBufferSize: number | null,
    callback: NativeRecvCallback,
  ) => NativeSocketHandle;
  ifNameToIndex(name: string, netns?: string | null): number;
  ifIndexToName(index: number, netns?: string | null): string;
  /** The kernel headers' values of the numbers in src/sys/constants.ts. */
  constants: Readonly<Record<string, number>>;
}

let cached: NativeBinding | undefined;

/** The addon, loaded once per thread (each worker loads its own instance). */
export function loadNative(): NativeBinding {
  // VIPD_NATIVE_ADDON: another build of the same addon (CI runs the socket tests against an
  // AddressSanitizer build, scripts/sanitizers.sh).
  cached ??= loadNativeFrom(process.env.VIPD_NATIVE_ADDON ?? NATIVE_PATH);
  return cached;
}

/** Load the addon from `path`; VipdError NATIVE_NOT_BUILT when it is missing. */
export function loadNativeFrom(path: string): NativeBinding {
  if (!existsSync(path)) {
    throw new VipdError(
      "NATIVE_NOT_BUILT",
      `native addon not found at ${path}; run npm ci (or node scripts/build-native.mjs) to build it`,
      { path },
    );
  }
  try {
    return createRequire(import.meta.url)(path) as NativeBinding;
  } catch (err) {
    throw new VipdError(
      "NATIVE_LOAD_FAILED",
      `native addon at ${path} failed to load (${(err as Error).message}); rebuild it with node scripts/build-native.mjs`,
      { path },
      { cause: err },
    );
  }
}

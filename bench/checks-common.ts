/**
 * Shared by bench/checks.ts (the orchestrator) and bench/checks-vipd.ts (the vipd process it
 * runs): where the benchmark's real servers are, and the configs that check them.
 *
 * Target i of a kind is 127.0.1.(1 + ⌊i / 200⌋) on port BASE + (i mod 200): 20,000 targets are
 * 100 addresses × 200 ports. The real servers (bench/checks-server.mjs) listen on the wildcard
 * address of each port, inside the benchmark's own network namespace, so one listener answers a
 * port on every 127/8 address and 20,000 targets cost 200 listening sockets per kind. Every
 * check still opens its own connection to its own (address, port).
 */

export type CheckKind = "tcp" | "http" | "https";
export const CHECK_KINDS: readonly CheckKind[] = ["tcp", "http", "https"];

export const PORTS_PER_ADDRESS = 200;
/** First port of each kind (each kind uses PORTS_PER_ADDRESS ports from there). */
export const PORT_BASE: Record<CheckKind, number> = { tcp: 20000, http: 21000, https: 22000 };
/** Ephemeral ports inside the namespace: above every listening port. */
export const EPHEMERAL_RANGE = "23000 65535";
/** Real servers per virtual server. */
export const RS_PER_VS = 100;

export interface Target {
  address: string;
  port: number;
}

export function targetAt(kind: CheckKind, i: number): Target {
  const host = 1 + Math.floor(i / PORTS_PER_ADDRESS);
  if (host > 254) throw new Error(`target ${i} is beyond 127.0.1.254 (at most ${254 * PORTS_PER_ADDRESS})`);
  return { address: `127.0.1.${host}`, port: PORT_BASE[kind] + (i % PORTS_PER_ADDRESS) };
}

/** The distinct target addresses of `size` targets (for the certificate's IP SANs). */
export function targetAddresses(size: number): string[] {
  const n = Math.ceil(size / PORTS_PER_ADDRESS);
  return Array.from({ length: n }, (_, i) => `127.0.1.${i + 1}`);
}

/** Virtual server g's address: 10.200.x.y, port 80 (IPVS NAT to the real servers). */
export function vsAddress(g: number): string {
  return `10.200.${(g >> 8) & 255}.${(g & 255) + 1}`;
}

export interface VrrpSpec {
  vrid: number;
  advertIntervalMs: number;
  /** Its VIP (a /24 on the bench's veth). */
  vip: string;
}

export interface VipdChildSpec {
  kind: CheckKind;
  size: number;
  intervalMs: number;
  /** The VRRP instances to run on `vrrpInterface` (none in the lab kernel part). */
  vrrp: VrrpSpec[];
  vrrpInterface: string;
  /** health.state_dir (the real state file is written, as the daemon does). */
  stateDir: string;
  /** Run monitorEventLoopDelay on the main thread (a 10 ms timer: off where only CPU is measured). */
  measureLoop: boolean;
  /** https: the CA file (the server's self-signed certificate); verification on. */
  caFile?: string;
}

/** The vipd config of a child, as YAML (parsed with parseConfig, as `vipd run` would). */
export function vipdConfigYaml(spec: VipdChildSpec): string {
  const lines: string[] = ["node: bench", "log: { level: warn }", `health: { state_dir: ${spec.stateDir} }`];
  // The benchmark is about the checker: no periodic read-back of the (fake) IPVS table.
  lines.push("ipvs: { resync_interval: 0s }");
  if (spec.vrrp.length > 0) {
    lines.push("vrrp:", "  instances:");
    for (const v of spec.vrrp) {
      lines.push(
        `    - name: vr${v.vrid}`,
        `      interface: ${spec.vrrpInterface}`,
        `      vrid: ${v.vrid}`,
        "      priority: 150",
        "      version: 3",
        `      advert_interval: ${v.advertIntervalMs}ms`,
        `      virtual_ips: [${v.vip}/24]`,
        "      garp: { repeat: 1, delay: 0s, refresh: 0s }",
      );
    }
  }
  const interval = `${spec.intervalMs}ms`;
  const timeout = `${Math.min(spec.intervalMs, 1000)}ms`;
  const check =
    spec.kind === "tcp"
      ? "{ type: tcp"
      : spec.kind === "http"
        ? "{ type: http, path: /, expect: ok"
        : `{ type: https, path: /, expect: ok, ca_file: ${spec.caFile}`;
  if (spec.size > 0) lines.push("virtual_servers:");
  const groups = Math.ceil(spec.size / RS_PER_VS);
  for (let g = 0; g < groups; g++) {
    lines.push(
      `  - name: vs${g}`,
      `    address: ${vsAddress(g)}`,
      "    port: 80",
      "    forwarding: nat",
      "    scheduler: wlc",
      `    check: ${check}, interval: ${interval}, timeout: ${timeout}, initial: up }`,
      "    real_servers:",
    );
    for (let i = g * RS_PER_VS; i < Math.min(spec.size, (g + 1) * RS_PER_VS); i++) {
      const t = targetAt(spec.kind, i);
      lines.push(`      - { address: ${t.address}, port: ${t.port} }`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** keepalived's checker config for the same targets: TCP_CHECK or HTTP_GET, delay_loop at the interval. */
export function keepalivedConf(kind: "tcp" | "http", size: number, intervalMs: number): string {
  const out: string[] = ["global_defs {", "  router_id vipd-bench", "}"];
  const groups = Math.ceil(size / RS_PER_VS);
  const timeoutS = Math.max(1, Math.round(Math.min(intervalMs, 1000) / 1000));
  for (let g = 0; g < groups; g++) {
    out.push(
      `virtual_server ${vsAddress(g)} 80 {`,
      `  delay_loop ${Math.max(1, Math.round(intervalMs / 1000))}`,
      "  lb_algo wlc",
      "  lb_kind NAT",
      "  protocol TCP",
    );
    for (let i = g * RS_PER_VS; i < Math.min(size, (g + 1) * RS_PER_VS); i++) {
      const t = targetAt(kind, i);
      out.push(`  real_server ${t.address} ${t.port} {`, "    weight 1");
      if (kind === "tcp") out.push(`    TCP_CHECK {`, `      connect_timeout ${timeoutS}`, "    }");
      else
        out.push(
          "    HTTP_GET {",
          "      url {",
          "        path /",
          "        status_code 200",
          "      }",
          `      connect_timeout ${timeoutS}`,
          "    }",
        );
      out.push("  }");
    }
    out.push("}");
  }
  return `${out.join("\n")}\n`;
}

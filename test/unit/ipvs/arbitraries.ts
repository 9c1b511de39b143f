import fc from "fast-check";
import {
  type AddressFamily,
  type Destination,
  type DestKey,
  type DestOptions,
  FORWARDINGS,
  type IpvsEntry,
  type IpvsTable,
  SCHEDULERS,
  type ServiceKey,
  type ServiceOptions,
  type TunnelOptions,
} from "../../../src/ipvs/types.js";

/** fast-check generators for IPVS services, destinations and tables. */

const v4 = fc.ipV4();
const v6 = fc.ipV6();

export const anyServiceKey: fc.Arbitrary<ServiceKey> = fc.oneof(
  fc.record({
    kind: fc.constant("inet" as const),
    af: fc.constant(2 as const),
    protocol: fc.constantFrom("tcp" as const, "udp" as const, "sctp" as const),
    address: v4,
    port: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    kind: fc.constant("inet" as const),
    af: fc.constant(10 as const),
    protocol: fc.constantFrom("tcp" as const, "udp" as const, "sctp" as const),
    address: v6,
    port: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    kind: fc.constant("fwmark" as const),
    af: fc.constantFrom(2 as const, 10 as const),
    fwmark: fc.integer({ min: 1, max: 0xffffffff }),
  }),
);

export function serviceOptionsFor(af: AddressFamily): fc.Arbitrary<ServiceOptions> {
  const netmask: fc.Arbitrary<string | number> =
    af === 2
      ? fc.oneof(
          fc.integer({ min: 0, max: 32 }),
          fc.integer({ min: 0, max: 32 }).map((p) => {
            const m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
            return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join(".");
          }),
        )
      : fc.integer({ min: 1, max: 128 });
  return fc.record(
    {
      scheduler: fc.constantFrom(...SCHEDULERS),
      flags: fc.record(
        {
          persistent: fc.boolean(),
          onePacket: fc.boolean(),
          shFallback: fc.boolean(),
          shPort: fc.boolean(),
          mhFallback: fc.boolean(),
          mhPort: fc.boolean(),
          schedBits: fc.constantFrom(0, 0x08, 0x10, 0x20, 0x38),
        },
        { requiredKeys: [] },
      ),
      timeout: fc.integer({ min: 0, max: 31 * 86400 }),
      netmask,
      pe: fc.constant("sip"),
    },
    { requiredKeys: ["scheduler"] },
  );
}

export const anyService = anyServiceKey.chain((key) =>
  serviceOptionsFor(key.af).map((options) => ({ key, options })),
);

const tunnel: fc.Arbitrary<TunnelOptions> = fc.oneof(
  fc.constant<TunnelOptions>({ type: "ipip" }),
  fc.record({
    type: fc.constant("gue" as const),
    port: fc.integer({ min: 1, max: 65535 }),
    flags: fc.oneof(
      fc.constant({}),
      fc.constant({ csum: true }),
      fc.constant({ remcsum: true }),
      fc.constant({ csum: false, remcsum: false }),
    ),
  }),
  fc.record({
    type: fc.constant("gre" as const),
    flags: fc.oneof(fc.constant({}), fc.constant({ csum: true })),
  }),
);

export function destOptions(
  forwardings: readonly DestOptions["forwarding"][] = FORWARDINGS,
): fc.Arbitrary<DestOptions> {
  return fc
    .record({
      forwarding: fc.constantFrom(...forwardings),
      weight: fc.integer({ min: 0, max: 0x7fffffff }),
      thresholds: fc.option(
        fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const),
        { nil: undefined },
      ),
      tunnel: fc.option(tunnel, { nil: undefined }),
    })
    .map(({ forwarding, weight, thresholds, tunnel }) => {
      const o: DestOptions = { forwarding, weight };
      if (thresholds) {
        o.lowerThreshold = thresholds[0];
        o.upperThreshold = thresholds[1];
      }
      if (forwarding === "tun" && tunnel) o.tunnel = tunnel;
      return o;
    });
}

export const anyDest = fc
  .record({ address: fc.oneof(v4, v6), port: fc.integer({ min: 0, max: 65535 }) })
  .chain((key) => destOptions().map((options) => ({ key: key as DestKey, options })));

// ---------------------------------------------------------------------------
// Tables drawn from small pools, so that two random tables overlap.

export const SERVICE_POOL: ServiceKey[] = [
  { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.100", port: 80 },
  { kind: "inet", af: 2, protocol: "tcp", address: "10.0.0.100", port: 443 },
  { kind: "inet", af: 2, protocol: "udp", address: "10.0.0.101", port: 53 },
  { kind: "inet", af: 2, protocol: "sctp", address: "10.0.0.102", port: 3868 },
  { kind: "inet", af: 10, protocol: "tcp", address: "2001:db8::100", port: 80 },
  { kind: "inet", af: 10, protocol: "udp", address: "2001:db8::101", port: 53 },
  { kind: "fwmark", af: 2, fwmark: 66 },
  { kind: "fwmark", af: 10, fwmark: 66 },
];

const DEST_POOL: Record<AddressFamily, DestKey[]> = {
  2: [
    { address: "10.0.0.21", port: 80 },
    { address: "10.0.0.22", port: 80 },
    { address: "10.0.0.23", port: 8080 },
    { address: "10.0.0.21", port: 8080 },
  ],
  10: [
    { address: "2001:db8::21", port: 80 },
    { address: "2001:db8::22", port: 80 },
    { address: "2001:db8::21", port: 8080 },
  ],
};

function portOf(key: ServiceKey): number | undefined {
  return key.kind === "inet" && key.port !== 0 ? key.port : undefined;
}

/** DR and TUN cannot map ports: such a destination on another port becomes NAT. */
function fitPorts(service: ServiceKey, d: Destination): Destination {
  const port = portOf(service);
  if (port === undefined || d.key.port === port) return d;
  if (d.options.forwarding !== "dr" && d.options.forwarding !== "tun") return d;
  const { tunnel: _tunnel, ...rest } = d.options;
  return { key: d.key, options: { ...rest, forwarding: "nat" } };
}

function entryFor(key: ServiceKey): fc.Arbitrary<IpvsEntry> {
  const same = DEST_POOL[key.af];
  const other = DEST_POOL[key.af === 2 ? 10 : 2];
  const sameDests = fc.uniqueArray(fc.integer({ min: 0, max: same.length - 1 }), { maxLength: same.length });
  // A destination of the other family is allowed only with tunnel forwarding.
  const crossDest = fc.option(fc.integer({ min: 0, max: other.length - 1 }), { nil: undefined });
  return fc
    .record({
      options: serviceOptionsFor(key.af),
      same: sameDests.chain((idx) =>
        fc.tuple(...idx.map((i) => destOptions().map((o) => ({ key: same[i]!, options: o })))),
      ),
      cross: crossDest.chain((i) =>
        i === undefined
          ? fc.constant(undefined)
          : destOptions(["tun"]).map((o) => ({ key: other[i]!, options: o }) as Destination),
      ),
    })
    .map(({ options, same, cross }) => ({
      service: { key, options },
      destinations: [
        ...same.map((d) => fitPorts(key, d)),
        ...(cross
          ? [fitPorts(key, { ...cross, key: { ...cross.key, port: portOf(key) ?? cross.key.port } })]
          : []),
      ],
    }));
}

export const anyTable: fc.Arbitrary<IpvsTable> = fc
  .uniqueArray(fc.integer({ min: 0, max: SERVICE_POOL.length - 1 }), { maxLength: SERVICE_POOL.length })
  .chain((idx) =>
    idx.length === 0 ? fc.constant([]) : fc.tuple(...idx.map((i) => entryFor(SERVICE_POOL[i]!))),
  );

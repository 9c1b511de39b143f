import { EventEmitter } from "node:events";
import { VipdError } from "../errors.js";
import { childLogger, type Logger } from "../log.js";
import {
  type ConnectionOptions,
  NetlinkConnection,
  NetlinkError,
  type NetlinkSocket,
  type SocketOpener,
} from "../netlink/connection.js";
import { errnoNumber } from "../netlink/errno.js";
import { GenlClient } from "../netlink/genl.js";
import type { InetFamily } from "../netlink/inet.js";
import { parseCidr } from "../netlink/inet.js";
import { NETLINK_ROUTE, type NlMessage } from "../netlink/message.js";
import {
  type Address,
  type AddressOptions,
  decodeAddress,
  decodeLink,
  decodeRouteEvent,
  encodeDelAddress,
  encodeGetAddresses,
  encodeGetLink,
  encodeNewAddress,
  type Link,
  type RouteEvent,
  type RouteGroup,
  RTM_NEWADDR,
  RTM_NEWLINK,
  routeGroups,
} from "../netlink/route.js";
import { openSocket } from "./socket.js";

/**
 * rtnetlink adapter: links and addresses of one network namespace, and change
 * notifications. The codec is src/netlink/route.ts; this file only talks to sockets.
 */

export type { Address, AddressOptions, Link, RouteEvent, RouteGroup };

/** A link given by ifindex or by name. */
export type LinkRef = number | string;

export interface RtnetlinkOptions extends ConnectionOptions {
  /** The network namespace to work in (/run/netns/NAME); default the caller's. */
  netns?: string;
  /** Socket factory; default src/sys/socket.ts. Tests pass a fake. */
  openSocket?: SocketOpener;
  /** Bytes per recvmsg (default 65536). */
  recvBufferSize?: number;
  /** SO_RCVBUF for the sockets; subscriptions default to 1 MiB. */
  socketReceiveBuffer?: number;
}

const ENODEV = errnoNumber("ENODEV")!;

/** The real socket layer (src/sys/socket.ts); the addon loads when the first socket opens. */
export const defaultSocketOpener: SocketOpener = openSocket;

/** Events of a subscription: typed route events, and `overrun` when the kernel dropped some. */
export interface RtnetlinkSubscriptionEvents {
  event: [event: RouteEvent];
  /** Notifications were lost (receive queue overrun): re-read links and addresses. */
  overrun: [err: Error];
  error: [err: Error];
}

export class RtnetlinkSubscription extends EventEmitter<RtnetlinkSubscriptionEvents> {
  constructor(
    readonly conn: NetlinkConnection,
    readonly groups: readonly RouteGroup[],
    log: Logger,
  ) {
    super();
    conn.on("notification", (msg: NlMessage) => {
      let ev: RouteEvent | undefined;
      try {
        ev = decodeRouteEvent(msg);
      } catch (err) {
        log.warn({ err, type: msg.header.type }, "undecodable rtnetlink notification");
        if (this.listenerCount("error") > 0) this.emit("error", err as Error);
        return;
      }
      if (ev) this.emit("event", ev);
    });
    conn.on("overrun", (err) => this.emit("overrun", err));
    conn.on("error", (err) => {
      if (this.listenerCount("error") > 0) this.emit("error", err);
    });
  }

  close(): void {
    this.conn.close();
  }
}

function describeLink(link: LinkRef): string {
  return typeof link === "number" ? `ifindex ${link}` : link;
}

export class Rtnetlink {
  private readonly log: Logger;
  private readonly subscriptions = new Set<RtnetlinkSubscription>();

  constructor(
    readonly conn: NetlinkConnection,
    private readonly opener: SocketOpener,
    private readonly opts: RtnetlinkOptions = {},
  ) {
    this.log = childLogger("rtnetlink", opts.netns !== undefined ? { netns: opts.netns } : {});
  }

  static async open(opts: RtnetlinkOptions = {}): Promise<Rtnetlink> {
    const opener = opts.openSocket ?? defaultSocketOpener;
    const conn = await NetlinkConnection.open(opener, {
      name: "rtnetlink",
      ...opts,
      protocol: NETLINK_ROUTE,
    });
    return new Rtnetlink(conn, opener, opts);
  }

  get netns(): string | undefined {
    return this.opts.netns;
  }

  /** Every link in the namespace. */
  async listLinks(): Promise<Link[]> {
    const replies = await this.conn.dump(encodeGetLink(), { operation: "list links" });
    return replies.filter((m) => m.header.type === RTM_NEWLINK).map(decodeLink);
  }

  /** The link called `name`, or undefined when there is none. */
  async linkByName(name: string): Promise<Link | undefined> {
    return this.getLink({ name }, `look up link ${name}`);
  }

  /** The link with index `ifindex`, or undefined when there is none. */
  async linkByIndex(ifindex: number): Promise<Link | undefined> {
    return this.getLink({ ifindex }, `look up link ifindex ${ifindex}`);
  }

  private async getLink(
    select: { ifindex?: number; name?: string },
    operation: string,
  ): Promise<Link | undefined> {
    try {
      const replies = await this.conn.request(encodeGetLink(select), { operation });
      const m = replies.find((r) => r.header.type === RTM_NEWLINK);
      return m ? decodeLink(m) : undefined;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENODEV) return undefined;
      throw err;
    }
  }

  private async ifindex(link: LinkRef, operation: string): Promise<number> {
    if (typeof link === "number") return link;
    const l = await this.getLink({ name: link }, operation);
    if (!l) throw new NetlinkError(ENODEV, operation, { message: `no interface named "${link}"` }, { link });
    return l.ifindex;
  }

  /**
   * Adds an address (RTM_NEWADDR, NLM_F_CREATE|NLM_F_EXCL). An address that is already
   * there rejects with NetlinkError code EEXIST naming the operation.
   */
  async addAddress(link: LinkRef, cidr: string, opts: AddressOptions = {}): Promise<void> {
    const c = parseCidr(cidr);
    const operation = `add address ${c.cidr} on ${describeLink(link)}`;
    const ifindex = await this.ifindex(link, operation);
    await this.conn.request(encodeNewAddress(ifindex, c, opts), { operation });
    this.log.debug({ ifindex, address: c.cidr }, "address added");
  }

  /** Deletes an address (RTM_DELADDR); one that is not there rejects with EADDRNOTAVAIL. */
  async deleteAddress(link: LinkRef, cidr: string): Promise<void> {
    const c = parseCidr(cidr);
    const operation = `delete address ${c.cidr} on ${describeLink(link)}`;
    const ifindex = await this.ifindex(link, operation);
    await this.conn.request(encodeDelAddress(ifindex, c), { operation });
    this.log.debug({ ifindex, address: c.cidr }, "address deleted");
  }

  /** Addresses of one link, or of all links; optionally of one family. */
  async listAddresses(link?: LinkRef, family?: InetFamily): Promise<Address[]> {
    const operation = `list addresses${link !== undefined ? ` on ${describeLink(link)}` : ""}`;
    const ifindex = link === undefined ? undefined : await this.ifindex(link, operation);
    const replies = await this.conn.dump(encodeGetAddresses(family), { operation });
    const out: Address[] = [];
    for (const m of replies) {
      if (m.header.type !== RTM_NEWADDR) continue;
      const a = decodeAddress(m);
      if (a && (ifindex === undefined || a.ifindex === ifindex)) out.push(a);
    }
    return out;
  }

  /**
   * Opens a second socket bound to the rtnetlink groups for `kinds` and emits typed
   * events. Close it with `subscription.close()` (close() of this object closes it too).
   */
  async subscribe(kinds: readonly RouteGroup[]): Promise<RtnetlinkSubscription> {
    if (kinds.length === 0) {
      throw new VipdError(
        "NETLINK_BAD_GROUP",
        "subscribe needs at least one of link, ipv4-addr, ipv6-addr",
        {},
      );
    }
    const conn = await NetlinkConnection.open(this.opener, {
      ...this.opts,
      name: "rtnetlink-events",
      protocol: NETLINK_ROUTE,
      groups: routeGroups(kinds),
      socketReceiveBuffer: this.opts.socketReceiveBuffer ?? 1 << 20,
    });
    const sub = new RtnetlinkSubscription(conn, [...kinds], this.log);
    this.subscriptions.add(sub);
    conn.on("close", () => this.subscriptions.delete(sub));
    return sub;
  }

  close(): void {
    for (const s of this.subscriptions) s.close();
    this.subscriptions.clear();
    this.conn.close();
  }
}

/**
 * A generic netlink client on the real socket layer (the IPVS client's entry point):
 * `const genl = await openGenl({ netns }); const ipvs = await genl.family("IPVS", { retryFirstRequest: true })`.
 */
export async function openGenl(opts: RtnetlinkOptions = {}): Promise<GenlClient> {
  const opener = opts.openSocket ?? defaultSocketOpener;
  return GenlClient.open(opener, opts);
}

export type { NetlinkSocket, SocketOpener };

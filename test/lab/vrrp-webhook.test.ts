/**
 * Issue 3, lab requirement 8: a webhook receiver (a local HTTP server in the client namespace,
 * reachable from both directors over the bridge) gets every `vrrp.state` transition of each
 * director, in order, with a valid `X-Vipd-Signature`. With the receiver dead (listening but
 * never answering), failover still happens: the backup takes the VIP while its webhook request
 * is still hanging.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../../src/alert/events.js";
import { ensureBuilt } from "./fixtures/vrrp/build.js";
import {
  createDirectorLab,
  type Director,
  type DirectorLab,
  NET,
  startDirector,
  VIP_URL,
  vipHolders,
  waitForSettled,
} from "./harness/directors.js";
import type { Vipd } from "./harness/vipd.js";
import { WebhookReceiver, type WebhookRequest } from "./harness/webhook.js";

const WAIT_MS = 20_000;
const PORT = 8080;
const SECRET = "lab-webhook-secret-3f9a";
const HOOK_URL = `http://${NET.client}:${PORT}/hook`;

/** The vrrp.state events a receiver got from `node`, deduplicated by id (retries repeat the id). */
function stateEvents(rx: WebhookReceiver, node: string): WebhookRequest[] {
  const seen = new Set<unknown>();
  return rx.requests().filter((r) => {
    if (r.json?.event !== "vrrp.state" || r.json.node !== node || seen.has(r.json.id)) return false;
    seen.add(r.json.id);
    return true;
  });
}

// `node bin/vipd` runs dist/: rebuild it first when src/ changed.
beforeAll(() => ensureBuilt());

describe("vrrp.state webhooks from a vipd pair", () => {
  let dl: DirectorLab;
  let rx: WebhookReceiver;
  const d: Partial<Record<Director, Vipd>> = {};

  beforeAll(async () => {
    dl = await createDirectorLab({ prefix: "vwh" });
    rx = await WebhookReceiver.start(dl.lab, "cl", PORT);
    const spec = (priority: number) => ({
      version: 3 as const,
      advertIntervalMs: 100,
      priority,
      // A long request timeout: in the dead-receiver case the request is still hanging when
      // the failover is checked. Enough retries to outlast a link-down period.
      vipd: { webhooks: [{ url: HOOK_URL, secret: SECRET, timeoutMs: 30_000, retries: 10 }] },
    });
    [d.d1, d.d2] = (await Promise.all([
      startDirector("vipd", dl, "d1", spec(150)),
      startDirector("vipd", dl, "d2", spec(100)),
    ])) as [Vipd, Vipd];
    await d.d1.waitForState("MASTER", { timeoutMs: WAIT_MS });
    await waitForSettled(dl.lab, d.d1, d.d2, WAIT_MS);
  });

  afterAll(async () => {
    await dl?.close();
  });

  it("delivers each director's transitions in order, signed, through a failover and back", async () => {
    const d1 = d.d1!;
    const d2 = d.d2!;
    let mark1 = d1.mark;
    let mark2 = d2.mark;
    await dl.lab.linkDown("d1");
    await d2.waitForState("MASTER", { from: mark2, timeoutMs: WAIT_MS });
    await d1.waitForState("FAULT", { from: mark1, timeoutMs: WAIT_MS });
    mark1 = d1.mark;
    mark2 = d2.mark;
    await dl.lab.linkUp("d1");
    await d1.waitForState("MASTER", { from: mark1, timeoutMs: WAIT_MS });
    await d2.waitForState("BACKUP", { from: mark2, timeoutMs: WAIT_MS });

    for (const [node, v] of Object.entries(d) as Array<[Director, Vipd]>) {
      // The event's reason is the log line's reason, with its detail when there is one
      // ("master_down: no master heard for Master_Down_Interval").
      const logged = v.transitions(0, "web").map((t) => ({
        from: t.from,
        to: t.to,
        reason: typeof t.record.detail === "string" ? `${t.reason}: ${t.record.detail}` : t.reason,
      }));
      // d1: startup → BACKUP → MASTER → FAULT → BACKUP → MASTER; d2: → BACKUP → MASTER → BACKUP.
      expect(logged.length).toBeGreaterThanOrEqual(node === "d1" ? 5 : 3);
      await rx.waitForCount(
        (r) => r.json?.event === "vrrp.state" && r.json.node === node,
        logged.length,
        WAIT_MS * 2,
      );
      const got = stateEvents(rx, node);
      expect({
        node,
        events: got.map((r) => ({ from: r.json!.from, to: r.json!.to, reason: r.json!.reason })),
      }).toEqual({ node, events: logged });
      for (const r of got) {
        expect(r.method).toBe("POST");
        expect(r.url).toBe("/hook");
        expect(verifySignature(r.raw, r.headers["x-vipd-signature"], SECRET)).toBe(true);
        expect(verifySignature(r.raw, r.headers["x-vipd-signature"], "some other secret")).toBe(false);
        expect(r.json).toMatchObject({ event: "vrrp.state", node, instance: "web" });
        expect(typeof r.json!.priority).toBe("number");
        expect(new Date(String(r.json!.timestamp)).toISOString()).toBe(r.json!.timestamp);
      }
    }
    // d1's FAULT event could only be delivered after its link came back, and the events behind
    // it waited for it: order held per webhook even across retries (checked above).
  });

  it("fails over with the receiver dead: the backup takes the VIP while its webhook request hangs", async () => {
    const d1 = d.d1!;
    const d2 = d.d2!;
    await rx.stop();
    rx = await WebhookReceiver.start(dl.lab, "cl", PORT, { hang: true });
    const mark2 = d2.mark;
    await dl.lab.linkDown("d1");
    await d2.waitForState("MASTER", { from: mark2, timeoutMs: WAIT_MS });
    expect(await vipHolders(dl.lab)).toEqual(["d2"]);
    expect((await dl.lab.exec("cl", ["curl", "-s", "--max-time", "2", VIP_URL])).stdout).toBe("d2");
    // The hanging receiver got d2's BACKUP → MASTER event and has not answered it: the failover
    // above did not wait for the webhook.
    await rx.waitForCount((r) => r.json?.node === "d2" && r.json.to === "MASTER", 1, WAIT_MS);
    expect(d2.running).toBe(true);
    // And the rest of the daemon is unaffected: the master comes back and preempts.
    const mark1 = d1.mark;
    const mark2b = d2.mark;
    await dl.lab.linkUp("d1");
    await d1.waitForState("MASTER", { from: mark1, timeoutMs: WAIT_MS });
    await d2.waitForState("BACKUP", { from: mark2b, timeoutMs: WAIT_MS });
    expect(await vipHolders(dl.lab)).toEqual(["d1"]);
  });
});

/**
 * Sync groups: instances that move together (keepalived's vrrp_sync_group).
 *
 * When a member changes state on its own (any reason but `sync_group`):
 * - → FAULT: every other member is forced to FAULT (fsm input sync_group FAULT);
 * - → BACKUP: every other member is told BACKUP — a master steps down, and members held in
 *   FAULT by the group are released — unless some member still has a fault of its own, in
 *   which case the group stays in FAULT;
 * - → MASTER (an owner starting, or recovering from a fault): the other members in BACKUP
 *   take over too (sync_group MASTER).
 * Transitions caused by the group itself (reason `sync_group`) are not propagated again, so a
 * change spreads exactly one hop and never loops.
 *
 * A member's master-down timer does not make it MASTER (see fsm.ts): it reports that it wants
 * MASTER, and {@link SyncGroup.onWantMaster} moves the whole group only once every member is
 * MASTER or wants to be. While one member still hears a master on its segment, the group stays
 * BACKUP everywhere (keepalived's vrrp_sync_can_goto_master).
 */
import { childLogger, type Logger } from "../log.js";
import type { FsmInput, TransitionReason, VrrpState } from "./fsm.js";

export interface SyncMember {
  readonly name: string;
  readonly state: VrrpState;
  /** BACKUP with an expired master-down timer and no master heard since. */
  readonly wantsMaster: boolean;
  /** The member's own fault (not one forced by the group), or null. */
  readonly ownFault: string | null;
  input(input: FsmInput): void;
}

export interface MemberTransition {
  from: VrrpState;
  to: VrrpState;
  reason: TransitionReason;
}

export class SyncGroup {
  readonly name: string;
  private readonly members: SyncMember[];
  private readonly log: Logger;

  constructor(name: string, members: readonly SyncMember[], log?: Logger) {
    this.name = name;
    this.members = [...members];
    this.log = log ?? childLogger("vrrp.sync", { group: name });
    // A group of one is no group: its member decides alone.
    const grouped = this.members.length > 1;
    for (const m of this.members) m.input({ type: "sync_member", member: grouped });
  }

  /** Call when `member` wants MASTER (its master-down timer expired). */
  onWantMaster(member: SyncMember): void {
    if (!this.members.includes(member)) return;
    const waiting = this.members.filter(
      (m) => m.state !== "MASTER" && !(m.state === "BACKUP" && m.wantsMaster),
    );
    if (waiting.length > 0) {
      this.log.debug(
        { event: "vrrp.sync_group", member: member.name, waiting: waiting.map((m) => m.name) },
        `${member.name} wants MASTER; the group stays BACKUP until ${waiting.map((m) => m.name).join(", ")} want it too`,
      );
      return;
    }
    const moving = this.members.filter((m) => m.state === "BACKUP");
    this.log.info(
      { event: "vrrp.sync_group", member: member.name, to: "MASTER", members: moving.map((m) => m.name) },
      `every member wants MASTER: moving ${moving.map((m) => m.name).join(", ")} to MASTER`,
    );
    for (const m of moving) m.input({ type: "sync_group", to: "MASTER" });
  }

  has(name: string): boolean {
    return this.members.some((m) => m.name === name);
  }

  memberNames(): string[] {
    return this.members.map((m) => m.name);
  }

  /** Call after `member` made a transition. */
  onTransition(member: SyncMember, t: MemberTransition): void {
    if (t.reason === "sync_group" || !this.members.includes(member)) return;
    const others = this.members.filter((m) => m !== member);
    if (others.length === 0) return;
    let target: "FAULT" | "BACKUP" | "MASTER";
    switch (t.to) {
      case "FAULT":
        target = "FAULT";
        break;
      case "BACKUP": {
        const faulty = this.members.find((m) => m.ownFault !== null);
        if (faulty) {
          // The group stays down while any member is in fault of its own.
          if (member.state !== "FAULT") member.input({ type: "sync_group", to: "FAULT" });
          return;
        }
        target = "BACKUP";
        break;
      }
      case "MASTER":
        target = "MASTER";
        break;
      default:
        return;
    }
    this.log.info(
      { event: "vrrp.sync_group", member: member.name, to: target, members: others.map((m) => m.name) },
      `${member.name} went ${t.to} (${t.reason}): moving ${others.map((m) => m.name).join(", ")} to ${target}`,
    );
    for (const m of others) m.input({ type: "sync_group", to: target });
  }

  /**
   * Aligns the members with their faults; call it after tracking changed (and at start-up or
   * after a reload). While any member has a fault of its own, the others are forced to FAULT;
   * once none has, members the group held in FAULT are released to BACKUP. (A fault that
   * clears while the group also holds that member in FAULT causes no transition, so only this
   * catches it.)
   */
  reconcile(): void {
    const faulty = this.members.find((m) => m.ownFault !== null);
    if (faulty) {
      for (const m of this.members) {
        if (m.ownFault === null) m.input({ type: "sync_group", to: "FAULT" });
      }
      return;
    }
    for (const m of this.members) if (m.state === "FAULT") m.input({ type: "sync_group", to: "BACKUP" });
  }
}

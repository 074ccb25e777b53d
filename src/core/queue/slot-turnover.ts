import type { SlotReport } from '../control/messages.js';
import type { SlotOccupancy } from './slot-overhead.js';

// Follows the slots this reception's admissions took, through the load reports and
// completions it receives, and feeds what it sees to a SlotOverhead (slot-overhead.ts):
// - when a slot was taken (the admission), and how long its transfer should take;
// - when the transfer should end, from the last report that showed it moving (bytes left ÷
//   its rate), or at the latest when a report shows it idle;
// - when the reception could first know the slot was free again: the first report that no
//   longer lists a ticket it listed before, or the order's completion, whichever came first;
// - when the next client in line got a slot on that server.
// Everything is on the reception's clock (a report counts when it arrived), so the content
// servers' clocks never enter. Pure: times come in as arguments.

/** Where the measurements go: a SlotOverhead. */
export interface TurnoverMeasurements {
  recordOccupancy(o: SlotOccupancy): void;
  recordReassignment(freedAt: number, admittedAt: number): void;
}

export interface AdmittedSlot {
  readonly ticketId: string;
  readonly serverId: string;
  /** Unix ms of the admission. */
  readonly at: number;
  /** size ÷ per-transfer rate, as the replay would assume it now. */
  readonly transferMs: number;
  /** True when the order came from the line (the slot went to the next client waiting for one). */
  readonly fromLine: boolean;
}

export interface SlotTurnoverSettings {
  /** A slot followed this long without a completion is forgotten (its ticket's window is over by then). */
  readonly forgetAfterMs: number;
  /** Most slots followed at once; the oldest go first. */
  readonly maxTracked: number;
  /** A freed slot not given to anyone within this long says nothing about reassignment. */
  readonly maxReassignmentMs: number;
}

export const defaultSlotTurnoverSettings: SlotTurnoverSettings = { forgetAfterMs: 15 * 60_000, maxTracked: 100_000, maxReassignmentMs: 30_000 };

interface Track {
  readonly serverId: string;
  readonly admittedAt: number;
  readonly transferMs: number;
  /** A report listed the slot. */
  seen: boolean;
  /** A report showed bytes flowing (active) or the transfer over (idle). */
  moved: boolean;
  transferEndAt: number | undefined;
  releasedAt: number | undefined;
  sampled: boolean;
}

export class SlotTurnover {
  readonly #overhead: TurnoverMeasurements;
  readonly #s: SlotTurnoverSettings;
  readonly #tracks = new Map<string, Track>();
  readonly #byServer = new Map<string, Set<string>>();
  /** Per server, when slots were seen freed that no client from the line has taken yet, oldest first. */
  readonly #freed = new Map<string, number[]>();

  constructor(overhead: TurnoverMeasurements, settings: Partial<SlotTurnoverSettings> = {}) {
    this.#overhead = overhead;
    this.#s = { ...defaultSlotTurnoverSettings, ...settings };
  }

  /** Slots followed now. */
  get tracked(): number {
    return this.#tracks.size;
  }

  admitted(a: AdmittedSlot): void {
    if (a.fromLine) {
      const freed = this.#freed.get(a.serverId);
      const freedAt = freed?.shift();
      if (freedAt !== undefined && a.at - freedAt <= this.#s.maxReassignmentMs) this.#overhead.recordReassignment(freedAt, a.at);
    }
    this.#forget(a.at);
    this.#tracks.set(a.ticketId, {
      serverId: a.serverId,
      admittedAt: a.at,
      transferMs: a.transferMs,
      seen: false,
      moved: false,
      transferEndAt: undefined,
      releasedAt: undefined,
      sampled: false,
    });
    let ids = this.#byServer.get(a.serverId);
    if (!ids) this.#byServer.set(a.serverId, (ids = new Set()));
    ids.add(a.ticketId);
  }

  /** A load report of `serverId` arrived at `receivedAt`. */
  report(serverId: string, slots: readonly SlotReport[], receivedAt: number): void {
    const ids = this.#byServer.get(serverId);
    if (!ids || ids.size === 0) return;
    const listed = new Map<string, SlotReport>();
    for (const slot of slots) listed.set(slot.ticketId, slot);
    for (const ticketId of ids) {
      const track = this.#tracks.get(ticketId);
      if (!track || track.releasedAt !== undefined) continue;
      const slot = listed.get(ticketId);
      if (slot === undefined) {
        // A report sent before the notice arrived does not list the slot yet: only one that
        // listed it before says anything by leaving it out.
        if (track.seen) this.#release(ticketId, track, receivedAt);
        continue;
      }
      track.seen = true;
      if (slot.state === 'active' && slot.bytesPerSecond > 0) {
        track.moved = true;
        track.transferEndAt = receivedAt + (Math.max(0, slot.remainingBytes) / slot.bytesPerSecond) * 1000;
      } else if (slot.state === 'idle') {
        track.moved = true;
        track.transferEndAt = Math.min(track.transferEndAt ?? receivedAt, receivedAt);
      }
    }
  }

  /** The completion of the order that held `ticketId` arrived at `at`. */
  completed(ticketId: string, at: number, delivered: boolean): void {
    const track = this.#tracks.get(ticketId);
    if (!track) return;
    if (track.releasedAt === undefined) this.#release(ticketId, track, at);
    // A slot that was never seen moving (a transfer shorter than the report interval) is
    // measured only when the completion says it was delivered: otherwise it was a hold that
    // nobody used, which the held slots' deadlines already forecast.
    if (!track.sampled && delivered) this.#sample(track);
    this.#drop(ticketId, track);
  }

  /** Nobody is waiting: slots freed from now on are not waiting for the next client in line. */
  lineEmpty(): void {
    this.#freed.clear();
  }

  #release(ticketId: string, track: Track, at: number): void {
    track.releasedAt = at;
    let freed = this.#freed.get(track.serverId);
    if (!freed) this.#freed.set(track.serverId, (freed = []));
    freed.push(at);
    if (freed.length > 10_000) freed.shift();
    if (track.moved) {
      this.#sample(track);
      // Only the completion is left to come; it changes nothing now.
      this.#drop(ticketId, track);
    }
  }

  #sample(track: Track): void {
    if (track.sampled || track.releasedAt === undefined) return;
    track.sampled = true;
    this.#overhead.recordOccupancy({
      admittedAt: track.admittedAt,
      releasedAt: track.releasedAt,
      transferMs: track.transferMs,
      transferEndAt: track.transferEndAt,
    });
  }

  #drop(ticketId: string, track: Track): void {
    this.#tracks.delete(ticketId);
    this.#byServer.get(track.serverId)?.delete(ticketId);
  }

  /** Forgets slots followed too long, oldest first (insertion order is admission order). */
  #forget(now: number): void {
    for (const [ticketId, track] of this.#tracks) {
      if (this.#tracks.size < this.#s.maxTracked && now - track.admittedAt <= this.#s.forgetAfterMs) break;
      this.#drop(ticketId, track);
    }
  }
}

import type { Clock } from '../../core/clock.js';
import type { LoadReport } from '../../core/control/messages.js';
import { serviceTimeMs, type ServiceHistory, type SlotForecast } from '../../core/queue/wait-estimate.js';
import type { Candidate } from '../../core/selection.js';

// The reception's view of its content servers, built from the load reports they push (R2).
// On top of each report it counts the notices it made since that report was sent, so that a
// burst of orders between two reports does not all land on the same "least-loaded" server.

interface Entry {
  report: LoadReport;
  receivedAt: number;
  /** Notices this reception made since the report was sent: when, and the item's size. */
  recentNotices: { at: number; bytes: number }[];
  /** Slots freed (completions) since the report was sent. */
  recentReleases: number[];
  /** A notice was refused as slots-full after this report: treat the server as full until the next one. */
  fullSinceReport: boolean;
  /** Last observed rate of one transfer on this server, bytes/s (0: never seen). */
  perTransferRate: number;
}

export interface ServerView {
  readonly serverId: string;
  readonly publicUrl: string;
  readonly controlUrl: string;
  readonly report: LoadReport;
  readonly receivedAt: number;
  readonly ageMs: number;
  readonly live: boolean;
}

export class ServerRegistry {
  readonly #servers = new Map<string, Entry>();
  readonly #clock: Clock;
  readonly #staleAfterMs: number;

  constructor(clock: Clock, staleAfterMs: number) {
    this.#clock = clock;
    this.#staleAfterMs = staleAfterMs;
  }

  /** Records a report; returns true when the server was not known (or had gone silent) before. */
  record(report: LoadReport): boolean {
    const now = this.#clock.now();
    const previous = this.#servers.get(report.serverId);
    const isNew = !previous || now - previous.receivedAt > this.#staleAfterMs;
    // Reports can cross on the wire; an older one never replaces a newer one.
    if (previous && report.seq <= previous.report.seq && report.sentAt <= previous.report.sentAt && !isNew) return false;
    // Notices made before the server sent this report are already counted in it. Reports carry
    // the server's clock; we compare on our receive time minus the report's age in transit,
    // which on one machine or a synchronised cluster is the same thing.
    const recentNotices = (previous?.recentNotices ?? []).filter((n) => n.at > report.sentAt);
    const recentReleases = (previous?.recentReleases ?? []).filter((t) => t > report.sentAt);
    const rates = report.slots.filter((slot) => slot.state === 'active' && slot.bytesPerSecond > 0).map((slot) => slot.bytesPerSecond);
    const limit = report.transferRateLimit ?? 0;
    const observed = rates.length > 0 ? rates.reduce((a, b) => a + b, 0) / rates.length : (previous?.perTransferRate ?? 0);
    const perTransferRate = observed > 0 ? observed : limit;
    this.#servers.set(report.serverId, { report, receivedAt: now, recentNotices, recentReleases, fullSinceReport: false, perTransferRate });
    return isNew;
  }

  /** A notice sent at `sentAt` (before the server could count it) took a slot for an item of `bytes`. */
  noteNotice(serverId: string, bytes: number, sentAt: number): void {
    this.#servers.get(serverId)?.recentNotices.push({ at: sentAt, bytes });
  }

  noteFull(serverId: string): void {
    const entry = this.#servers.get(serverId);
    if (entry) entry.fullSinceReport = true;
  }

  /**
   * A ticket on this server ended (a completion arrived): its slot is free before the next
   * report says so — unless the last report already shows it gone (completions can trail the
   * slot's release).
   */
  noteRelease(serverId: string, ticketId: string): void {
    const entry = this.#servers.get(serverId);
    if (!entry || !entry.report.slots.some((slot) => slot.ticketId === ticketId)) return;
    entry.recentReleases.push(this.#clock.now());
    entry.fullSinceReport = false;
  }

  /**
   * When each slot of the live, non-draining servers among `serverIds` is predicted to free
   * (see src/core/queue/wait-estimate.ts), from the last reports brought forward to now.
   */
  slotForecasts(serverIds: readonly string[], history: ServiceHistory, startupMs: number): SlotForecast[] {
    const now = this.#clock.now();
    const out: SlotForecast[] = [];
    for (const id of serverIds) {
      const entry = this.#servers.get(id);
      if (!entry || now - entry.receivedAt > this.#staleAfterMs || entry.report.draining) continue;
      const r = entry.report;
      const age = Math.max(0, now - entry.receivedAt);
      const rate = entry.perTransferRate;
      const held = (bytes: number): number => now + startupMs + serviceTimeMs(bytes, rate, history);
      const mine: SlotForecast[] = [];
      for (const slot of r.slots) {
        if (slot.state === 'active' && slot.bytesPerSecond > 0) {
          const remaining = Math.max(0, slot.remainingBytes - (slot.bytesPerSecond * age) / 1000);
          mine.push({ freeAt: now + (remaining / slot.bytesPerSecond) * 1000, perTransferRate: rate });
        } else if (slot.state === 'held') {
          mine.push({ freeAt: Math.min(held(slot.remainingBytes), Math.max(now, slot.releaseBy)), perTransferRate: rate });
        } else {
          mine.push({ freeAt: Math.max(now, slot.releaseBy), perTransferRate: rate });
        }
      }
      for (const notice of entry.recentNotices) mine.push({ freeAt: held(notice.bytes), perTransferRate: rate });
      // Slots freed since the report are the ones predicted to free first: they already did.
      mine.sort((a, b) => a.freeAt - b.freeAt);
      mine.splice(0, Math.min(entry.recentReleases.length, mine.length));
      // Slots the report shows free; if a notice found the server full since, someone else (another
      // reception) took them, and we only know they will free after a typical service time.
      const freeAt = entry.fullSinceReport ? now + (history.meanServiceMs ?? 1000) : now;
      for (let i = mine.length; i < r.capacity; i++) mine.push({ freeAt, perTransferRate: rate });
      out.push(...mine);
    }
    return out;
  }

  get(serverId: string): ServerView | undefined {
    const entry = this.#servers.get(serverId);
    return entry ? this.#view(serverId, entry) : undefined;
  }

  list(): ServerView[] {
    return [...this.#servers.entries()].map(([id, e]) => this.#view(id, e)).sort((a, b) => a.serverId.localeCompare(b.serverId));
  }

  /** Slots of the live, non-draining servers. */
  totalCapacity(): number {
    return this.list().reduce((sum, s) => sum + (s.live && !s.report.draining ? s.report.capacity : 0), 0);
  }

  liveServerIds(): string[] {
    return this.list().filter((s) => s.live).map((s) => s.serverId);
  }

  candidates(serverIds: readonly string[]): Candidate[] {
    const out: Candidate[] = [];
    for (const id of serverIds) {
      const entry = this.#servers.get(id);
      if (!entry) continue;
      const r = entry.report;
      out.push({
        serverId: id,
        capacity: r.capacity,
        slotsTaken: entry.fullSinceReport
          ? r.capacity
          : Math.max(0, r.slotsTaken + entry.recentNotices.length - entry.recentReleases.length),
        cost: r.location.cost,
        draining: r.draining,
        reportedAt: entry.receivedAt,
      });
    }
    return out;
  }

  #view(serverId: string, entry: Entry): ServerView {
    const ageMs = this.#clock.now() - entry.receivedAt;
    return {
      serverId,
      publicUrl: entry.report.publicUrl,
      controlUrl: entry.report.controlUrl,
      report: entry.report,
      receivedAt: entry.receivedAt,
      ageMs,
      live: ageMs <= this.#staleAfterMs,
    };
  }
}

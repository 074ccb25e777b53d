import type { Clock } from '../../core/clock.js';
import type { DrainStatus, LoadReport, ServerStatus, StatusSnapshot } from '../../core/control/messages.js';
import { serviceTimeMs, type ServiceHistory, type SlotForecast } from '../../core/queue/wait-estimate.js';
import { byServerId } from '../../core/selection/by-server-id.js';
import type { Candidate } from '../../core/selection/candidate.js';
import { slotFreeInMs } from '../../core/selection/slot-free-in.js';
import { serverHealth, staleAfterMs, takesNewTickets, type ServerHealth, type StalenessPolicy } from '../../core/server-health.js';
import type { ServerDrain } from '../../ports/persistence.js';

// The reception's view of its content servers, built from the load reports they push (R2).
// On top of each report it counts the notices it made since that report was sent, so that a
// burst of orders between two reports does not all land on the same "least-loaded" server.
//
// It is also the one place that says whether a server may get new tickets: its health
// (src/core/server-health.ts) from how long it has been silent, measured against the interval
// it announced, and from the operator's drains, which the control app keeps in the database
// and mirrors here. The selection's input, the waiting line's forecasts and the status views
// all read it from here.

interface Entry {
  report: LoadReport;
  receivedAt: number;
  /** Notices this reception made since the report was sent and not yet ended: when, the item's size, the ticket. */
  recentNotices: { at: number; bytes: number; ticketId: string }[];
  /** Tickets the report shows taken that have ended since (a completion arrived). */
  recentReleases: Set<string>;
  /**
   * Tickets that ended (a completion arrived) though the report does not show them: noticed
   * after it, or ended before it. A report sent before they ended may still arrive and show them.
   */
  endedUnreported: Set<string>;
  /** A notice was refused as slots-full after this report: treat the server as full until the next one. */
  fullSinceReport: boolean;
  /**
   * When each slot the report lists is expected to free, by ticket (Unix ms, our clock), from
   * the report's own figures: what lets an old report be brought forward (slot-free-in.ts).
   */
  slotsFreeAt: Map<string, number>;
  /** Last observed rate of one transfer on this server, bytes/s (0: never seen). */
  perTransferRate: number;
  /** Silence after which this server is stale, from the interval it announced. */
  staleAfterMs: number;
}

export interface ServerView {
  readonly serverId: string;
  readonly publicUrl: string;
  readonly controlUrl: string;
  readonly report: LoadReport;
  readonly receivedAt: number;
  readonly ageMs: number;
  /** Reporting in time (not stale). */
  readonly live: boolean;
  readonly staleAfterMs: number;
  readonly health: ServerHealth;
  /** When the operator drained it; null when not drained. */
  readonly drainedSince: number | null;
  /** May be offered new tickets. */
  readonly eligible: boolean;
  /** Slots taken per the report plus the notices made since, less the completions since. */
  readonly slotsTaken: number;
}

/**
 * A selection candidate (src/core/selection/candidate.ts) with the registry's own count beside
 * it: `slotsTaken` is the report plus this reception's notices since, less the completions it
 * heard of since (its own; with Redis, any reception's: the channel's watchers), full after a
 * refusal; the waiting room reads it to count free slots.
 */
export interface RegistryCandidate extends Candidate {
  readonly slotsTaken: number;
}

export interface RegistryOptions {
  readonly staleness: StalenessPolicy;
}

export class ServerRegistry {
  readonly #servers = new Map<string, Entry>();
  /** Operator drains: server ID → Unix ms of the drain. */
  readonly #drains = new Map<string, number>();
  #drainsVersion = 0;
  readonly #clock: Clock;
  readonly #staleness: StalenessPolicy;
  readonly #startedAt: number;
  /** Callers waiting for the next report (see nextReport). */
  #reportWaiters: (() => void)[] = [];

  constructor(clock: Clock, options: RegistryOptions) {
    this.#clock = clock;
    this.#staleness = options.staleness;
    this.#startedAt = clock.now();
  }

  /** Milliseconds since this registry (the reception) started: it knows no servers before their first reports. */
  get upForMs(): number {
    return this.#clock.now() - this.#startedAt;
  }

  /** Resolves at the next recorded report, or after `timeoutMs`, whichever comes first. */
  nextReport(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      timer.unref();
      const waiters = this.#reportWaiters;
      function done(): void {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  /** Records a report; returns true when the server was not known (or had gone silent) before. */
  record(report: LoadReport): boolean {
    const now = this.#clock.now();
    const previous = this.#servers.get(report.serverId);
    const isNew = !previous || now - previous.receivedAt > previous.staleAfterMs;
    // Reports can cross on the wire; an older one never replaces a newer one.
    if (previous && report.seq <= previous.report.seq && report.sentAt <= previous.report.sentAt && !isNew) return false;
    // Notices made before the server sent this report are already counted in it. Reports carry
    // the server's clock; we compare on our receive time minus the report's age in transit,
    // which on one machine or a synchronised cluster is the same thing.
    const recentNotices = (previous?.recentNotices ?? []).filter((n) => n.at > report.sentAt);
    // A ticket that ended here but that this report still shows was ended after the report was
    // sent: its slot is free now, though the report counts it.
    const listed = new Set(report.slots.map((slot) => slot.ticketId));
    const recentReleases = new Set<string>();
    for (const ended of [...(previous?.recentReleases ?? []), ...(previous?.endedUnreported ?? [])]) {
      if (listed.has(ended)) recentReleases.add(ended);
    }
    const rates = report.slots.filter((slot) => slot.state === 'active' && slot.bytesPerSecond > 0).map((slot) => slot.bytesPerSecond);
    const limit = report.transferRateLimit ?? 0;
    const observed = rates.length > 0 ? rates.reduce((a, b) => a + b, 0) / rates.length : (previous?.perTransferRate ?? 0);
    const perTransferRate = observed > 0 ? observed : limit;
    // Forecasts in our clock: the report's times are the server's, its age in transit is ~0.
    const slotsFreeAt = new Map(report.slots.map((slot) => [slot.ticketId, now + slotFreeInMs(slot, report.sentAt, perTransferRate)]));
    this.#servers.set(report.serverId, {
      report,
      receivedAt: now,
      slotsFreeAt,
      recentNotices,
      recentReleases,
      endedUnreported: new Set(),
      fullSinceReport: false,
      perTransferRate,
      staleAfterMs: staleAfterMs(report.intervalMs, this.#staleness),
    });
    if (this.#reportWaiters.length > 0) {
      const waiters = this.#reportWaiters;
      this.#reportWaiters = [];
      for (const wake of waiters) wake();
    }
    return isNew;
  }

  /** Counts drain changes made here, so a slower read of the database cannot undo a newer one. */
  get drainsVersion(): number {
    return this.#drainsVersion;
  }

  /**
   * Replaces the operator's drains with the database's (at start, and now and then for the
   * changes other receptions make). `readAtVersion` is drainsVersion when the read began: if a
   * drain changed here since, the read is older than what we know and is dropped.
   */
  setDrains(drains: readonly ServerDrain[], readAtVersion = this.#drainsVersion): boolean {
    if (readAtVersion !== this.#drainsVersion) return false;
    this.#drains.clear();
    for (const d of drains) this.#drains.set(d.serverId, d.since);
    return true;
  }

  drain(serverId: string, since: number): void {
    this.#drainsVersion++;
    this.#drains.set(serverId, since);
  }

  undrain(serverId: string): void {
    this.#drainsVersion++;
    this.#drains.delete(serverId);
  }

  /** The operator drained it: the answer to put in the reply to its load report. */
  isDrained(serverId: string): boolean {
    return this.#drains.has(serverId);
  }

  /** Has reported since this reception started, or is drained. */
  knows(serverId: string): boolean {
    return this.#servers.has(serverId) || this.#drains.has(serverId);
  }

  /** A notice for `ticketId`, sent at `sentAt` (before the server could count it), took a slot for an item of `bytes`. */
  noteNotice(serverId: string, ticketId: string, bytes: number, sentAt: number): void {
    this.#servers.get(serverId)?.recentNotices.push({ at: sentAt, bytes, ticketId });
  }

  noteFull(serverId: string): void {
    const entry = this.#servers.get(serverId);
    if (entry) entry.fullSinceReport = true;
  }

  /**
   * A ticket on this server ended (a completion arrived): its slot is free before the next
   * report says so. Counted once, whichever way the slot was counted: as a notice made since the
   * report (a short download starts and ends between two reports), or in the report itself. A
   * ticket the report does not show either ended before it was sent (completions can trail the
   * slot's release) or was noticed by another reception; it is remembered in case a report sent
   * before it ended arrives next.
   */
  noteRelease(serverId: string, ticketId: string): void {
    const entry = this.#servers.get(serverId);
    if (!entry) return;
    const notice = entry.recentNotices.findIndex((n) => n.ticketId === ticketId);
    if (notice >= 0) {
      entry.recentNotices.splice(notice, 1);
      entry.endedUnreported.add(ticketId);
    } else if (entry.report.slots.some((slot) => slot.ticketId === ticketId)) {
      entry.recentReleases.add(ticketId);
    } else {
      entry.endedUnreported.add(ticketId);
      return;
    }
    entry.fullSinceReport = false;
  }

  /**
   * When each slot of the live, non-draining servers among `serverIds` is predicted to free
   * (see src/core/queue/wait-estimate.ts), from the last reports brought forward to now.
   * `afterTransferMs`, when given, is how long a slot stays taken after its last byte (the
   * waiting room measures it, src/core/queue/slot-overhead.ts): transfers free that much after
   * they end, and an idle slot within that much of the report that showed it idle.
   */
  slotForecasts(serverIds: readonly string[], history: ServiceHistory, startupMs: number, afterTransferMs?: number): SlotForecast[] {
    const now = this.#clock.now();
    const out: SlotForecast[] = [];
    for (const id of serverIds) {
      const entry = this.#servers.get(id);
      if (!entry || !this.#view(id, entry).eligible) continue;
      const r = entry.report;
      const age = Math.max(0, now - entry.receivedAt);
      const rate = entry.perTransferRate;
      const held = (bytes: number): number => now + startupMs + serviceTimeMs(bytes, rate, history);
      const mine: SlotForecast[] = [];
      for (const slot of r.slots) {
        if (slot.state === 'active' && slot.bytesPerSecond > 0) {
          const remaining = Math.max(0, slot.remainingBytes - (slot.bytesPerSecond * age) / 1000);
          mine.push({ freeAt: now + (remaining / slot.bytesPerSecond) * 1000 + (afterTransferMs ?? 0), perTransferRate: rate });
        } else if (slot.state === 'held') {
          mine.push({ freeAt: Math.min(held(slot.remainingBytes), Math.max(now, slot.releaseBy)), perTransferRate: rate });
        } else if (slot.state === 'idle' && afterTransferMs !== undefined) {
          // The transfer ended before the report arrived: the slot frees within afterTransferMs of that.
          mine.push({ freeAt: Math.max(now, Math.min(slot.releaseBy, entry.receivedAt + afterTransferMs)), perTransferRate: rate });
        } else {
          mine.push({ freeAt: Math.max(now, slot.releaseBy), perTransferRate: rate });
        }
      }
      for (const notice of entry.recentNotices) mine.push({ freeAt: held(notice.bytes), perTransferRate: rate });
      // Slots freed since the report are the ones predicted to free first: they already did.
      mine.sort((a, b) => a.freeAt - b.freeAt);
      mine.splice(0, Math.min(entry.recentReleases.size, mine.length));
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
    return [...this.#servers.entries()].map(([id, e]) => this.#view(id, e)).sort(byServerId);
  }

  /** Slots of the servers that take new tickets. */
  totalCapacity(): number {
    return this.list().reduce((sum, s) => sum + (s.eligible ? s.report.capacity : 0), 0);
  }

  /** Servers reporting in time, drained or not (they still take replicas and finish their transfers). */
  liveServerIds(): string[] {
    return this.list().filter((s) => s.live).map((s) => s.serverId);
  }

  /** How many servers are in each health, for metrics. */
  countByHealth(): Record<ServerHealth, number> {
    const counts: Record<ServerHealth, number> = { healthy: 0, draining: 0, drained: 0, stale: 0 };
    for (const s of this.list()) counts[s.health]++;
    return counts;
  }

  /**
   * The selection's input: the servers among `serverIds` that report in time. A stale server is
   * left out here, by its own bound, whatever bound the selection applies on top; a drained
   * or draining one is passed with `draining` set.
   */
  candidates(serverIds: readonly string[]): RegistryCandidate[] {
    const out: RegistryCandidate[] = [];
    for (const id of serverIds) {
      const entry = this.#servers.get(id);
      if (!entry) continue;
      const view = this.#view(id, entry);
      if (!view.live) continue;
      // The report and this reception's own work since are passed apart: the policy decides
      // whether to read its own notices (the default) or the report alone (least-loaded).
      out.push({
        serverId: id,
        capacity: entry.report.capacity,
        reportedTaken: entry.report.slotsTaken,
        pendingNotices: entry.recentNotices.length,
        releasesSinceReport: entry.recentReleases.size,
        refusedSinceReport: entry.fullSinceReport,
        reportedSlotsFreeAt: reportedSlotsFreeAt(entry),
        draining: !view.eligible,
        reportedAt: entry.receivedAt,
        area: entry.report.location.area,
        cost: entry.report.location.cost,
        slotsTaken: view.slotsTaken,
      });
    }
    return out;
  }

  /** Every server that reported since this reception started, as the status views show it. */
  status(): StatusSnapshot {
    return { at: this.#clock.now(), servers: this.list().map(statusOf) };
  }

  #view(serverId: string, entry: Entry): ServerView {
    const ageMs = Math.max(0, this.#clock.now() - entry.receivedAt);
    const r = entry.report;
    const counted = Math.max(0, r.slotsTaken + entry.recentNotices.length - entry.recentReleases.size);
    const slotsTaken = entry.fullSinceReport ? r.capacity : counted;
    const drainedSince = this.#drains.get(serverId) ?? null;
    const health = serverHealth({
      ageMs,
      staleAfterMs: entry.staleAfterMs,
      drainRequested: drainedSince !== null,
      serverDraining: r.draining,
      // fullSinceReport says another reception filled it, not that work is left here.
      slotsTaken: counted,
      activeTransfers: r.activeTransfers,
    });
    return {
      serverId,
      publicUrl: r.publicUrl,
      controlUrl: r.controlUrl,
      report: r,
      receivedAt: entry.receivedAt,
      ageMs,
      live: health !== 'stale',
      staleAfterMs: entry.staleAfterMs,
      health,
      drainedSince,
      eligible: takesNewTickets(health),
      slotsTaken,
    };
  }
}

/**
 * The forecast end of every slot the report shows taken and this reception has not heard end
 * since; a slot counted but not listed (a report lists at most 1,000) stays taken until the
 * next report.
 */
function reportedSlotsFreeAt(entry: Entry): number[] {
  const out: number[] = [];
  for (const [ticketId, freeAt] of entry.slotsFreeAt) if (!entry.recentReleases.has(ticketId)) out.push(freeAt);
  for (let i = entry.slotsFreeAt.size; i < entry.report.slotsTaken; i++) out.push(Infinity);
  return out;
}

function statusOf(s: ServerView): ServerStatus {
  const r = s.report;
  let drain: DrainStatus | null = null;
  if (s.drainedSince !== null) drain = { by: 'operator', since: s.drainedSince, acknowledged: r.draining };
  else if (r.draining) drain = { by: 'server', since: null, acknowledged: true };
  return {
    serverId: s.serverId,
    publicUrl: s.publicUrl,
    health: s.health,
    live: s.live,
    drain,
    location: r.location,
    capacity: r.capacity,
    slotsTaken: r.slotsTaken,
    slotsCounted: s.slotsTaken,
    activeTransfers: r.activeTransfers,
    bytesPerSecond: r.bytesPerSecond,
    memory: { rssBytes: r.memory.rssBytes, heapUsedBytes: r.memory.heapUsedBytes },
    reportAgeMs: s.ageMs,
    reportSeq: r.seq,
    reportIntervalMs: r.intervalMs ?? null,
    staleAfterMs: s.staleAfterMs,
  };
}

import type { Clock } from '../../core/clock.js';
import type { LoadReport } from '../../core/control/messages.js';
import type { Candidate } from '../../core/selection.js';

// The reception's view of its content servers, built from the load reports they push (R2).
// On top of each report it counts the notices it made since that report was sent, so that a
// burst of orders between two reports does not all land on the same "least-loaded" server.

interface Entry {
  report: LoadReport;
  receivedAt: number;
  /** Unix ms of notices this reception made since the report was sent. */
  recentNotices: number[];
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
    const recentNotices = (previous?.recentNotices ?? []).filter((t) => t > report.sentAt);
    this.#servers.set(report.serverId, { report, receivedAt: now, recentNotices });
    return isNew;
  }

  noteNotice(serverId: string): void {
    this.#servers.get(serverId)?.recentNotices.push(this.#clock.now());
  }

  get(serverId: string): ServerView | undefined {
    const entry = this.#servers.get(serverId);
    return entry ? this.#view(serverId, entry) : undefined;
  }

  list(): ServerView[] {
    return [...this.#servers.entries()].map(([id, e]) => this.#view(id, e)).sort((a, b) => a.serverId.localeCompare(b.serverId));
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
        slotsTaken: r.slotsTaken + entry.recentNotices.length,
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

import type { Clock } from '../../core/clock.js';
import type { LoadReport } from '../../core/control/messages.js';
import type { LoadReportBoard, PostedReport, ReportListener } from '../../ports/load-report-board.js';
import type { LostListener, SharedStateCapabilities, Unsubscribe } from '../../ports/shared-state-capabilities.js';

// The load-report board of one process (the embedded topology: the reception posts the
// reports its HTTP control listener receives). Expiry follows the injected clock, checked
// when the board is read, so nothing runs in the background.

interface BoardState {
  readonly reports: Map<string, PostedReport>;
  readonly listeners: Set<ReportListener>;
}

export class MemoryLoadReportBoard implements LoadReportBoard {
  readonly capabilities: SharedStateCapabilities = { crossProcess: false, losesStateOnStoreRestart: false };
  readonly #clock: Clock;
  readonly #state: BoardState;
  readonly #mine = new Set<ReportListener>();
  readonly #onError: (error: unknown) => void;

  constructor(clock: Clock, options: { readonly onError?: (error: unknown) => void } = {}, state?: BoardState) {
    this.#clock = clock;
    this.#state = state ?? { reports: new Map(), listeners: new Set() };
    this.#onError = options.onError ?? ((error) => process.emitWarning(`load report listener failed: ${String(error)}`));
  }

  /** Another handle on the same board, as a second reception in the same process would hold. */
  share(): MemoryLoadReportBoard {
    return new MemoryLoadReportBoard(this.#clock, { onError: this.#onError }, this.#state);
  }

  post(report: LoadReport, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) return Promise.reject(new TypeError('ttlMs must be a positive number'));
    const now = this.#clock.now();
    const current = this.#live(report.serverId, now);
    if (current && current.report.sentAt > report.sentAt) return Promise.resolve(false);
    const posted: PostedReport = { report, postedAt: now, expiresAt: now + ttlMs };
    this.#state.reports.set(report.serverId, posted);
    for (const listener of [...this.#state.listeners]) {
      try {
        listener(posted);
      } catch (error) {
        this.#onError(error);
      }
    }
    return Promise.resolve(true);
  }

  get(serverId: string): Promise<PostedReport | undefined> {
    return Promise.resolve(this.#live(serverId, this.#clock.now()));
  }

  list(): Promise<readonly PostedReport[]> {
    const now = this.#clock.now();
    const out: PostedReport[] = [];
    for (const serverId of [...this.#state.reports.keys()].sort()) {
      const posted = this.#live(serverId, now);
      if (posted) out.push(posted);
    }
    return Promise.resolve(out);
  }

  subscribe(listener: ReportListener): Promise<Unsubscribe> {
    // Wrapped, so the same function subscribed twice is told twice and unsubscribes once.
    const own: ReportListener = (posted) => listener(posted);
    this.#state.listeners.add(own);
    this.#mine.add(own);
    return Promise.resolve(() => {
      this.#state.listeners.delete(own);
      this.#mine.delete(own);
      return Promise.resolve();
    });
  }

  onLost(_listener: LostListener): () => void {
    return () => undefined;
  }

  close(): Promise<void> {
    for (const own of this.#mine) this.#state.listeners.delete(own);
    this.#mine.clear();
    return Promise.resolve();
  }

  #live(serverId: string, now: number): PostedReport | undefined {
    const posted = this.#state.reports.get(serverId);
    if (posted === undefined) return undefined;
    if (posted.expiresAt > now) return posted;
    this.#state.reports.delete(serverId);
    return undefined;
  }
}

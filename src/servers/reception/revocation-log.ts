import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { ConsumedTicketLedger, LedgerEntry } from '../../ports/consumed-ticket-ledger.js';

// The tickets this reception revoked (replaced after their server failed), written to the
// shared ledger and kept here until their windows close, so that when the ledger's store loses
// its data (Redis restarted empty) the reception puts its revocations back, as content servers
// put back the tickets they used up. Without it an old ticket whose server comes back could be
// served again.
//
// In memory: a reception that restarts forgets its revocations; the withdrawal each revocation
// also sends to the old server, and the ticket's short window, still stand (docs/scale-out.md).

/** Revocations are rare (a server failed mid-download); far beyond this, the oldest go first. */
const MAX_ENTRIES = 100_000;

export class RevocationLog {
  readonly #entries = new Map<string, number>();

  add(ticketId: string, forgetAt: number, now: number): void {
    this.#prune(now);
    this.#entries.delete(ticketId);
    this.#entries.set(ticketId, forgetAt);
    while (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  /** Every revocation whose ticket window is still open at `now`. */
  open(now: number): LedgerEntry[] {
    this.#prune(now);
    return [...this.#entries].map(([ticketId, forgetAt]) => ({ ticketId, forgetAt }));
  }

  #prune(now: number): void {
    for (const [ticketId, forgetAt] of this.#entries) if (forgetAt <= now) this.#entries.delete(ticketId);
  }
}

/**
 * Revokes tickets in a shared ledger, remembering them here, and refills the ledger from that
 * memory when its store reports a loss. `stop` ends the watch.
 */
export function sharedRevocations(ledger: ConsumedTicketLedger, clock: Clock, logger: Logger): { revoke: (ticketId: string, forgetAt: number) => Promise<void>; stop: () => void } {
  const log = new RevocationLog();
  const stop = ledger.onLost(() => {
    const entries = log.open(clock.now());
    if (entries.length === 0) return;
    ledger.addAll(entries).then(
      () => logger.info({ tickets: entries.length }, "put this reception's revoked tickets back in the shared ledger after its store lost it"),
      (error: unknown) => logger.warn({ err: error }, 'could not put the revoked tickets back in the shared ledger; their withdrawals and windows still stop them'),
    );
  });
  return {
    revoke(ticketId, forgetAt) {
      log.add(ticketId, forgetAt, clock.now());
      return ledger.addAll([{ ticketId, forgetAt }]);
    },
    stop,
  };
}

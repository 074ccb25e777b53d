import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { Persistence } from '../../ports/persistence.js';

// Ends orders that nobody will end: tickets whose window closed without a completion report
// (the content server crashed, or its report was lost), and orders stuck in `received`
// because a reception died while placing them. No accepted order is left in limbo.

export class Sweeper {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Persistence,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** How long after a ticket's expiry the content server's own report is awaited. */
    private readonly graceMs: number,
  ) {}

  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.sweep(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  async sweep(): Promise<number> {
    let ended = 0;
    try {
      const now = this.clock.now();
      for (const order of await this.db.orders.listStale(now - this.graceMs, 500)) {
        const reason = order.state === 'received' ? 'placement-interrupted' : 'no-completion-report';
        const changed =
          order.state === 'received'
            ? await this.db.orders.markRejected(order.id, reason, now)
            : await this.db.orders.markExpired(order.id, order.ticketId, reason, null, now);
        if (changed) ended++;
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'order sweep failed; retrying next interval');
    }
    return ended;
  }
}

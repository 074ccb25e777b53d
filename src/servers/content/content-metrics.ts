import { Counter, Gauge, type Registry } from 'prom-client';
import type { Completion } from '../../core/control/messages.js';
import type { ProblemCode } from '../../core/errors.js';

// The content server's Prometheus metrics. The hot path only bumps plain numbers in `stats`;
// prom-client reads them at scrape time, so serving a request never hashes a label set.

export interface ContentStats {
  ticketsAccepted: number;
  bytesServed: number;
  activeTransfers: number;
}

export interface ContentMetrics {
  readonly stats: ContentStats;
  refused(reason: ProblemCode): void;
  completed(outcome: Completion['outcome']): void;
}

export function createContentMetrics(registry: Registry, slotsTaken: () => number): ContentMetrics {
  const stats: ContentStats = { ticketsAccepted: 0, bytesServed: 0, activeTransfers: 0 };
  const refusedTotal = new Counter({
    name: 'tickets_refused_total',
    help: 'Requests under a ticket refused, by problem code',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Counter({
    name: 'tickets_accepted_total',
    help: 'GET requests under a ticket that passed every check',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.ticketsAccepted);
    },
  });
  new Counter({
    name: 'bytes_served_total',
    help: 'Content bytes flushed to clients',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.bytesServed);
    },
  });
  new Gauge({
    name: 'active_transfers',
    help: 'Responses currently sending content',
    registers: [registry],
    collect() {
      this.set(stats.activeTransfers);
    },
  });
  new Gauge({
    name: 'slots_taken',
    help: 'Slots held by a notice or in use',
    registers: [registry],
    collect() {
      this.set(slotsTaken());
    },
  });
  const completionsTotal = new Counter({
    name: 'completions_total',
    help: 'Tickets ended, by outcome (completed: consumed; expired: window closed first)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const completedChild = completionsTotal.labels('completed');
  const expiredChild = completionsTotal.labels('expired');
  return {
    stats,
    refused: (reason) => refusedTotal.labels(reason).inc(),
    completed: (outcome) => (outcome === 'completed' ? completedChild : expiredChild).inc(),
  };
}

import { Counter, Gauge, type Registry } from 'prom-client';
import type { Completion } from '../../core/control/messages.js';
import type { ProblemCode } from '../../core/errors.js';

// The content server's Prometheus metrics. The hot path only bumps plain numbers in `stats`;
// prom-client reads them at scrape time, so serving a request never hashes a label set. (Even a
// cached labelled child does: prom-client's child.inc() hashes its labels on every call, about
// 1.5 µs, once per completion and per refusal.)

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
  const refusedCounts = new Map<ProblemCode, number>();
  new Counter({
    name: 'tickets_refused_total',
    help: 'Requests under a ticket refused, by problem code',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of refusedCounts) this.labels(reason).inc(count);
    },
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
  const completions = { completed: 0, expired: 0 };
  new Counter({
    name: 'completions_total',
    help: 'Tickets ended, by outcome (completed: consumed; expired: window closed first)',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.labels('completed').inc(completions.completed);
      this.labels('expired').inc(completions.expired);
    },
  });
  return {
    stats,
    refused: (reason) => refusedCounts.set(reason, (refusedCounts.get(reason) ?? 0) + 1),
    completed: (outcome) => completions[outcome]++,
  };
}

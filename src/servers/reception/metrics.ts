import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ReceptionMetrics {
  readonly orders: Counter<'outcome'>;
  readonly ticketsIssued: Counter<'server'>;
  readonly noticesRefused: Counter<'server' | 'reason'>;
  readonly completions: Counter<'outcome'>;
  readonly placementSeconds: Histogram;
  readonly liveServers: Gauge;
  readonly lineLength: Gauge;
  readonly admissionsFromLine: Counter;
  readonly rateLimited: Counter;
}

export function createReceptionMetrics(registry: Registry): ReceptionMetrics {
  return {
    orders: new Counter({ name: 'tessera_orders_total', help: 'Orders placed, by outcome', labelNames: ['outcome'], registers: [registry] }),
    ticketsIssued: new Counter({ name: 'tessera_tickets_issued_total', help: 'Permission tickets issued, by content server', labelNames: ['server'], registers: [registry] }),
    noticesRefused: new Counter({
      name: 'tessera_notices_refused_total',
      help: 'Notices of issuance a content server refused, by reason',
      labelNames: ['server', 'reason'],
      registers: [registry],
    }),
    completions: new Counter({ name: 'tessera_order_completions_total', help: 'Orders ended by a content server report', labelNames: ['outcome'], registers: [registry] }),
    placementSeconds: new Histogram({
      name: 'tessera_order_placement_seconds',
      help: 'Time to place an order and answer with a ticket',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    liveServers: new Gauge({ name: 'tessera_live_content_servers', help: 'Content servers reporting in time', registers: [registry] }),
    lineLength: new Gauge({ name: 'tessera_waiting_line_length', help: 'Clients waiting in line', registers: [registry] }),
    admissionsFromLine: new Counter({ name: 'tessera_line_admissions_total', help: 'Orders admitted from the waiting line', registers: [registry] }),
    rateLimited: new Counter({ name: 'tessera_orders_rate_limited_total', help: 'New orders refused by the per-address rate limit', registers: [registry] }),
  };
}

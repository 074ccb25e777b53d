// What the reception makes of a content server's load reports (R2): whether it is reporting in
// time, and whether it may get new tickets. One definition, shared by the selection's input
// (ServerRegistry.candidates), the waiting line's forecasts, `tessera status` and the status
// page, so they can never disagree about a server. Pure: the caller supplies the time.

/**
 * - healthy: reporting in time and taking new tickets.
 * - draining: reporting, gets no new tickets (drained by the operator, or the server is
 *   stopping), and still has transfers or held slots to finish.
 * - drained: the same, with nothing left: it can be stopped without cutting anyone off.
 * - stale: no report for longer than its bound; it gets no new tickets until it reports again.
 */
export type ServerHealth = 'healthy' | 'draining' | 'drained' | 'stale';

export const SERVER_HEALTHS: readonly ServerHealth[] = ['healthy', 'draining', 'drained', 'stale'];

/** How long a server may stay silent before it is stale. */
export interface StalenessPolicy {
  /** Missed report intervals after which a server is stale. */
  readonly missedReports: number;
  /** Never stale sooner than this, however short the interval: a busy reception or server is late now and then. */
  readonly minStaleMs: number;
  /** Always stale after this, however long the interval the server announced. */
  readonly maxStaleMs: number;
}

/** A server announcing `intervalMs` (undefined: it did not say) is stale after this much silence. */
export function staleAfterMs(intervalMs: number | undefined, policy: StalenessPolicy): number {
  if (intervalMs === undefined || !Number.isFinite(intervalMs) || intervalMs <= 0) return policy.maxStaleMs;
  return Math.min(policy.maxStaleMs, Math.max(policy.minStaleMs, policy.missedReports * intervalMs));
}

export interface HealthInputs {
  /** Time since the last report arrived. */
  readonly ageMs: number;
  readonly staleAfterMs: number;
  /** The operator drained it (`tessera drain`). */
  readonly drainRequested: boolean;
  /** Its last report said it takes no new notices (stopping, or it applied the operator's drain). */
  readonly serverDraining: boolean;
  /** Slots taken (held or in use) per the last report plus notices made since. */
  readonly slotsTaken: number;
  readonly activeTransfers: number;
}

export function serverHealth(s: HealthInputs): ServerHealth {
  if (s.ageMs > s.staleAfterMs) return 'stale';
  if (!s.drainRequested && !s.serverDraining) return 'healthy';
  return s.slotsTaken > 0 || s.activeTransfers > 0 ? 'draining' : 'drained';
}

/** Whether a server in this health may be offered new tickets. */
export function takesNewTickets(health: ServerHealth): boolean {
  return health === 'healthy';
}

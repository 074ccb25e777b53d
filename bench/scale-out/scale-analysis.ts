// The scale-out load test's arithmetic, kept pure so a test can check it: latency percentiles,
// the accounting of every order the client was told was accepted, and CPU shares from /proc
// tick counts.

/** What the load generator saw for one order placement. */
export interface Placement {
  /** HTTP status of POST /orders; 0 when no answer came (connection error, timeout). */
  readonly status: number;
  /** From sending the request to the end of the answer's body, ms. */
  readonly latencyMs: number;
  /** The order's ID when the answer carried one (201, or a 503 with a place in line). */
  readonly orderId: string | undefined;
  /** The download that followed a 201: undefined when there was none. */
  readonly download: DownloadOutcome | undefined;
  /** What went wrong, for an error: the problem code, or the network error. */
  readonly error: string | undefined;
  /** The first answer was busy (503 with a place in line) and the client came back until admitted. */
  readonly waited: boolean;
}

export interface DownloadOutcome {
  readonly status: number;
  readonly bytes: number;
  readonly ms: number;
  /** Length and SHA-256 match the catalogue's. */
  readonly intact: boolean;
}

/**
 * The p-th percentile by the nearest-rank method: the smallest value with at least p % of the
 * values at or below it. NaN for no values. `sorted` must be ascending.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function summarizeLatencies(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((s, v) => s + v, 0);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
  };
}

export interface PlacementTally {
  /** 201: a ticket. */
  readonly accepted: number;
  /** Orders whose first answer was busy (a place in line) and that were admitted on coming back: not errors, but the load was meant to stay below capacity. */
  readonly waitedInLine: number;
  /** Anything else: a non-201/503 status, no answer, or a download that failed or was not intact. */
  readonly errors: number;
  readonly downloads: number;
  readonly downloadBytes: number;
  /** Up to eight error descriptions with their counts, most frequent first. */
  readonly errorKinds: readonly { readonly kind: string; readonly count: number }[];
}

export function tallyPlacements(placements: readonly Placement[]): PlacementTally {
  let accepted = 0;
  let waitedInLine = 0;
  let errors = 0;
  let downloads = 0;
  let downloadBytes = 0;
  const kinds = new Map<string, number>();
  const error = (kind: string): void => {
    errors++;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  };
  for (const p of placements) {
    if (p.status === 201) {
      accepted++;
      if (p.waited) waitedInLine++;
      const d = p.download;
      if (d === undefined) error('201 without a download');
      else {
        downloads++;
        downloadBytes += d.bytes;
        if (d.status !== 200 || !d.intact) error(`download ${d.status}${d.intact ? '' : ' not intact'}`);
      }
    } else error(p.status === 0 ? `no answer: ${p.error ?? '?'}` : `${p.status} ${p.error ?? ''}`.trim());
  }
  const errorKinds = [...kinds.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([kind, count]) => ({ kind, count }));
  return { accepted, waitedInLine, errors, downloads, downloadBytes, errorKinds };
}

/** An order as the database holds it after the run. */
export interface OrderRow {
  readonly id: string;
  readonly state: string;
}

export interface OrderAccounting {
  /** Orders the client got a 201 for. */
  readonly accepted: number;
  /** ... of which the database has no trace: must be 0. */
  readonly lost: number;
  /** ... of which the database holds them in a state other than `completed`: must be 0. */
  readonly notCompleted: number;
  /** The states of those not completed, by state. */
  readonly notCompletedByState: Readonly<Record<string, number>>;
  /** Orders in the database the client never got a 201 for (no answer, busy, warm-up excluded). */
  readonly unacknowledged: number;
  /** Up to five IDs of lost or not-completed orders, for a look in the logs. */
  readonly examples: readonly string[];
}

/**
 * Every order the client was told was accepted must be in the database and end completed
 * (the "lost orders must be 0"). Orders the database has beyond those are reported, not
 * counted as lost: a request whose answer never arrived may still have created one.
 */
export function accountOrders(acceptedIds: readonly string[], rows: readonly OrderRow[]): OrderAccounting {
  const byId = new Map(rows.map((r) => [r.id, r.state]));
  const accepted = new Set(acceptedIds);
  let lost = 0;
  let notCompleted = 0;
  const notCompletedByState: Record<string, number> = {};
  const examples: string[] = [];
  for (const id of accepted) {
    const state = byId.get(id);
    if (state === undefined) {
      lost++;
      if (examples.length < 5) examples.push(id);
    } else if (state !== 'completed') {
      notCompleted++;
      notCompletedByState[state] = (notCompletedByState[state] ?? 0) + 1;
      if (examples.length < 5) examples.push(id);
    }
  }
  let unacknowledged = 0;
  for (const r of rows) if (!accepted.has(r.id)) unacknowledged++;
  return { accepted: accepted.size, lost, notCompleted, notCompletedByState, unacknowledged, examples };
}

/** CPU ticks of one process (or a group of them) at the start and the end of the window. */
export interface TickSpan {
  readonly name: string;
  readonly before: number;
  readonly after: number;
}

export interface CpuUse {
  readonly name: string;
  /** Average cores used over the window (1.0 = one core busy the whole time). */
  readonly cores: number;
}

export function cpuUse(spans: readonly TickSpan[], ticksPerSecond: number, wallSeconds: number): CpuUse[] {
  if (!(ticksPerSecond > 0 && wallSeconds > 0)) throw new RangeError('ticks per second and wall time must be positive');
  return spans.map((s) => ({ name: s.name, cores: Math.max(0, s.after - s.before) / ticksPerSecond / wallSeconds }));
}

/**
 * Whom a reception's socket or pipe write (writev, writeUtf8String) was for, from the sample's
 * stack (innermost frame first, "functionName url"): the nearest library on the stack decides.
 */
export function receptionWriteCaller(stack: readonly string[]): string {
  for (const frame of stack) {
    if (/\/node_modules\/(pg|pg-protocol|pg-pool)\//.test(frame)) return 'PostgreSQL queries (pg)';
    if (/\/node_modules\/(ioredis|redis-parser)\//.test(frame)) return 'Redis commands (ioredis)';
    if (/\/node_modules\/(pino|sonic-boom|thread-stream)\//.test(frame)) return 'log lines (pino)';
    if (/node:_http_client|node:internal\/deps\/undici/.test(frame)) return 'HTTP requests it sends (notices to content servers)';
    if (/node:_http_server|\/node_modules\/fastify\//.test(frame)) return 'HTTP answers to its clients';
  }
  return 'other';
}

// What one simulated run is made of. The numbers that define the published scenarios are in
// scenarios.ts with the reasons for them; this file only says what each one means.

const MiB = 1024 * 1024;
export { MiB };

export interface ServerSpec {
  readonly id: string;
  readonly area: string;
  /** Slots (TESSERA_CAPACITY): tickets served at once, held from the notice to the last byte. */
  readonly slots: number;
  /** Most one ticket's transfer may take, bytes/s (TESSERA_TRANSFER_RATE_BPS). */
  readonly perTransferBps: number;
  /** The server's uplink, bytes/s, shared max-min fairly by its transfers. */
  readonly uplinkBps: number;
}

export type Workload =
  /** `clients` orders arriving evenly spread within `withinS` seconds. */
  | { readonly kind: 'flash'; readonly clients: number; readonly withinS: number }
  /**
   * Poisson arrivals at `load` × the fleet's nominal throughput for `durationS` seconds; the
   * first `warmupS` are left out of the figures (the fleet starts empty).
   */
  | { readonly kind: 'steady'; readonly load: number; readonly durationS: number; readonly warmupS: number };

export interface AreaShare {
  readonly area: string;
  /** Share of clients in this area. */
  readonly share: number;
}

export interface Scenario {
  readonly fleet: readonly ServerSpec[];
  readonly workload: Workload;
  /** Receptions behind a load balancer that sends each order (and each retry) to one of them at random. */
  readonly receptions: number;
  /** Every content server reports its slots taken this often, each at its own phase. */
  readonly reportIntervalS: number;
  /**
   * Also report soon after a slot is taken or freed, at most once per this many seconds, as the
   * content server does by default (TESSERA_REPORT_ON_CHANGE, 50 ms); absent: on the interval only.
   */
  readonly reportOnChangeGapS?: number;
  /** Item sizes, drawn log-uniformly between these, bytes. */
  readonly itemBytes: readonly [number, number];
  /** Clients' downlinks, drawn log-uniformly between these, bytes/s. */
  readonly clientDownlinkBps: readonly [number, number];
  readonly clientAreas: readonly AreaShare[];
  /** Where the receptions are (the cost of a server for an order with no area known). */
  readonly receptionArea: string;
  /** Round trip, seconds, between two areas (the same for a client and a server as for a reception). */
  rttS(from: string, to: string): number;
  /** Round trip of a notice on the control channel, seconds. */
  readonly controlRttS: number;
  /** A refused client comes back after a delay drawn uniformly between these, seconds. */
  readonly retryDelayS: readonly [number, number];
  /** From the last byte to the slot's release (the client's delayed ACK), seconds. */
  readonly releaseDelayS: number;
  /** From a slot's release to the issuing reception hearing of it (batched completions), seconds. */
  readonly completionLagS: number;
  /** Equal-load band of the default policy. */
  readonly equalLoadBand: number;
}

/** What the reception must be told so that reports `intervalS` apart do not mark a live server dead. */
export function staleAfterS(intervalS: number): number {
  return Math.max(1, 2.5 * intervalS);
}

/** Mean of a log-uniform distribution on [a, b]. */
export function logUniformMean([a, b]: readonly [number, number]): number {
  return a === b ? a : (b - a) / Math.log(b / a);
}

/** Mean of min(X, cap) for X log-uniform on [a, b]. */
export function logUniformMeanCapped([a, b]: readonly [number, number], cap: number): number {
  if (cap >= b) return logUniformMean([a, b]);
  if (cap <= a) return cap;
  const ln = Math.log(b / a);
  // ∫_a^cap x · 1/(x ln) dx + cap · P(X > cap)
  return (cap - a) / ln + cap * (Math.log(b / cap) / ln);
}

/**
 * Bytes/s the fleet can send when every slot is used: each server gives the lesser of its uplink
 * and its slots × the mean rate one transfer gets (its throttle or the client's downlink).
 */
export function nominalThroughputBps(s: Pick<Scenario, 'fleet' | 'clientDownlinkBps'>): number {
  return s.fleet.reduce(
    (sum, server) => sum + Math.min(server.uplinkBps, server.slots * logUniformMeanCapped(s.clientDownlinkBps, server.perTransferBps)),
    0,
  );
}

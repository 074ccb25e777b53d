import { setMaxListeners } from 'node:events';
import { loadavg } from 'node:os';
import { ReceptionClient } from '../../../src/client/reception-client.js';
import type { ClientSpec } from '../sim/clients.js';
import { quantile } from '../sim/quantile.js';
import type { ServerSpec, Workload } from '../sim/scenario.js';
import { runClient, type ClientOutcome } from './live-client.js';

// One live cell: the clients of a workload arrive at their times (from the same list the
// simulator replays), each orders and downloads; then the figures the simulator gives, from
// what the clients saw and the receptions' own counters.

export interface LiveFigures {
  readonly orders: number;
  /** Orders that did not end with every byte, or not within the cell's time limit. */
  readonly failed: number;
  readonly p50S: number;
  readonly p99S: number;
  readonly maxUtilisation: number;
  readonly meanUtilisation: number;
  /** Busy answers clients got (503 all-servers-busy, or another "come back"). */
  readonly refusals: number;
  /** Orders a client placed again after a 500 (two receptions admitting the same order). */
  readonly restarts: number;
  /** Notices refused by content servers (the reception then tried the next server). */
  readonly noticesRefused: number;
  readonly servers: readonly { readonly id: string; readonly served: number; readonly utilisation: number }[];
  /**
   * The measured orders at or beyond the p99, slowest first: what sets the tail. Absent from
   * results recorded before it was kept.
   */
  readonly slowest?: readonly SlowOrder[];
  /** One-minute load average of the machine when the cell ended. */
  readonly loadAverage: number;
  readonly wallS: number;
  readonly errors: readonly string[];
}

/** One order in the tail: where it went, what it fetched, and where its time went. */
export interface SlowOrder {
  readonly serverId: string;
  readonly bytes: number;
  readonly busyAnswers: number;
  /** From arrival to ticket (waiting, come-backs included), and from ticket to last byte. */
  readonly waitS: number;
  readonly transferS: number;
}

/** How long a slot stays taken after the last byte (the same figure the simulator uses). */
const RELEASE_S = 0.04;

export async function runLiveCell(options: {
  readonly receptionUrl: string;
  readonly metricsUrls: readonly string[];
  readonly fleet: readonly ServerSpec[];
  readonly workload: Workload;
  readonly clients: readonly ClientSpec[];
  readonly contentIdOf: (bytes: number) => string;
  readonly limitS: number;
}): Promise<LiveFigures> {
  const { fleet, workload, clients } = options;
  const reception = new ReceptionClient({ baseUrl: options.receptionUrl, userAgent: 'tessera-selection-live' });
  const before = await noticesRefused(options.metricsUrls);
  const abort = new AbortController();
  // Every client listens to it.
  setMaxListeners(Infinity, abort.signal);
  const limit = setTimeout(() => abort.abort(new Error('cell time limit')), options.limitS * 1000);
  const t0 = performance.now();
  const outcomes = await Promise.all(
    clients.map(
      (spec) =>
        new Promise<ClientOutcome>((resolve) => {
          setTimeout(() => resolve(runClient(reception, options.contentIdOf, spec, t0, abort.signal)), spec.arriveS * 1000);
        }),
    ),
  );
  clearTimeout(limit);
  const wallS = (performance.now() - t0) / 1000;
  const after = await noticesRefused(options.metricsUrls);

  const measured = outcomes.filter((o) => o.spec.measured);
  const ok = measured.filter((o) => o.error === undefined && Number.isFinite(o.doneS));
  // An order that never finished counts as slower than any that did.
  const times = measured.map((o) => (o.error === undefined && Number.isFinite(o.doneS) ? o.doneS - o.arriveS : Infinity)).sort((a, b) => a - b);
  const lastDone = Math.max(...outcomes.filter((o) => Number.isFinite(o.doneS)).map((o) => o.doneS));
  const [w0, w1] = workload.kind === 'steady' ? [workload.warmupS, workload.durationS] : [0, Infinity];
  const span = Math.min(w1, lastDone) - w0;
  const figures = fleet.map((s) => {
    let slotSeconds = 0;
    for (const o of outcomes) {
      if (o.serverId !== s.id || !Number.isFinite(o.ticketS)) continue;
      const end = Number.isFinite(o.doneS) ? o.doneS + RELEASE_S : wallS;
      slotSeconds += Math.max(0, Math.min(end, w1) - Math.max(o.ticketS, w0));
    }
    return { id: s.id, served: ok.filter((o) => o.serverId === s.id).length, utilisation: slotSeconds / (s.slots * span) };
  });
  const tail = Math.max(1, measured.length - Math.ceil((measured.length - 1) * 0.99));
  const slowest = ok
    .map((o) => ({ serverId: o.serverId, bytes: o.spec.bytes, busyAnswers: o.busyAnswers, waitS: o.ticketS - o.arriveS, transferS: o.doneS - o.ticketS }))
    .sort((a, b) => b.waitS + b.transferS - (a.waitS + a.transferS))
    .slice(0, tail);
  const errors = [...new Set(measured.filter((o) => o.error !== undefined).map((o) => o.error as string))].slice(0, 5);
  return {
    orders: measured.length,
    failed: measured.length - ok.length,
    p50S: quantileOrInfinity(times, 0.5),
    p99S: quantileOrInfinity(times, 0.99),
    maxUtilisation: Math.max(...figures.map((f) => f.utilisation)),
    meanUtilisation: figures.reduce((a, f) => a + f.utilisation, 0) / figures.length,
    refusals: measured.reduce((a, o) => a + o.busyAnswers, 0),
    restarts: outcomes.reduce((a, o) => a + o.restarts, 0),
    noticesRefused: after - before,
    servers: figures,
    slowest,
    loadAverage: loadavg()[0] ?? NaN,
    wallS,
    errors,
  };
}

/** As quantile, but Infinity (not NaN) when the neighbours it would read include an unfinished order. */
function quantileOrInfinity(sorted: readonly number[], q: number): number {
  const hi = sorted[Math.ceil((sorted.length - 1) * q)];
  return hi === Infinity ? Infinity : quantile(sorted, q);
}

/** Notices refused so far, summed over the receptions (Prometheus text from /metrics). */
async function noticesRefused(urls: readonly string[]): Promise<number> {
  let sum = 0;
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith('tessera_notices_refused_total')) continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(value)) sum += value;
    }
  }
  return sum;
}

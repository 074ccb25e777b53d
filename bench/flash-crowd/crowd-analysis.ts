import { recentOutflowPerS } from '../../src/core/queue/recent-outflow.js';
import type { ClientRecord, CrowdResult } from './crowd-types.js';
import { ascending, inversions, mean, quantile, relativeError, signedError, spearman } from './crowd-stats.js';
import type { Admission, CpuSample, SlotSample } from './system-sampler.js';
import type { TcpCounters } from './tcp-counters.js';

// From what one run recorded (the clients' own logs, the reception's database, the samples of
// the content servers' slot tables) to the figures of the report. Pure: no I/O, no clock.

export type SystemName = 'line' | 'plain';

export interface OrderRow {
  readonly id: string;
  readonly state: string;
  readonly reason: string | null;
  readonly queueSeq: number | null;
}

export interface SystemRun {
  readonly name: SystemName;
  readonly crowd: CrowdResult;
  /** Admission time of every order seen ticketed, from the reception's database. */
  readonly admissions: ReadonlyMap<string, Admission>;
  /** The clients' orders, from the database after the run. */
  readonly orders: ReadonlyMap<string, OrderRow>;
  /** Orders by final state (and reason), all of them, the refused included. */
  readonly orderCounts: Readonly<Record<string, number>>;
  readonly slots: readonly SlotSample[];
  readonly cpu: readonly CpuSample[];
  readonly samplerSkipped: number;
  readonly transferRateBps: number;
  readonly capacity: number;
  readonly busyBeforeCores: number;
  /** Kernel listen-queue counters over the crowd's run (whole machine). */
  readonly tcp: TcpCounters | undefined;
  /** Where the reception's CPU went (--profile), Markdown. */
  readonly profile: string | undefined;
}

export interface ErrorStats {
  readonly n: number;
  readonly median: number;
  readonly p90: number;
  /** Median of (predicted − actual) ÷ actual: positive when predictions were too long. */
  readonly bias: number;
  /** Answers without this estimate (null), left out of n. */
  readonly missing: number;
}

export interface EstimatePoint {
  readonly actualS: number;
  readonly oursS: number;
  readonly baselineS: number | null;
  readonly position: number | null;
}

export interface BandRow {
  readonly label: string;
  readonly n: number;
  readonly ours: ErrorStats;
  readonly baseline: ErrorStats;
}

export interface EstimateAnalysis {
  readonly waited: number;
  readonly first: { readonly ours: ErrorStats; readonly baseline: ErrorStats; readonly recomputed: ErrorStats };
  readonly all: { readonly ours: ErrorStats; readonly baseline: ErrorStats; readonly recomputed: ErrorStats };
  readonly bands: readonly BandRow[];
  readonly firstPoints: readonly EstimatePoint[];
  readonly allPoints: readonly EstimatePoint[];
  /** Answers that arrived after the reception had already admitted the order (left out). */
  readonly afterAdmission: number;
  /** Admissions per second from the line, first to last. */
  readonly measuredOutflow: number;
  /** What an uncalibrated replay of the line assumes: slots ÷ (mean transfer time of those in line + a fixed 50 ms start-up). */
  readonly assumedOutflow: number;
}

export interface Utilisation {
  readonly samples: number;
  /** Means over the samples, as shares of capacity. */
  readonly active: number;
  readonly taken: number;
  readonly held: number;
  readonly idle: number;
  readonly free: number;
}

export interface Spread {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly max: number;
}

export interface SystemAnalysis {
  readonly name: SystemName;
  readonly clients: number;
  readonly capacity: number;
  readonly served: number;
  readonly failed: number;
  readonly errors: readonly string[];
  readonly arrivalSpanS: number;
  readonly allAdmittedS: number;
  readonly allServedS: number;
  /** Every slot busy from the first arrival, no gap between transfers: the least possible. */
  readonly idealS: number;
  /** Arrival → ticket in hand (the 201), seconds. */
  readonly wait: Spread;
  /** Arrival → the first answer of any kind, seconds: how fast the reception takes a new order. */
  readonly firstAnswer: Spread;
  /** Clients whose first order never got an answer (timeout or reset). */
  readonly unanswered: number;
  readonly requests: { readonly total: number; readonly perClient: number; readonly max: number; readonly perSecond: number };
  readonly statuses: Readonly<Record<string, number>>;
  readonly fairness: {
    readonly spearman: number;
    readonly clientPairs: number;
    readonly clientPairsBeyond100ms: number;
    /** Line only: pairs admitted against the line's own arrival numbers. */
    readonly queuePairs: number | null;
    /** Line only: Spearman ρ of the clients' arrival times and the arrival numbers the line gave them. */
    readonly queueVsArrival: number | null;
    readonly fromLine: number;
    readonly lapsed: number;
  };
  readonly utilisationWhileLine: Utilisation | null;
  readonly utilisationWhileWaiting: Utilisation;
  readonly estimates: EstimateAnalysis | null;
  /** The reception's admission → the client's 201, seconds (a client away when its turn came, or a slow answer). */
  readonly admissionToTicket: Spread;
  /** Clients whose 201 came more than AWAY_MS after their admission. */
  readonly awayAtAdmission: number;
  readonly admissionTimesFromDatabase: number;
  /** 201 → first byte, seconds. */
  readonly ticketToFirstByte: Spread;
  readonly admissionTimesFromClient: number;
  readonly cpu: { readonly receptionMean: number; readonly receptionMax: number; readonly contentMean: number; readonly crowdMean: number; readonly machineBusyMean: number; readonly otherMean: number };
  /** Busy cores on the machine just before the run (other people's work). */
  readonly busyBeforeCores: number;
  readonly tcp: TcpCounters | undefined;
  readonly profile: string | undefined;
  readonly loopDelayMs: CrowdResult['loopDelayMs'];
  readonly samplerSkipped: number;
  readonly orderCounts: Readonly<Record<string, number>>;
}

const BANDS: readonly [string, number, number][] = [
  ['1–12 (next up)', 1, 12],
  ['13–100', 13, 100],
  ['101–500', 101, 500],
  ['501–1000', 501, 1000],
  ['over 1000', 1001, Infinity],
];

const AWAY_MS = 500;
/**
 * The fixed start-up the replay of the line used to add to every transfer (STARTUP_MS, before
 * the reception learnt the slot overhead from its own admissions: src/core/queue/slot-overhead.ts;
 * it is now only the prior, until the first measurement).
 */
const ESTIMATE_STARTUP_S = 0.05;

function spread(values: readonly number[]): Spread {
  const s = ascending(values);
  return { n: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9), max: s.length > 0 ? (s[s.length - 1] as number) : Number.NaN };
}

/** A prediction (null when none was given) and what happened, in seconds. */
interface Pair {
  readonly predictedS: number | null;
  readonly actualS: number;
}

function errorStats(pairs: readonly Pair[]): ErrorStats {
  const given = pairs.filter((p): p is { predictedS: number; actualS: number } => p.predictedS !== null && Number.isFinite(p.predictedS));
  const errors = ascending(given.map((p) => relativeError(p.predictedS, p.actualS)));
  const signed = ascending(given.map((p) => signedError(p.predictedS, p.actualS)));
  return { n: given.length, median: quantile(errors, 0.5), p90: quantile(errors, 0.9), bias: quantile(signed, 0.5), missing: pairs.length - given.length };
}

/**
 * position ÷ outflow (seconds), recomputed from the admissions in the reception's database with
 * the reception's own function: admissions from the line over the last 30 s, or since the
 * line's first admission when that is shorter. Reception builds before that function divided by
 * 30 s from the first admission on, which made their early figures far too long.
 */
function recomputedBaseline(lineAdmissions: readonly number[], at: number, position: number | null): number | null {
  const first = lineAdmissions[0];
  if (position === null || first === undefined) return null;
  const outflow = recentOutflowPerS(lineAdmissions, first, at);
  return outflow === undefined ? null : position / outflow;
}

function utilisation(samples: readonly SlotSample[]): Utilisation {
  const share = (pick: (s: SlotSample) => number): number => mean(samples.map((s) => (s.capacity > 0 ? pick(s) / s.capacity : 0)));
  return {
    samples: samples.length,
    active: share((s) => s.active),
    taken: share((s) => s.taken),
    held: share((s) => s.held),
    idle: share((s) => s.idle),
    free: share((s) => s.capacity - s.taken),
  };
}

export function analyseRun(run: SystemRun): SystemAnalysis {
  const records = run.crowd.records;
  let fromClient = 0;
  /** The reception's admission time of a client's order, or its 201 when the database missed it. */
  const admittedAt = (r: ClientRecord): number | null => {
    const seen = r.orderId === null ? undefined : run.admissions.get(r.orderId);
    if (seen) return seen.at;
    if (r.admittedAt !== null) fromClient++;
    return r.admittedAt;
  };
  const admission = new Map(records.map((r) => [r.index, admittedAt(r)]));
  const arrived = records.filter((r): r is ClientRecord & { arrivedAt: number } => r.arrivedAt !== null);
  const firstArrival = Math.min(...arrived.map((r) => r.arrivedAt));
  const lastArrival = Math.max(...arrived.map((r) => r.arrivedAt));
  const served = records.filter((r) => r.downloadEndAt !== null && r.error === null);
  const admittedList = records.map((r) => admission.get(r.index)).filter((t): t is number => t !== null && t !== undefined);
  const errors = [...new Set(records.map((r) => r.error).filter((e): e is string => e !== null))].slice(0, 5);

  const totalWorkS = records.reduce((a, r) => a + r.size / run.transferRateBps, 0);
  const requests = records.map((r) => r.requests);
  const runSpanS = (Math.max(...served.map((r) => r.downloadEndAt as number), lastArrival) - firstArrival) / 1000;

  // Fairness: the crowd's arrival order against the order of admission.
  const both = arrived.filter((r) => admission.get(r.index) != null);
  const pairsOf = (gapMs: number): number =>
    inversions(
      both.map((r) => ({ order: r.arrivedAt, at: admission.get(r.index) as number })),
      gapMs,
    );
  let queuePairs: number | null = null;
  const lineAdmitted = [...run.admissions.values()].filter((a) => a.queueSeq !== null);
  if (run.name === 'line') queuePairs = inversions(lineAdmitted.map((a) => ({ order: a.queueSeq as number, at: a.at })));
  const queueVsArrival = (): number | null => {
    if (run.name !== 'line') return null;
    const pairs = arrived
      .map((r) => ({ at: r.arrivedAt, seq: r.orderId === null ? null : (run.orders.get(r.orderId)?.queueSeq ?? null) }))
      .filter((p): p is { at: number; seq: number } => p.seq !== null);
    return spearman(
      pairs.map((p) => p.at),
      pairs.map((p) => p.seq),
    );
  };
  const lapsed = [...run.orders.values()].filter((o) => o.state === 'expired' && o.reason === 'left-the-line').length;

  // Utilisation: while the reception's line is not empty, and while any client that has
  // arrived is not yet admitted (which also means something for the plain 503).
  const waitingAt = (t: number): boolean =>
    arrived.some((r) => {
      const a = admission.get(r.index);
      return r.arrivedAt <= t && (a === null || a === undefined || a > t);
    });
  const whileWaiting = run.slots.filter((s) => waitingAt(s.at));
  const whileLine = run.name === 'line' ? run.slots.filter((s) => (s.line ?? 0) > 0) : [];

  // The estimates, against the reception's admission of the same order.
  let estimates: EstimateAnalysis | null = null;
  if (run.name === 'line') {
    const lineTimes = lineAdmitted.map((a) => a.at).sort((a, b) => a - b);
    const firstPoints: EstimatePoint[] = [];
    const allPoints: EstimatePoint[] = [];
    const firstPairs = { ours: [] as Pair[], baseline: [] as Pair[], recomputed: [] as Pair[] };
    const allPairs = { ours: [] as Pair[], baseline: [] as Pair[], recomputed: [] as Pair[] };
    const bandPairs = BANDS.map(() => ({ ours: [] as Pair[], baseline: [] as Pair[] }));
    let afterAdmission = 0;
    let waited = 0;
    for (const r of records) {
      const t = admission.get(r.index);
      if (r.answers.length === 0 || t === null || t === undefined) continue;
      waited++;
      let first = true;
      for (const answer of r.answers) {
        if (answer.estimatedWaitS === null) continue;
        const actualS = (t - answer.at) / 1000;
        if (actualS < 0) {
          afterAdmission++;
          continue;
        }
        const recomputedS = recomputedBaseline(lineTimes, answer.at, answer.position);
        const point: EstimatePoint = { actualS, oursS: answer.estimatedWaitS, baselineS: answer.baselineS, position: answer.position };
        allPoints.push(point);
        allPairs.ours.push({ predictedS: answer.estimatedWaitS, actualS });
        allPairs.baseline.push({ predictedS: answer.baselineS, actualS });
        allPairs.recomputed.push({ predictedS: recomputedS, actualS });
        if (first) {
          first = false;
          firstPoints.push(point);
          firstPairs.ours.push({ predictedS: answer.estimatedWaitS, actualS });
          firstPairs.baseline.push({ predictedS: answer.baselineS, actualS });
          firstPairs.recomputed.push({ predictedS: recomputedS, actualS });
          const band = BANDS.findIndex(([, lo, hi]) => (answer.position ?? 0) >= lo && (answer.position ?? 0) <= hi);
          if (band >= 0) {
            bandPairs[band]?.ours.push({ predictedS: answer.estimatedWaitS, actualS });
            bandPairs[band]?.baseline.push({ predictedS: answer.baselineS, actualS });
          }
        }
      }
    }
    estimates = {
      waited,
      first: { ours: errorStats(firstPairs.ours), baseline: errorStats(firstPairs.baseline), recomputed: errorStats(firstPairs.recomputed) },
      all: { ours: errorStats(allPairs.ours), baseline: errorStats(allPairs.baseline), recomputed: errorStats(allPairs.recomputed) },
      bands: BANDS.map(([label], i) => ({
        label,
        n: bandPairs[i]?.ours.length ?? 0,
        ours: errorStats(bandPairs[i]?.ours ?? []),
        baseline: errorStats(bandPairs[i]?.baseline ?? []),
      })),
      firstPoints,
      allPoints,
      afterAdmission,
      measuredOutflow: lineTimes.length > 1 ? (lineTimes.length - 1) / (((lineTimes[lineTimes.length - 1] as number) - (lineTimes[0] as number)) / 1000) : Number.NaN,
      assumedOutflow: run.capacity / (mean(records.filter((r) => r.answers.length > 0).map((r) => r.size / run.transferRateBps)) + ESTIMATE_STARTUP_S),
    };
  }


  // The reception's admission against the 201 reaching the client: a client away when its turn
  // came (line), or an answer stuck behind a busy reception (both).
  const gaps: number[] = [];
  let awayAtAdmission = 0;
  let fromDatabase = 0;
  for (const r of records) {
    const seen = r.orderId === null ? undefined : run.admissions.get(r.orderId);
    if (!seen || r.admittedAt === null) continue;
    fromDatabase++;
    gaps.push((r.admittedAt - seen.at) / 1000);
    if (r.admittedAt - seen.at > AWAY_MS) awayAtAdmission++;
  }

  const during = run.cpu.filter((c) => c.at >= firstArrival && c.at <= firstArrival + runSpanS * 1000);
  const coresOf = (pick: (c: CpuSample) => number): number[] => during.map(pick);
  const contentCores = (c: CpuSample): number => Object.entries(c.cores).reduce((a, [name, v]) => (name.startsWith('cs-') ? a + v : a), 0);
  const statuses: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;

  return {
    name: run.name,
    clients: records.length,
    capacity: run.capacity,
    served: served.length,
    failed: records.length - served.length,
    errors,
    arrivalSpanS: (lastArrival - firstArrival) / 1000,
    allAdmittedS: (Math.max(...admittedList) - firstArrival) / 1000,
    allServedS: (Math.max(...served.map((r) => r.downloadEndAt as number)) - firstArrival) / 1000,
    idealS: totalWorkS / run.capacity,
    firstAnswer: spread(arrived.filter((r) => r.firstAnswerAt !== null).map((r) => ((r.firstAnswerAt as number) - r.arrivedAt) / 1000)),
    unanswered: arrived.filter((r) => r.firstAnswerAt === null).length,
    wait: spread(arrived.filter((r) => r.admittedAt !== null).map((r) => ((r.admittedAt as number) - r.arrivedAt) / 1000)),
    requests: {
      total: requests.reduce((a, b) => a + b, 0),
      perClient: mean(requests),
      max: Math.max(...requests),
      perSecond: requests.reduce((a, b) => a + b, 0) / Math.max(1, runSpanS),
    },
    statuses,
    fairness: {
      spearman: spearman(
        both.map((r) => r.arrivedAt),
        both.map((r) => admission.get(r.index) as number),
      ),
      clientPairs: pairsOf(0),
      clientPairsBeyond100ms: pairsOf(100),
      queuePairs,
      queueVsArrival: queueVsArrival(),
      fromLine: lineAdmitted.length,
      lapsed,
    },
    utilisationWhileLine: run.name === 'line' ? utilisation(whileLine) : null,
    utilisationWhileWaiting: utilisation(whileWaiting),
    estimates,
    admissionToTicket: spread(gaps),
    awayAtAdmission,
    admissionTimesFromDatabase: fromDatabase,
    ticketToFirstByte: spread(records.filter((r) => r.firstByteAt !== null && r.admittedAt !== null).map((r) => ((r.firstByteAt as number) - (r.admittedAt as number)) / 1000)),
    admissionTimesFromClient: fromClient,
    cpu: {
      receptionMean: mean(coresOf((c) => c.cores['reception'] ?? 0)),
      receptionMax: Math.max(0, ...coresOf((c) => c.cores['reception'] ?? 0)),
      contentMean: mean(coresOf(contentCores)),
      crowdMean: mean(coresOf((c) => c.cores['crowd'] ?? 0)),
      machineBusyMean: mean(coresOf((c) => c.machineBusy)),
      // Whatever the machine did besides this bench's processes: other people's work, and the
      // kernel's share not billed to a process.
      otherMean: mean(coresOf((c) => c.machineBusyCores - Object.values(c.cores).reduce((a, b) => a + b, 0))),
    },
    busyBeforeCores: run.busyBeforeCores,
    tcp: run.tcp,
    profile: run.profile,
    loopDelayMs: run.crowd.loopDelayMs,
    samplerSkipped: run.samplerSkipped,
    orderCounts: run.orderCounts,
  };
}

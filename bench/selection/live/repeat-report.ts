import type { SimPolicy } from '../sim/simulate.js';
import { policyLabel } from '../sim/report.js';
import { SIM_MARGIN, type LiveCell, type SimFigures } from './live-report.js';
import { clearOrder, pairedDifference, summarise, type PairedDifference, type Summary } from '../paired-stats.js';
import type { LiveWorkloadName, ReportMode } from './live-scenario.js';

// The repeated live study (`npm run bench:selection:repeat`): the cells the issue's goals
// turn on, each run several times, interleaved (repetition outermost), so that one slow moment
// of a shared machine lands on every policy alike. One live run of 300 clients has a p99 that
// is the third-slowest client: between runs it moves by more than the policies differ. Here
// every comparison comes with its spread, and a pair of policies counts as ordered only when
// the paired difference of their p99s (same repetition, minutes apart) is clear of zero at 95 %.

export interface RepeatCell extends LiveCell {
  /** 1-based repetition. */
  readonly rep: number;
  /**
   * Cores used meanwhile by processes that are not the bench's (other people's work on the
   * machine), averaged over the cell; absent in runs before it was measured.
   */
  readonly foreignCores?: number;
  /** Cores the hypervisor gave other guests during the cell while ours had work (steal); absent in older runs. */
  readonly stolenCores?: number;
}

export interface RepeatRun {
  /** The runner's arguments, as given (absent in runs recorded before they were kept). */
  readonly args?: string;
  readonly date: string;
  readonly machine: string;
  readonly node: string;
  readonly commit: string;
  readonly reps: number;
  readonly wallS: number;
  readonly loadAtStart: string;
  readonly loadAtEnd: string;
  readonly waitingLine: boolean;
  /** Every rate divided by this, workloads spread over this many times as long (absent: 1). */
  readonly pace?: number;
  /** How the content servers reported (absent: on-change, as in runs before the setting existed). */
  readonly reports?: ReportMode;
  /** The policies run, when not all of them (comma-separated). */
  readonly policies?: string;
  readonly cells: readonly RepeatCell[];
}

export interface Setup {
  readonly receptions: number;
  readonly reportIntervalS: number;
}

const keyOf = (workload: LiveWorkloadName, s: Setup, policy: SimPolicy): string => `${workload}/${s.receptions}/${s.reportIntervalS}/${policy}`;

/** Every repetition's cells grouped by workload, setup and policy. */
export class RepeatTable {
  readonly #groups = new Map<string, RepeatCell[]>();
  readonly setups: readonly Setup[];
  readonly policies: readonly SimPolicy[];

  constructor(cells: readonly RepeatCell[]) {
    const setups = new Map<string, Setup>();
    const policies = new Set<SimPolicy>();
    for (const c of cells) {
      const key = keyOf(c.workload, c, c.policy);
      const list = this.#groups.get(key) ?? [];
      list.push(c);
      this.#groups.set(key, list);
      setups.set(`${c.receptions}/${c.reportIntervalS}`, { receptions: c.receptions, reportIntervalS: c.reportIntervalS });
      policies.add(c.policy);
    }
    this.setups = [...setups.values()].sort((a, b) => a.receptions - b.receptions || a.reportIntervalS - b.reportIntervalS);
    const order: readonly SimPolicy[] = ['dns', 'round-robin', 'random', 'least-loaded', 'best-of-two', 'default'];
    this.policies = order.filter((p) => policies.has(p));
  }

  cells(workload: LiveWorkloadName, setup: Setup, policy: SimPolicy): readonly RepeatCell[] {
    return this.#groups.get(keyOf(workload, setup, policy)) ?? [];
  }

  /** p99 by repetition. */
  p99s(workload: LiveWorkloadName, setup: Setup, policy: SimPolicy): Map<number, number> {
    return new Map(this.cells(workload, setup, policy).map((c) => [c.rep, c.live.p99S]));
  }

  live(workload: LiveWorkloadName, setup: Setup, policy: SimPolicy, pick: (c: RepeatCell) => number = (c) => c.live.p99S): Summary {
    return summarise(this.cells(workload, setup, policy).map(pick).filter(Number.isFinite));
  }

  /** The simulator's figures are the same for every repetition (same clients, same seeds). */
  sim(workload: LiveWorkloadName, setup: Setup, policy: SimPolicy): SimFigures | undefined {
    return this.cells(workload, setup, policy)[0]?.sim;
  }
}

const s1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const s2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
const signed = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(2)}` : '–');
const interval = (d: PairedDifference): string => (Number.isFinite(d.low) ? `${signed(d.low)} … ${signed(d.high)}` : 'too few pairs');

/** Mean p99 ± sd (min–max) [simulator] by policy (rows) and setup (columns). */
export function repeatGrid(t: RepeatTable, workload: LiveWorkloadName): string {
  const head = `| policy | ${t.setups.map((s) => `${s.receptions} rec., ${s.reportIntervalS} s`).join(' | ')} |`;
  const rule = `|---|${t.setups.map(() => '---:').join('|')}|`;
  const rows = t.policies.map((p) => {
    const values = t.setups.map((s) => {
      const l = t.live(workload, s, p);
      if (l.n === 0) return '';
      return `${s1(l.mean)} ± ${s1(l.sd)} (${s1(l.min)}–${s1(l.max)}) [${s1(t.sim(workload, s, p)?.p99S ?? Number.NaN)}]`;
    });
    return `| ${p === 'default' ? '**default**' : policyLabel[p]} | ${values.join(' | ')} |`;
  });
  return [head, rule, ...rows].join('\n');
}

export interface RepeatGoal {
  readonly goal: string;
  readonly verdict: 'yes' | 'no' | 'within the noise' | '–';
  readonly detail: string;
}

export function repeatGoals(t: RepeatTable): RepeatGoal[] {
  const out: RepeatGoal[] = [];
  const stale: Setup = { receptions: 4, reportIntervalS: 5 };
  const fresh: Setup = { receptions: 4, reportIntervalS: 0.1 };
  for (const workload of ['flash', 'steady'] as const) {
    const s = t.live(workload, stale, 'default');
    const f = t.live(workload, fresh, 'default');
    if (s.n > 0 && f.n > 0) {
      const ratio = s.mean / f.mean;
      const simS = t.sim(workload, stale, 'default')?.p99S ?? Number.NaN;
      const simF = t.sim(workload, fresh, 'default')?.p99S ?? Number.NaN;
      out.push({
        goal: `${workload}, 4 receptions: default p99 with 5 s reports within 1.6 × its p99 with 0.1 s reports`,
        verdict: ratio <= 1.6 ? 'yes' : 'no',
        detail: `mean ${s2(s.mean)} s ÷ ${s2(f.mean)} s = ${ratio.toFixed(2)}× (worst repetition ${s2(s.max)} s ÷ best ${s2(f.min)} s = ${(s.max / f.min).toFixed(2)}×; simulator ${(simS / simF).toFixed(2)}×)`,
      });
    }
    for (const setup of [stale, fresh]) {
      const d = t.live(workload, setup, 'default');
      const r = t.live(workload, setup, 'random');
      if (d.n === 0 || r.n === 0) continue;
      const diff = pairedDifference(t.p99s(workload, setup, 'default'), t.p99s(workload, setup, 'random'));
      const order = clearOrder(diff);
      const verdict = d.mean <= r.mean ? 'yes' : order === 1 ? 'no' : 'within the noise';
      const simD = t.sim(workload, setup, 'default')?.p99S ?? Number.NaN;
      const simR = t.sim(workload, setup, 'random')?.p99S ?? Number.NaN;
      out.push({
        goal: `${workload}, ${setup.receptions} receptions, ${setup.reportIntervalS} s reports: default p99 not worse than random`,
        verdict,
        detail: `mean ${s2(d.mean)} s against ${s2(r.mean)} s (${(d.mean / r.mean).toFixed(2)}×); default − random, paired, 95 %: ${interval(diff)} s over ${diff.n} repetitions; simulator ${s1(simD)} against ${s1(simR)}`,
      });
    }
  }
  const ll = t.cells('steady', stale, 'least-loaded');
  const def = t.cells('steady', stale, 'default');
  if (ll.length > 0 && def.length > 0) {
    const mean = (cs: readonly RepeatCell[], pick: (c: RepeatCell) => number): number => cs.reduce((a, c) => a + pick(c), 0) / cs.length;
    const refusedLl = mean(ll, (c) => c.live.noticesRefused);
    const refusedDef = mean(def, (c) => c.live.noticesRefused);
    out.push({
      goal: 'naive least-loaded herds (steady, 4 receptions, 5 s reports): at least twice the default\'s notices refused',
      verdict: refusedLl > 2 * refusedDef ? 'yes' : 'no',
      detail: `notices refused, mean per run: ${Math.round(refusedLl)} against the default's ${Math.round(refusedDef)}; busy answers ${Math.round(mean(ll, (c) => c.live.refusals))} against ${Math.round(mean(def, (c) => c.live.refusals))}; mean p99 ${s2(mean(ll, (c) => c.live.p99S))} s against ${s2(mean(def, (c) => c.live.p99S))} s`,
    });
  }
  return out;
}

export function repeatGoalTable(goals: readonly RepeatGoal[]): string {
  return ['| goal | met | measured |', '|---|---|---|', ...goals.map((g) => `| ${g.goal} | ${g.verdict === 'no' ? '**no**' : g.verdict} | ${g.detail} |`)].join('\n');
}

export interface RepeatRanking {
  readonly workload: LiveWorkloadName;
  readonly setup: Setup;
  readonly liveRanking: string;
  readonly simRanking: string;
  /** Pairs both order, alike. */
  readonly agreeing: readonly string[];
  /** Pairs both order, oppositely. */
  readonly opposite: readonly string[];
  /** Pairs the live runs cannot tell apart at 95 % (or the simulator within its margin). */
  readonly tied: number;
}

function simOrder(a: number, b: number): -1 | 0 | 1 {
  if (a * (1 + SIM_MARGIN) <= b) return -1;
  if (b * (1 + SIM_MARGIN) <= a) return 1;
  return 0;
}

/** Ranking agreement: live pairs ordered only when their paired 95 % interval is clear of zero; the simulator's with its 5 % margin. */
export function repeatRankings(t: RepeatTable): RepeatRanking[] {
  const out: RepeatRanking[] = [];
  for (const workload of ['flash', 'steady'] as const) {
    for (const setup of t.setups) {
      const ps = t.policies.filter((p) => t.cells(workload, setup, p).length > 0);
      if (ps.length < 2) continue;
      const mean = (p: SimPolicy): number => t.live(workload, setup, p).mean;
      const simP99 = (p: SimPolicy): number => t.sim(workload, setup, p)?.p99S ?? Number.NaN;
      const agreeing: string[] = [];
      const opposite: string[] = [];
      let tied = 0;
      for (let i = 0; i < ps.length; i++) {
        for (let j = i + 1; j < ps.length; j++) {
          const a = ps[i] as SimPolicy;
          const b = ps[j] as SimPolicy;
          const live = clearOrder(pairedDifference(t.p99s(workload, setup, a), t.p99s(workload, setup, b)));
          const sim = simOrder(simP99(a), simP99(b));
          const [fast, slow] = live === 1 ? [b, a] : [a, b];
          if (live === 0 || sim === 0) tied++;
          else if (live === sim) agreeing.push(`${fast} < ${slow}`);
          else opposite.push(`${fast} < ${slow} live`);
        }
      }
      const ranking = (f: (p: SimPolicy) => number): string => [...ps].sort((a, b) => f(a) - f(b)).map((p) => `${p} ${s1(f(p))}`).join(' < ');
      out.push({ workload, setup, liveRanking: ranking(mean), simRanking: ranking(simP99), agreeing, opposite, tied });
    }
  }
  return out;
}

export function repeatRankingTable(rankings: readonly RepeatRanking[]): string {
  return [
    '| workload | setup | live, by mean p99 | simulator, by p99 | told apart in both, alike | told apart in both, oppositely | not told apart in one or both |',
    '|---|---|---|---|---|---|---:|',
    ...rankings.map(
      (r) =>
        `| ${r.workload} | ${r.setup.receptions} rec., ${r.setup.reportIntervalS} s | ${r.liveRanking} | ${r.simRanking} | ${r.agreeing.length === 0 ? 'none' : r.agreeing.join('; ')} | ${r.opposite.length === 0 ? 'none' : r.opposite.join('; ')} | ${r.tied} |`,
    ),
  ].join('\n');
}

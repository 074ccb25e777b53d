import { find, mean, publishedKeys, simPolicies, type Cell, type CellKey } from './matrix.js';
import { clearOrder, pairedDifference } from '../paired-stats.js';
import type { SimPolicy } from './simulate.js';

// The Markdown the command prints and writes into docs/selection.md: the p99 grid, the goal
// checks, and the full table.

/** How each policy is named in the tables (live and simulated). */
export const policyLabel: Record<SimPolicy, string> = {
  dns: 'DNS round robin (baseline)',
  'round-robin': 'round-robin',
  random: 'random',
  'least-loaded': 'least-loaded',
  'best-of-two': 'best-of-two',
  default: '**default**',
};

const s = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const s2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
const signed = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(2)}` : '–');
const pct = (n: number): string => (Number.isFinite(n) ? `${Math.round(n * 100)} %` : '–');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

function must(cells: readonly Cell[], key: CellKey, policy: SimPolicy): Cell {
  const cell = find(cells, key, policy);
  if (!cell) throw new Error(`no cell for ${policy} ${JSON.stringify(key)}`);
  return cell;
}

export function p99Grid(cells: readonly Cell[], fleet: 'mixed' | 'equal', workload: 'flash' | 'steady'): string {
  const keys = publishedKeys().filter((k) => k.fleet === fleet && k.workload === workload);
  const head = `| policy | ${keys.map((k) => `${k.receptions} rec., ${k.reportIntervalS} s`).join(' | ')} |`;
  const rule = `|---|${keys.map(() => '---:').join('|')}|`;
  const rows = simPolicies.map((p) => `| ${policyLabel[p]} | ${keys.map((k) => s(mean(must(cells, k, p), (r) => r.p99S))).join(' | ')} |`);
  const floor = `| *alone on the fleet (floor)* | ${keys.map((k) => s(mean(must(cells, k, 'default'), (r) => r.floorP99S))).join(' | ')} |`;
  return [head, rule, ...rows, floor].join('\n');
}

export function fullTable(cells: readonly Cell[]): string {
  const head =
    '| fleet | workload | rec. | reports | policy | p50 s | p99 s | max util. | mean util. | refusals | notices refused |\n|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|';
  const rows: string[] = [];
  for (const k of publishedKeys()) {
    for (const p of simPolicies) {
      const c = must(cells, k, p);
      rows.push(
        `| ${k.fleet} | ${k.workload} | ${k.receptions} | ${k.reportIntervalS} s | ${policyLabel[p]} | ${s2(mean(c, (r) => r.p50S))} | ${s2(mean(c, (r) => r.p99S))} | ${pct(mean(c, (r) => r.maxUtilisation))} | ${pct(mean(c, (r) => r.meanUtilisation))} | ${int(mean(c, (r) => r.refusals))} | ${int(mean(c, (r) => r.noticesRefused))} |`,
      );
    }
  }
  return [head, ...rows].join('\n');
}

export interface GoalCheck {
  readonly goal: string;
  readonly met: boolean;
  readonly detail: string;
}

export function goalChecks(cells: readonly Cell[]): GoalCheck[] {
  const out: GoalCheck[] = [];
  const p99 = (k: CellKey, p: SimPolicy): number => mean(must(cells, k, p), (r) => r.p99S);
  const mixed = publishedKeys().filter((k) => k.fleet === 'mixed');

  // The goal's "round robin" is DNS round robin in front of plain web servers (the `dns` row):
  // what the seeds set Tessera against. Tessera's own round-robin policy, with the slot check
  // and the fallback, is shown beside it.
  const ratios = mixed.map((k) => ({ k, dns: p99(k, 'default') / p99(k, 'dns'), rr: p99(k, 'default') / p99(k, 'round-robin') }));
  const range = (workload: 'flash' | 'steady', pick: (r: (typeof ratios)[number]) => number): string => {
    const xs = ratios.filter((r) => r.k.workload === workload).map(pick);
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    return lo.toFixed(2) === hi.toFixed(2) ? lo.toFixed(2) : `${lo.toFixed(2)}–${hi.toFixed(2)}`;
  };
  const digits = (x: number): number => (x < 0.01 ? 3 : 2);
  const fine = (workload: 'flash' | 'steady', pick: (r: (typeof ratios)[number]) => number): string => {
    const xs = ratios.filter((r) => r.k.workload === workload).map(pick);
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const a = lo.toFixed(digits(lo));
    const b = hi.toFixed(digits(hi));
    return a === b ? a : `${a}–${b}`;
  };
  out.push({
    goal: "servers of different sizes: default p99 ≤ 0.5 × round robin's (DNS round robin, the baseline)",
    met: ratios.every((r) => r.dns <= 0.5),
    detail:
      `default ÷ DNS round robin: flash ${fine('flash', (r) => r.dns)}, steady ${fine('steady', (r) => r.dns)}; ` +
      `default ÷ Tessera's round-robin policy (slot check + fallback, not the goal's baseline): flash ${range('flash', (r) => r.rr)}, steady ${range('steady', (r) => r.rr)}`,
  });

  for (const workload of ['steady', 'flash'] as const) {
    const stale: CellKey = { fleet: 'mixed', workload, receptions: 4, reportIntervalS: 5 };
    const fresh: CellKey = { ...stale, reportIntervalS: 0.1 };
    const ratio = p99(stale, 'default') / p99(fresh, 'default');
    out.push({
      goal: `${workload}, 4 receptions, 5 s reports: default p99 within 1.6 × its p99 with fresh (0.1 s) reports`,
      met: ratio <= 1.6,
      detail: `${s(p99(stale, 'default'))} s ÷ ${s(p99(fresh, 'default'))} s = ${ratio.toFixed(2)}×`,
    });
    // "Never worse than random": in no setup (receptions × report interval) is the default's
    // mean p99 over the seeds above random's, unless by less than the seeds can tell apart
    // (the paired 95 % interval, seed by seed with the same clients, holds zero).
    const setups = mixed.filter((k) => k.workload === workload);
    const verdicts = setups.map((k) => {
      const d = must(cells, k, 'default').runs;
      const r = must(cells, k, 'random').runs;
      const diff = pairedDifference(new Map(d.map((run, i) => [i, run.p99S])), new Map(r.map((run, i) => [i, run.p99S])));
      const verdict = p99(k, 'default') <= p99(k, 'random') ? 'not worse' : clearOrder(diff) === 1 ? 'worse' : 'within the noise';
      return { k, verdict, diff };
    });
    const worse = verdicts.filter((v) => v.verdict === 'worse');
    const noise = verdicts.filter((v) => v.verdict === 'within the noise');
    const at = (v: (typeof verdicts)[number]): string =>
      `${v.k.receptions} rec. ${v.k.reportIntervalS} s: ${s(p99(v.k, 'default'))} against ${s(p99(v.k, 'random'))} s, default − random ${signed(v.diff.low)} … ${signed(v.diff.high)} s`;
    const d = must(cells, stale, 'default').runs;
    const r = must(cells, stale, 'random').runs;
    const notWorse = d.filter((run, i) => run.p99S <= (r[i] as (typeof r)[number]).p99S).length;
    out.push({
      goal: `${workload}: default p99 never worse than random (mean over the seeds, every setup)`,
      met: worse.length === 0,
      detail:
        `not worse in ${verdicts.length - worse.length - noise.length} of ${verdicts.length} setups` +
        (noise.length > 0 ? `; higher by less than the seeds tell apart (paired 95 % interval holds zero) in ${noise.map(at).join('; ')}` : '') +
        (worse.length > 0 ? `; **worse** in ${worse.map(at).join('; ')}` : '') +
        `. 4 receptions, 5 s reports: mean ${s(p99(stale, 'default'))} s against ${s(p99(stale, 'random'))} s; seed by seed not worse in ${notWorse} of ${d.length} (${d.map((run, i) => `${s(run.p99S)}/${s((r[i] as (typeof r)[number]).p99S)}`).join(', ')})`,
    });
  }

  const herd: CellKey = { fleet: 'mixed', workload: 'steady', receptions: 4, reportIntervalS: 5 };
  const ll = must(cells, herd, 'least-loaded');
  const def = must(cells, herd, 'default');
  out.push({
    goal: 'naive least-loaded visibly herds (steady, 4 receptions, 5 s reports)',
    met: mean(ll, (x) => x.noticesRefused) > 2 * mean(def, (x) => x.noticesRefused),
    detail: `notices refused ${int(mean(ll, (x) => x.noticesRefused))} against the default's ${int(mean(def, (x) => x.noticesRefused))}; clients told to retry ${int(mean(ll, (x) => x.refusals))} against ${int(mean(def, (x) => x.refusals))}; p50 ${s2(mean(ll, (x) => x.p50S))} s against ${s2(mean(def, (x) => x.p50S))} s`,
  });
  return out;
}

export function goalTable(checks: readonly GoalCheck[]): string {
  return ['| goal | met | measured |', '|---|---|---|', ...checks.map((c) => `| ${c.goal} | ${c.met ? 'yes' : '**no**'} | ${c.detail} |`)].join('\n');
}

import type { SimPolicy } from '../sim/simulate.js';
import type { LiveWorkloadName, ReportMode } from './live-scenario.js';
import type { LiveFigures } from './run-cell.js';
import { policyColours } from '../sim/charts.js';
import { policyLabel } from '../sim/report.js';

// The Markdown and SVG of the live harness: live figures beside the simulator's for the very
// same scenario and clients, the ranking check, and the goals.

export interface SimFigures {
  readonly p50S: number;
  readonly p99S: number;
  readonly maxUtilisation: number;
  readonly meanUtilisation: number;
  readonly refusals: number;
  readonly noticesRefused: number;
}

export interface LiveCell {
  readonly workload: LiveWorkloadName;
  readonly receptions: number;
  readonly reportIntervalS: number;
  readonly policy: SimPolicy;
  readonly live: LiveFigures;
  /** The simulator on the same scenario and clients, mean of 5 seeds of its own chance. */
  readonly sim: SimFigures;
}

export interface LiveRun {
  readonly date: string;
  readonly machine: string;
  readonly node: string;
  readonly commit: string;
  readonly quick: boolean;
  readonly wallS: number;
  readonly loadAtStart: string;
  readonly loadAtEnd: string;
  /** Every rate divided by this, workloads spread over this many times as long (absent: 1). */
  readonly pace?: number;
  /** How the content servers reported (absent: on-change, as in runs before the setting existed). */
  readonly reports?: ReportMode;
  readonly cells: readonly LiveCell[];
}

export const policyOrder: readonly SimPolicy[] = ['dns', 'round-robin', 'random', 'least-loaded', 'best-of-two', 'default'];

const sec = (n: number): string => (Number.isNaN(n) ? '–' : n === Infinity ? 'unfinished' : n.toFixed(2));
const s1 = (n: number): string => (Number.isNaN(n) ? '–' : n === Infinity ? '∞' : n.toFixed(1));
const pct = (n: number): string => (Number.isFinite(n) ? `${Math.round(n * 100)} %` : '–');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

interface Setup {
  readonly receptions: number;
  readonly reportIntervalS: number;
}

function setupsOf(cells: readonly LiveCell[]): Setup[] {
  const seen = new Map<string, Setup>();
  for (const c of cells) if (c.policy !== 'dns') seen.set(`${c.receptions}/${c.reportIntervalS}`, { receptions: c.receptions, reportIntervalS: c.reportIntervalS });
  return [...seen.values()].sort((a, b) => a.receptions - b.receptions || a.reportIntervalS - b.reportIntervalS);
}

function cellOf(cells: readonly LiveCell[], workload: LiveWorkloadName, setup: Setup, policy: SimPolicy): LiveCell | undefined {
  if (policy === 'dns') return cells.find((c) => c.workload === workload && c.policy === 'dns');
  return cells.find((c) => c.workload === workload && c.policy === policy && c.receptions === setup.receptions && c.reportIntervalS === setup.reportIntervalS);
}

/** p99 by policy (rows) and setup (columns): live, and the simulator's in brackets. */
export function p99Grid(cells: readonly LiveCell[], workload: LiveWorkloadName): string {
  const setups = setupsOf(cells);
  const head = `| policy | ${setups.map((s) => `${s.receptions} rec., ${s.reportIntervalS} s`).join(' | ')} |`;
  const rule = `|---|${setups.map(() => '---:').join('|')}|`;
  const rows = policyOrder
    .filter((p) => cells.some((c) => c.workload === workload && c.policy === p))
    .map((p) => {
      const values = setups.map((s) => {
        const c = cellOf(cells, workload, s, p);
        return c ? `${s1(c.live.p99S)} (${s1(c.sim.p99S)})` : '';
      });
      return `| ${policyLabel[p]}${p === 'dns' ? ' ¹' : ''} | ${values.join(' | ')} |`;
    });
  return [head, rule, ...rows].join('\n');
}

export function fullTable(cells: readonly LiveCell[]): string {
  const head =
    '| workload | rec. | reports | policy | p50 s | p99 s | max util. | mean util. | refusals | notices refused | restarts | failed | load avg. | sim p50 s | sim p99 s | sim max util. |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const rows = cells.map(
    (c) =>
      `| ${c.workload} | ${c.receptions} | ${c.reportIntervalS} s | ${policyLabel[c.policy]} | ${sec(c.live.p50S)} | ${sec(c.live.p99S)} | ${pct(c.live.maxUtilisation)} | ${pct(c.live.meanUtilisation)} | ${int(c.live.refusals)} | ${int(c.live.noticesRefused)} | ${int(c.live.restarts ?? 0)} | ${c.live.failed} of ${c.live.orders} | ${c.live.loadAverage.toFixed(1)} | ${sec(c.sim.p50S)} | ${sec(c.sim.p99S)} | ${pct(c.sim.maxUtilisation)} |`,
  );
  return [head, ...rows].join('\n');
}

/**
 * The ranking rule: policies are ranked by p99. A pair counts as ordered only when the slower
 * p99 is at least `LIVE_MARGIN` (live: one run on a shared machine) or `SIM_MARGIN` (the
 * simulator: a mean of 5 seeds) above the faster; otherwise it is a tie. The two agree on a
 * pair unless both order it and in opposite directions.
 */
export const LIVE_MARGIN = 0.1;
export const SIM_MARGIN = 0.05;

function order(a: number, b: number, margin: number): -1 | 0 | 1 {
  if (a === b) return 0;
  if (!Number.isFinite(a) && !Number.isFinite(b)) return 0;
  if (a * (1 + margin) <= b) return -1;
  if (b * (1 + margin) <= a) return 1;
  return 0;
}

export interface RankingCheck {
  readonly workload: LiveWorkloadName;
  readonly setup: Setup;
  readonly liveRanking: string;
  readonly simRanking: string;
  readonly agreeing: number;
  readonly opposite: readonly string[];
  readonly tiedInOne: number;
}

export function rankingChecks(cells: readonly LiveCell[]): RankingCheck[] {
  const out: RankingCheck[] = [];
  for (const workload of ['flash', 'steady'] as const) {
    for (const setup of setupsOf(cells)) {
      const row = policyOrder.map((p) => cellOf(cells, workload, setup, p)).filter((c): c is LiveCell => c !== undefined);
      if (row.length < 2) continue;
      const ranking = (pick: (c: LiveCell) => number): string =>
        [...row].sort((a, b) => pick(a) - pick(b)).map((c) => `${c.policy} ${s1(pick(c))}`).join(' < ');
      let agreeing = 0;
      let tiedInOne = 0;
      const opposite: string[] = [];
      for (let i = 0; i < row.length; i++) {
        for (let j = i + 1; j < row.length; j++) {
          const a = row[i] as LiveCell;
          const b = row[j] as LiveCell;
          const live = order(a.live.p99S, b.live.p99S, LIVE_MARGIN);
          const sim = order(a.sim.p99S, b.sim.p99S, SIM_MARGIN);
          if (live === 0 || sim === 0) tiedInOne++;
          else if (live === sim) agreeing++;
          else opposite.push(`${a.policy}/${b.policy}`);
        }
      }
      out.push({ workload, setup, liveRanking: ranking((c) => c.live.p99S), simRanking: ranking((c) => c.sim.p99S), agreeing, opposite, tiedInOne });
    }
  }
  return out;
}

export function rankingTable(checks: readonly RankingCheck[]): string {
  return [
    '| workload | setup | live, by p99 | simulator, by p99 | pairs ordered alike | ordered oppositely | a tie in either |',
    '|---|---|---|---|---:|---|---:|',
    ...checks.map(
      (c) =>
        `| ${c.workload} | ${c.setup.receptions} rec., ${c.setup.reportIntervalS} s | ${c.liveRanking} | ${c.simRanking} | ${c.agreeing} | ${c.opposite.length === 0 ? 'none' : c.opposite.join(', ')} | ${c.tiedInOne} |`,
    ),
  ].join('\n');
}

export interface Goal {
  readonly goal: string;
  readonly met: boolean | undefined;
  readonly detail: string;
}

export function goals(cells: readonly LiveCell[]): Goal[] {
  const out: Goal[] = [];
  const get = (workload: LiveWorkloadName, receptions: number, interval: number, policy: SimPolicy): LiveCell | undefined =>
    cellOf(cells, workload, { receptions, reportIntervalS: interval }, policy);
  for (const workload of ['flash', 'steady'] as const) {
    const dns = cells.find((c) => c.workload === workload && c.policy === 'dns');
    const defaults = cells.filter((c) => c.workload === workload && c.policy === 'default');
    if (dns && defaults.length > 0) {
      const ratios = defaults.map((d) => d.live.p99S / dns.live.p99S);
      const simRatios = defaults.map((d) => d.sim.p99S / dns.sim.p99S);
      out.push({
        goal: `${workload}: default p99 ≤ 0.5 × DNS round robin's`,
        met: ratios.every((r) => r <= 0.5),
        detail: `live ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} (DNS ${s1(dns.live.p99S)} s); simulator ${Math.min(...simRatios).toFixed(2)}–${Math.max(...simRatios).toFixed(2)}`,
      });
    }
    const stale = get(workload, 4, 5, 'default');
    const fresh = get(workload, 4, 0.1, 'default');
    if (stale && fresh) {
      const r = stale.live.p99S / fresh.live.p99S;
      out.push({
        goal: `${workload}, 4 receptions, 5 s reports: default p99 within 1.6 × its p99 with 0.1 s reports`,
        met: r <= 1.6,
        detail: `${s1(stale.live.p99S)} s ÷ ${s1(fresh.live.p99S)} s = ${r.toFixed(2)}× (simulator ${(stale.sim.p99S / fresh.sim.p99S).toFixed(2)}×)`,
      });
    }
    const random = get(workload, 4, 5, 'random');
    if (stale && random) {
      out.push({
        goal: `${workload}, 4 receptions, 5 s reports: default p99 not worse than random`,
        met: stale.live.p99S <= random.live.p99S,
        detail: `${s1(stale.live.p99S)} s against ${s1(random.live.p99S)} s (simulator ${s1(stale.sim.p99S)} against ${s1(random.sim.p99S)}); one run each`,
      });
    }
  }
  const ll = get('steady', 4, 5, 'least-loaded');
  const def = get('steady', 4, 5, 'default');
  if (ll && def) {
    out.push({
      goal: 'naive least-loaded visibly herds (steady, 4 receptions, 5 s reports)',
      met: ll.live.noticesRefused > 2 * def.live.noticesRefused,
      detail: `notices refused ${int(ll.live.noticesRefused)} against the default's ${int(def.live.noticesRefused)}; busy answers ${int(ll.live.refusals)} against ${int(def.live.refusals)}; max util. ${pct(ll.live.maxUtilisation)} against ${pct(def.live.maxUtilisation)}; p99 ${s1(ll.live.p99S)} s against ${s1(def.live.p99S)} s`,
    });
  }
  return out;
}

export function goalTable(list: readonly Goal[]): string {
  return ['| goal | met | measured |', '|---|---|---|', ...list.map((g) => `| ${g.goal} | ${g.met === undefined ? '–' : g.met ? 'yes' : '**no**'} | ${g.detail} |`)].join('\n');
}


function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Bars: live p99 per policy and setup; a black tick on each bar: the simulator's p99 for the same scenario. */
export function liveChart(cells: readonly LiveCell[], workload: LiveWorkloadName, title: string, subtitle: string): string {
  const setups = setupsOf(cells);
  const policies = policyOrder.filter((p) => p !== 'dns' && cells.some((c) => c.workload === workload && c.policy === p));
  const dns = cells.find((c) => c.workload === workload && c.policy === 'dns');
  const values = cells.filter((c) => c.workload === workload && c.policy !== 'dns').flatMap((c) => [c.live.p99S, c.sim.p99S]).filter(Number.isFinite);
  const yMax = niceMax(1.2 * Math.max(1, ...values));
  const W = 1120;
  const H = 520;
  const x0 = 70;
  const top = 80;
  const plotW = W - 100;
  const plotH = 340;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fafafa"/>`,
    `<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">${title}</text>`,
    `<text x="${W / 2}" y="46" text-anchor="middle" font-size="12" fill="#444">${subtitle.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`,
    `<rect x="${x0}" y="${top}" width="${plotW}" height="${plotH}" fill="#fff" stroke="#888"/>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const y = top + plotH - (plotH * i) / 5;
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + plotW}" y2="${y}" stroke="#eee"/><text x="${x0 - 6}" y="${y + 4}" text-anchor="end" font-size="11">${((yMax * i) / 5).toFixed(yMax < 10 ? 1 : 0)}</text>`);
  }
  out.push(`<text x="${x0 - 44}" y="${top + plotH / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 - 44} ${top + plotH / 2})">p99, seconds</text>`);
  const groupW = plotW / Math.max(1, setups.length);
  const barW = (groupW - 24) / Math.max(1, policies.length);
  const yOf = (v: number): number => top + plotH - (plotH * Math.min(v, yMax)) / yMax;
  setups.forEach((setup, gi) => {
    const gx = x0 + gi * groupW + 12;
    policies.forEach((p, bi) => {
      const c = cellOf(cells, workload, setup, p);
      if (!c) return;
      const bx = gx + bi * barW;
      const v = Number.isFinite(c.live.p99S) ? c.live.p99S : yMax;
      out.push(`<rect x="${bx.toFixed(1)}" y="${yOf(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - yOf(v)).toFixed(1)}" fill="${policyColours[p]}"><title>${p}: live ${s1(c.live.p99S)} s, simulator ${s1(c.sim.p99S)} s</title></rect>`);
      const sy = yOf(c.sim.p99S);
      out.push(`<line x1="${(bx - 1).toFixed(1)}" y1="${sy.toFixed(1)}" x2="${(bx + barW - 1).toFixed(1)}" y2="${sy.toFixed(1)}" stroke="#000" stroke-width="2.5"/>`);
    });
    out.push(`<text x="${gx + (groupW - 24) / 2}" y="${top + plotH + 18}" text-anchor="middle" font-size="12">${setup.receptions} rec., reports ${setup.reportIntervalS} s</text>`);
  });
  if (dns) {
    const v = dns.live.p99S;
    const y = yOf(v);
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + plotW}" y2="${y}" stroke="#555" stroke-dasharray="6 4" stroke-width="1.5"/>`);
    out.push(`<text x="${x0 + plotW - 6}" y="${y + 16}" text-anchor="end" font-size="12" fill="#333">DNS round robin, live: ${s1(v)} s${v > yMax ? ' (off the scale)' : ''}; simulator ${s1(dns.sim.p99S)} s</text>`);
  }
  let lx = x0;
  const ly = H - 30;
  for (const p of policies) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${policyColours[p]}"/><text x="${lx + 16}" y="${ly}" font-size="12">${p}</text>`);
    lx += 40 + p.length * 7;
  }
  out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="#000" stroke-width="2.5"/><text x="${lx + 26}" y="${ly}" font-size="12">the simulator, same scenario and clients</text>`);
  out.push('</svg>');
  return out.join('\n');
}

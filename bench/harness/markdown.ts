import type { MachineInfo } from './machine.js';
import { max, median, min } from './stats.js';
import type { Placement, RowResult, Sample } from './results.js';

// Result tables in Markdown. The headline figure of a row is its best run: on a shared machine
// other load only ever slows a run down, so the best run is the closest to what the set-up can
// do. The median and the range stand beside it, and the CPU columns describe that best run, so
// a noisy row shows as noisy.

const MIB = 1024 * 1024;

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

export function fmtRatio(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}×` : '–';
}

function fmtCores(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : '–';
}

/**
 * What held a run back, from how busy each CPU was: in a pinned run CPU 0 is the server's and
 * CPU 1 the client's; a run where no CPU is full is bound by latency (wake-ups, TCP windows).
 */
export function limitOf(samples: readonly Sample[], placement: Placement): string {
  const busy = (i: number): number => median(samples.map((s) => s.bill.perCpuBusy[i] ?? 0));
  const n = samples[0]?.bill.perCpuBusy.length ?? 0;
  const shown = Array.from({ length: n }, (_, i) => `${Math.round(busy(i) * 100)}%`).join(' / ');
  let verdict: string;
  if (placement === 'pinned') {
    const server = busy(0) >= 0.95;
    const client = busy(1) >= 0.95;
    verdict = server && client ? 'both CPUs' : server ? 'server CPU' : client ? '**client CPU**' : 'no CPU full';
  } else {
    verdict = Array.from({ length: n }, (_, i) => busy(i)).every((b) => b >= 0.95) ? 'all CPUs' : 'no CPU full';
  }
  return `${verdict} (${shown})`;
}


export function best(samples: readonly Sample[]): Sample | undefined {
  let top: Sample | undefined;
  for (const s of samples) if (!top || s.value > top.value) top = s;
  return top;
}

export function rowValue(result: RowResult | undefined): number {
  return result ? (best(result.samples)?.value ?? Number.NaN) : Number.NaN;
}

function retakes(samples: readonly Sample[]): string {
  return String(samples.reduce((a, s) => a + s.retakes, 0));
}

function failures(samples: readonly Sample[]): string {
  const failed = samples.reduce((a, s) => a + s.failed, 0);
  const done = samples.reduce((a, s) => a + s.done, 0);
  return failed === 0 ? '0' : `${fmtInt(failed)} of ${fmtInt(done + failed)}`;
}

export function machineTable(info: MachineInfo, settings: readonly [string, string][]): string {
  const rows: [string, string][] = [
    ['Date (UTC)', info.date],
    ['CPU', `${info.cpuModel}, ${info.cores} cores`],
    ['Memory', `${info.memoryGiB} GiB`],
    ['Kernel', info.kernel],
    ['Node', info.node],
    ['nginx', info.nginx],
    ['Load generators', `${info.wrk}; ${info.curl}`],
    ['Load average at start', info.loadAverage],
    ['Code', info.code],
    ...settings,
  ];
  return ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}

export function smallTable(results: readonly RowResult[], baselineFor: (r: RowResult) => RowResult | undefined): string {
  const head = [
    '| Set-up | Placement | Requests/s, best run | × nginx | Median (range) | p50 / p99 latency (ms) | Server CPU (cores) | wrk CPU | Bench CPU (reception stub) | Kernel CPU (unattributed) | Other processes CPU | Limited by (CPU busy) | Failed requests | Runs taken again |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|',
  ];
  const lines = results.map((r) => {
    if (r.samples.length === 0) return `| ${r.row.label} | ${r.row.placement} | skipped: ${r.skipped ?? 'no samples'} | | | | | | | | | | | |`;
    const values = r.samples.map((s) => s.value);
    const base = baselineFor(r);
    const ratio = base ? rowValue(r) / rowValue(base) : Number.NaN;
    const b = best(r.samples) as Sample;
    return `| ${r.row.label} | ${r.row.placement} | ${fmtInt(b.value)} | ${fmtRatio(ratio)} | ${fmtInt(median(values))} (${fmtInt(min(values))}–${fmtInt(max(values))}) | ${(b.p50Ms ?? 0).toFixed(2)} / ${(b.p99Ms ?? 0).toFixed(1)} | ${fmtCores(b.bill.serverCores)} | ${fmtCores(b.bill.clientCores)} | ${fmtCores(b.bill.benchCores)} | ${fmtCores(b.bill.otherCores)} | ${fmtCores(b.bill.foreignCores)} | ${limitOf([b], r.row.placement)} | ${failures(r.samples)} | ${retakes(r.samples)} |`;
  });
  return [...head, ...lines].join('\n');
}

export function largeTable(
  single: readonly RowResult[],
  parallel: readonly RowResult[],
  baselineOne: (r: RowResult) => RowResult | undefined,
  baselineMany: (r: RowResult) => RowResult | undefined,
  parallelCount: number,
): string {
  const head = [
    `| Set-up | Placement | 1 download, best (median, range), MiB/s | × nginx | ${parallelCount} in parallel, best (median, range), MiB/s | × nginx | Server CPU (1 / ${parallelCount}) | curl CPU (1 / ${parallelCount}) | Kernel CPU (1 / ${parallelCount}) | Other processes CPU (1 / ${parallelCount}) | Limited by, 1 download | Limited by, ${parallelCount} in parallel | Failed downloads | Runs taken again |`,
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|--:|--:|',
  ];
  const lines = single.map((one, i) => {
    const many = parallel[i];
    const cell = (r: RowResult | undefined, baselineFor: (r: RowResult) => RowResult | undefined): [string, string] => {
      if (!r || r.samples.length === 0) return [`skipped${r?.skipped ? `: ${r.skipped}` : ''}`, ''];
      const values = r.samples.map((s) => s.value / MIB);
      const base = baselineFor(r);
      const ratio = base ? rowValue(r) / rowValue(base) : Number.NaN;
      return [`${fmtInt(max(values))} (${fmtInt(median(values))}, ${fmtInt(min(values))}–${fmtInt(max(values))})`, fmtRatio(ratio)];
    };
    const bill = (r: RowResult | undefined, pick: (s: Sample) => number): string => {
      const b = r ? best(r.samples) : undefined;
      return b ? fmtCores(pick(b)) : '–';
    };
    const [v1, x1] = cell(one, baselineOne);
    const [v8, x8] = cell(many, baselineMany);
    const failed = [...one.samples, ...(many?.samples ?? [])];
    return `| ${one.row.label} | ${one.row.placement} | ${v1} | ${x1} | ${v8} | ${x8} | ${bill(one, (s) => s.bill.serverCores)} / ${bill(many, (s) => s.bill.serverCores)} | ${bill(one, (s) => s.bill.clientCores)} / ${bill(many, (s) => s.bill.clientCores)} | ${bill(one, (s) => s.bill.otherCores)} / ${bill(many, (s) => s.bill.otherCores)} | ${bill(one, (s) => s.bill.foreignCores)} / ${bill(many, (s) => s.bill.foreignCores)} | ${one.samples.length > 0 ? limitOf([best(one.samples) as Sample], one.row.placement) : '–'} | ${many && many.samples.length > 0 ? limitOf([best(many.samples) as Sample], many.row.placement) : '–'} | ${failures(failed)} | ${retakes(failed)} |`;
  });
  return [...head, ...lines].join('\n');
}

export interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

export function goalTable(goals: readonly Goal[]): string {
  return [
    '| Goal | Measured | Met? |',
    '|---|---|---|',
    ...goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.met === undefined ? 'not measured' : g.met ? 'yes' : '**no**'} |`),
  ].join('\n');
}

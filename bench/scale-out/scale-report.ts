import type { MachineInfo } from '../harness/machine.js';
import type { SchedStat } from '../harness/proc-stat.js';
import type { CpuUse, LatencySummary, OrderAccounting, PlacementTally } from './scale-analysis.js';

// The scale-out section of docs/benchmarks.md (between its markers): one column per system,
// then where each system's CPU went, then the receptions' hottest functions.

export interface SystemReport {
  /** scale: 2 receptions + nginx + PostgreSQL + Redis; embedded: 1 reception, SQLite, in-process. */
  readonly name: string;
  readonly description: string;
  readonly wallSeconds: number;
  readonly ordersPerSecond: number;
  readonly placement: LatencySummary;
  readonly download: LatencySummary;
  readonly tally: PlacementTally;
  readonly accounting: OrderAccounting;
  readonly cpu: readonly CpuUse[];
  readonly loadGeneratorCores: number;
  /** Peak resident memory (VmHWM) of each of our processes by role, MiB. */
  readonly peakRss: readonly { readonly name: string; readonly mib: number }[];
  /** Busy cores of the whole machine over the window, everything included. */
  readonly machineCores: number;
  /** Cores the hypervisor gave to other guests over the window while ours had work (steal). */
  readonly stolenCores: number;
  /** Each reception's main thread over the profiled span, from the scheduler. */
  readonly scheduling: readonly ReceptionScheduling[];
  /** Markdown from summarizeCpuProfiles, or a note why there is none. */
  readonly profile: string;
}

/** A reception's JavaScript thread as the kernel's scheduler saw it (/proc/PID/task/PID/schedstat and status). */
export interface ReceptionScheduling extends SchedStat {
  readonly name: string;
  /** Seconds from the start of the profile to just before the stop. */
  readonly windowS: number;
}

export interface ScaleOutSettings {
  readonly seconds: number;
  readonly workers: number;
  readonly slotsPerServer: number;
  readonly items: readonly { readonly size: number; readonly weight: number }[];
  readonly profiled: boolean;
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');

function sizeText(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

export function scaleOutMarkdown(machine: MachineInfo, settings: ScaleOutSettings, systems: readonly SystemReport[]): string {
  const head = `| | ${systems.map((s) => `**${s.name}**`).join(' | ')} |\n|---|${systems.map(() => '--:').join('|')}|`;
  const row = (label: string, value: (s: SystemReport) => string): string => `| ${label} | ${systems.map(value).join(' | ')} |`;
  const names = [...new Set(systems.flatMap((s) => s.cpu.map((c) => c.name)))];
  const cpuRows = names.map((n) => row(n, (s) => f2(s.cpu.find((c) => c.name === n)?.cores ?? Number.NaN)));
  return [
    `Run ${machine.date} on ${machine.cpuModel} (${machine.cores} cores, ${machine.memoryGiB} GiB), ${machine.kernel}, Node ${machine.node}, ${machine.nginx}; code ${machine.code}; load average at the start ${machine.loadAverage}.`,
    `Peer in the same run: **embedded** (the same three content servers with one reception on SQLite and in-process state, no nginx). ${settings.workers} clients in closed loops for ${settings.seconds} s each: order (keep-alive), then download the ticket URL on a new connection like curl and check its SHA-256; items ${settings.items.map((i) => `${sizeText(i.size)} × ${i.weight}`).join(', ')}; ${settings.slotsPerServer} slots per content server; reception CPU profiles ${settings.profiled ? 'on (1 ms sampling, from the start of the measured window)' : 'off'}.`,
    '',
    head,
    row('what runs', (s) => s.description),
    row('orders/s (201 + download, sustained)', (s) => f1(s.ordersPerSecond)),
    row('placement p50 / p90 / p99 / max, ms (POST /orders to the end of its answer)', (s) => `${f1(s.placement.p50)} / ${f1(s.placement.p90)} / ${f1(s.placement.p99)} / ${f1(s.placement.max)}`),
    row('download p50 / p99, ms', (s) => `${f1(s.download.p50)} / ${f1(s.download.p99)}`),
    row('orders accepted (201)', (s) => String(s.tally.accepted)),
    row('errors (must be 0)', (s) => `${s.tally.errors}${s.tally.errorKinds.length > 0 ? ` (${s.tally.errorKinds.map((k) => `${k.kind} × ${k.count}`).join('; ')})` : ''}`),
    row('orders that got a busy answer first and waited in line (below capacity: expect 0; not in the latencies)', (s) => String(s.tally.waitedInLine)),
    row('lost orders: 201 but not in the database (must be 0)', (s) => String(s.accounting.lost)),
    row('201 but not completed after the run (must be 0)', (s) => `${s.accounting.notCompleted}${s.accounting.notCompleted > 0 ? ` (${Object.entries(s.accounting.notCompletedByState).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`),
    row('orders in the database without a 201 to the client', (s) => String(s.accounting.unacknowledged)),
    '',
    `CPU, average cores over each run's window (from /proc; 1.00 = one core all the time). PostgreSQL counts only the backends serving our receptions' connections; Redis is the machine's one \`redis-server\`, shared with whatever else used it meanwhile.`,
    '',
    head,
    ...cpuRows,
    row('load generator', (s) => f2(s.loadGeneratorCores)),
    row('whole machine (everything)', (s) => f2(s.machineCores)),
    row('taken by the hypervisor for other guests (steal)', (s) => f2(s.stolenCores)),
    row('whole machine\'s CPU per order, ms (cores × 1000 / orders/s)', (s) => f2((s.machineCores * 1000) / s.ordersPerSecond)),
    row('receptions\' CPU per order, ms', (s) => f2((s.cpu.filter((c) => c.name.startsWith('reception')).reduce((sum, c) => sum + c.cores, 0) * 1000) / s.ordersPerSecond)),
    '',
    'Peak resident memory (VmHWM from /proc, MiB) of each process over its life:',
    '',
    head,
    ...[...new Set(systems.flatMap((s) => s.peakRss.map((m) => m.name)))].map((n) => row(n, (s) => f1(s.peakRss.find((m) => m.name === n)?.mib ?? Number.NaN))),
    '',
    'The receptions\' JavaScript threads as the scheduler saw them over the profiled span (`/proc/PID/task/PID/schedstat`): time running on a CPU, and time runnable but waiting for one. A CPU profile samples wall-clock time, so a sample taken while the thread waits for a CPU lands on whatever it was doing when it lost the CPU — often the system call that woke a peer on the other core.',
    '',
    '| system | reception | span, s | on a CPU, s | waiting for a CPU, s | switches: blocked / preempted |',
    '|---|---|--:|--:|--:|--:|',
    ...systems.flatMap((s) => s.scheduling.map((r) => `| ${s.name} | ${r.name} | ${f1(r.windowS)} | ${f1(r.onCpuNs / 1e9)} | ${f1(r.waitingNs / 1e9)} | ${r.voluntarySwitches} / ${r.involuntarySwitches} |`)),
    '',
    ...systems.flatMap((s) => [`**Where the receptions spend their CPU (${s.name})**, self time from their CPU profiles (profiled from the start of the measured window until the stop, so \`idle\` includes the settle wait after the load; the tables share out the busy time):`, '', s.profile, '']),
  ].join('\n');
}

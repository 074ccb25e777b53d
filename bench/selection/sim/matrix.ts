import type { PolicyName } from '../../../src/core/selection/policy-name.js';
import { policyNames } from '../../../src/core/selection/policy-name.js';
import type { Scenario, ServerSpec, Workload } from './scenario.js';
import { baseScenario, equalFleet, flashCrowd, mixedFleet, receptionCounts, reportIntervalsS, steadyLoad } from './scenarios.js';
import { simulate, type RunResult, type SimPolicy } from './simulate.js';

// Every policy over every scenario, each over several seeds; a cell is the mean over the seeds
// (the per-seed runs are kept for the goal checks, which compare seed by seed).

export type WorkloadName = 'flash' | 'steady';
export type FleetName = 'mixed' | 'equal';

export interface Cell {
  readonly fleet: FleetName;
  readonly workload: WorkloadName;
  readonly receptions: number;
  readonly reportIntervalS: number;
  readonly policy: SimPolicy;
  readonly runs: readonly RunResult[];
}

export const simPolicies: readonly SimPolicy[] = ['dns', ...policyNames];

const fleets: Record<FleetName, readonly ServerSpec[]> = { mixed: mixedFleet, equal: equalFleet };
const workloads: Record<WorkloadName, Workload> = { flash: flashCrowd, steady: steadyLoad };

export interface CellKey {
  readonly fleet: FleetName;
  readonly workload: WorkloadName;
  readonly receptions: number;
  readonly reportIntervalS: number;
}

/** The published grid: both workloads × reports × receptions on the mixed fleet, and the equal fleet as a control. */
export function publishedKeys(): CellKey[] {
  const keys: CellKey[] = [];
  for (const workload of ['flash', 'steady'] as const) {
    for (const receptions of receptionCounts) {
      for (const reportIntervalS of reportIntervalsS) keys.push({ fleet: 'mixed', workload, receptions, reportIntervalS });
    }
  }
  for (const receptions of receptionCounts) keys.push({ fleet: 'equal', workload: 'steady', receptions, reportIntervalS: 1 });
  return keys;
}

export function scenarioOf(key: CellKey): Scenario {
  return { ...baseScenario, fleet: fleets[key.fleet], workload: workloads[key.workload], receptions: key.receptions, reportIntervalS: key.reportIntervalS };
}

/** DNS round robin knows nothing of receptions or reports: one run per fleet, workload and seed serves every column. */
const dnsRuns = new Map<string, RunResult>();

export function runCell(key: CellKey, policy: SimPolicy, seeds: readonly number[]): Cell {
  const run = (seed: number): RunResult => {
    if (policy !== 'dns') return simulate(scenarioOf(key), policy, seed);
    const memo = `${key.fleet}/${key.workload}/${seed}`;
    const known = dnsRuns.get(memo);
    if (known) return known;
    const fresh = simulate(scenarioOf(key), policy, seed);
    dnsRuns.set(memo, fresh);
    return fresh;
  };
  return { ...key, policy, runs: seeds.map(run) };
}

export function mean(cell: Cell, pick: (r: RunResult) => number): number {
  return cell.runs.reduce((a, r) => a + pick(r), 0) / cell.runs.length;
}

export function find(cells: readonly Cell[], key: CellKey, policy: SimPolicy): Cell | undefined {
  return cells.find(
    (c) =>
      c.fleet === key.fleet &&
      c.workload === key.workload &&
      c.receptions === key.receptions &&
      c.reportIntervalS === key.reportIntervalS &&
      c.policy === policy,
  );
}

export type { PolicyName };

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { addContent } from '../../../src/cli/admin-client.js';
import { makeClients } from '../sim/clients.js';
import { simulate, type SimPolicy } from '../sim/simulate.js';
import type { LiveCluster } from './live-cluster.js';
import type { SimFigures } from './live-report.js';
import { itemSizes, liveFleet, liveScenario, quantised, type LiveWorkloadName, type ReportMode } from './live-scenario.js';

// What the live selection runs share (`npm run bench:selection:live` and its repeated study,
// `npm run bench:selection:repeat`): the clients, the items, the simulator's figures for a cell,
// and the commit measured.

const SIM_SEEDS = [1, 2, 3, 4, 5];
/** The clients are drawn once, from this seed: every policy and setup meets the same ones. */
const CLIENT_SEED = 1;

export type Clients = ReturnType<typeof quantised>;

export function liveClients(pace = 1): Record<LiveWorkloadName, Clients> {
  return {
    flash: quantised(makeClients(liveScenario('flash', 1, 1, pace), CLIENT_SEED)),
    steady: quantised(makeClients(liveScenario('steady', 1, 1, pace), CLIENT_SEED)),
  };
}

/** The simulator on a live cell's scenario and clients: the mean of 5 seeds of its own chance. */
export function simFigures(workload: LiveWorkloadName, receptions: number, intervalS: number, policy: SimPolicy, clients: Clients, pace: number, reports: ReportMode): SimFigures {
  const runs = SIM_SEEDS.map((seed) => simulate(liveScenario(workload, receptions, intervalS, pace, reports), policy, seed, { clients }));
  const mean = (pick: (r: (typeof runs)[number]) => number): number => runs.reduce((a, r) => a + pick(r), 0) / runs.length;
  return {
    p50S: mean((r) => r.p50S),
    p99S: mean((r) => r.p99S),
    maxUtilisation: mean((r) => r.maxUtilisation),
    meanUtilisation: mean((r) => r.meanUtilisation),
    refusals: mean((r) => r.refusals),
    noticesRefused: mean((r) => r.noticesRefused),
  };
}

/** The 1-, 5- and 15-minute load averages, as a run records them. */
export const loadAverage = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

export function commitOf(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    // Tracked files only: results and the docs are what a run writes.
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'bench/selection'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} (with uncommitted changes in src/ or bench/selection/)` : head;
  } catch {
    return 'unknown';
  }
}

/** Adds one file per item size, replicated to every content server; returns content ID by size. */
export async function addItems(cluster: LiveCluster): Promise<(bytes: number) => string> {
  await cluster.startSetup({ receptions: 1, reportIntervalMs: 1000, dns: false });
  await cluster.startReceptions('default');
  const contentIds = new Map<number, string>();
  for (const size of itemSizes) {
    const path = join(cluster.dataDir, `item-${size}.bin`);
    writeFileSync(path, randomBytes(size));
    const response = await addContent(cluster.admin, path, `Item of ${size} bytes`);
    const body = response.json as { content: { id: string }; replicas: unknown[] };
    if (response.status !== 201 || body.replicas.length !== liveFleet.length) throw new Error(`adding an item: ${response.status} ${JSON.stringify(body)}`);
    contentIds.set(size, body.content.id);
  }
  await cluster.stopSetup();
  return (bytes) => {
    const id = contentIds.get(bytes);
    if (id === undefined) throw new Error(`no item of ${bytes} bytes`);
    return id;
  };
}

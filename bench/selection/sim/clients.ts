import { seededRandom } from '../../../src/core/selection/seeded-random.js';
import { deriveSeed } from './derive-seed.js';
import { logUniformMean, nominalThroughputBps, type Scenario } from './scenario.js';

/** One client of a run: when it orders, what, over which downlink, from where. */
export interface ClientSpec {
  readonly arriveS: number;
  readonly bytes: number;
  readonly downlinkBps: number;
  readonly area: string;
  /** Whether its figures count (steady load leaves out the warm-up). */
  readonly measured: boolean;
}

/**
 * The clients of a scenario, drawn from the seed alone: every policy, report interval and
 * number of receptions meets the very same clients (common random numbers), so differences in
 * the table come from the policy, not from luck in the draw.
 */
export function makeClients(scenario: Pick<Scenario, 'workload' | 'itemBytes' | 'clientDownlinkBps' | 'clientAreas' | 'fleet'>, seed: number): ClientSpec[] {
  const random = seededRandom(deriveSeed(seed, 'clients'));
  const logUniform = ([a, b]: readonly [number, number]): number => a * Math.exp(random.next() * Math.log(b / a));
  const area = (): string => {
    let u = random.next();
    for (const a of scenario.clientAreas) {
      if (u < a.share) return a.area;
      u -= a.share;
    }
    return (scenario.clientAreas[scenario.clientAreas.length - 1] as { area: string }).area;
  };
  const client = (arriveS: number, measured: boolean): ClientSpec => ({
    arriveS,
    bytes: Math.round(logUniform(scenario.itemBytes)),
    downlinkBps: logUniform(scenario.clientDownlinkBps),
    area: area(),
    measured,
  });
  const w = scenario.workload;
  const out: ClientSpec[] = [];
  if (w.kind === 'flash') {
    for (let i = 0; i < w.clients; i++) out.push(client((w.withinS * (i + random.next())) / w.clients, true));
    return out;
  }
  const ratePerS = (w.load * nominalThroughputBps(scenario)) / logUniformMean(scenario.itemBytes);
  for (let t = -Math.log(1 - random.next()) / ratePerS; t < w.durationS; t += -Math.log(1 - random.next()) / ratePerS) {
    out.push(client(t, t >= w.warmupS));
  }
  return out;
}

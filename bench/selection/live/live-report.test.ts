import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SimPolicy } from '../sim/simulate.js';
import { goals, rankingChecks, type LiveCell } from './live-report.js';
import type { LiveFigures } from './run-cell.js';

function cell(policy: SimPolicy, liveP99: number, simP99: number, extra: Partial<LiveFigures> = {}, receptions = 1, reportIntervalS = 1): LiveCell {
  const live: LiveFigures = {
    orders: 100,
    failed: 0,
    p50S: 1,
    p99S: liveP99,
    maxUtilisation: 0.5,
    meanUtilisation: 0.4,
    refusals: 0,
    restarts: 0,
    noticesRefused: 0,
    servers: [],
    loadAverage: 1,
    wallS: 10,
    errors: [],
    ...extra,
  };
  return { workload: 'steady', receptions, reportIntervalS, policy, live, sim: { p50S: 1, p99S: simP99, maxUtilisation: 0.5, meanUtilisation: 0.4, refusals: 0, noticesRefused: 0 } };
}

describe('live report', () => {
  it('ranks by p99, counting pairs within the margins as ties and flagging only opposite orders', () => {
    const [check] = rankingChecks([
      cell('round-robin', 10, 10),
      cell('random', 10.5, 8), // live: a tie with round-robin (5 % apart); simulator: clearly faster
      cell('default', 6, 9.5), // both: faster than round-robin and random... except the simulator against random
    ]);
    assert.ok(check);
    // round-robin/random: tie live; round-robin/default: alike; random/default: live default faster, sim random faster.
    assert.equal(check.agreeing, 1);
    assert.deepEqual(check.opposite, ['random/default']);
    assert.equal(check.tiedInOne, 1);
  });

  it('checks the goals against the DNS row and the stale-report setups', () => {
    const cells = [
      cell('dns', 100, 120),
      cell('default', 40, 50),
      cell('default', 30, 30, {}, 4, 0.1),
      cell('default', 45, 33, { noticesRefused: 10 }, 4, 5),
      cell('random', 44, 35, {}, 4, 5),
      cell('least-loaded', 50, 40, { noticesRefused: 30 }, 4, 5),
    ];
    const byGoal = new Map(goals(cells).map((g) => [g.goal, g.met]));
    assert.equal(byGoal.get("steady: default p99 ≤ 0.5 × DNS round robin's"), true);
    assert.equal(byGoal.get('steady, 4 receptions, 5 s reports: default p99 within 1.6 × its p99 with 0.1 s reports'), true);
    assert.equal(byGoal.get('steady, 4 receptions, 5 s reports: default p99 not worse than random'), false);
    assert.equal(byGoal.get('naive least-loaded visibly herds (steady, 4 receptions, 5 s reports)'), true);
  });
});

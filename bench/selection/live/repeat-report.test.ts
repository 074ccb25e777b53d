import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SimPolicy } from '../sim/simulate.js';
import type { LiveFigures } from './run-cell.js';
import { clearOrder, pairedDifference, summarise, t95 } from '../paired-stats.js';
import { RepeatTable, repeatGoals, repeatRankings, type RepeatCell } from './repeat-report.js';

function cell(policy: SimPolicy, rep: number, p99: number, reportIntervalS = 5, extra: Partial<LiveFigures> = {}, simP99 = 10): RepeatCell {
  const live: LiveFigures = {
    orders: 300,
    failed: 0,
    p50S: 1,
    p99S: p99,
    maxUtilisation: 0.9,
    meanUtilisation: 0.8,
    refusals: 0,
    restarts: 0,
    noticesRefused: 0,
    servers: [],
    loadAverage: 1,
    wallS: 20,
    errors: [],
    ...extra,
  };
  return { rep, workload: 'steady', receptions: 4, reportIntervalS, policy, live, sim: { p50S: 1, p99S: simP99, maxUtilisation: 0.9, meanUtilisation: 0.8, refusals: 0, noticesRefused: 0 } };
}

describe('repeated live study: statistics', () => {
  it('summarises with the sample standard deviation', () => {
    const s = summarise([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(s.mean, 5);
    assert.ok(Math.abs(s.sd - 2.138) < 0.001);
    assert.equal(s.min, 2);
    assert.equal(s.max, 9);
    assert.ok(Number.isNaN(summarise([3]).sd));
  });

  it('uses Student t quantiles for small samples', () => {
    assert.equal(t95(2), 4.303);
    assert.equal(t95(100), 1.96);
    assert.ok(Number.isNaN(t95(0)));
  });

  it('pairs by repetition and orders a pair only when the 95 % interval is clear of zero', () => {
    const a = new Map([[1, 10], [2, 11], [3, 12]]);
    const b = new Map([[1, 12], [2, 13.1], [3, 13.9]]);
    const d = pairedDifference(a, b);
    assert.equal(d.n, 3);
    assert.ok(Math.abs(d.mean - -2) < 1e-9);
    assert.ok(d.high < 0, 'a consistent 2 s gap is clear');
    assert.equal(clearOrder(d), -1);
    const noisy = pairedDifference(new Map([[1, 10], [2, 14], [3, 9]]), new Map([[1, 12], [2, 10], [3, 11]]));
    assert.equal(clearOrder(noisy), 0, 'differences of both signs are not told apart');
    assert.equal(clearOrder(pairedDifference(new Map([[1, 1]]), new Map([[1, 5]]))), 0, 'one pair is never enough');
    assert.equal(pairedDifference(new Map([[1, 1], [2, 2]]), new Map([[2, 2], [3, 3]])).n, 1, 'only repetitions both have');
  });
});

describe('repeated live study: goals and rankings', () => {
  it('says the default is not worse than random only when its mean is no higher, and "within the noise" when the gap is not clear', () => {
    const better = new RepeatTable([cell('default', 1, 6), cell('default', 2, 7), cell('random', 1, 7), cell('random', 2, 7.5)]);
    assert.equal(repeatGoals(better).find((g) => g.goal.includes('not worse than random'))?.verdict, 'yes');
    const noisy = new RepeatTable([cell('default', 1, 8), cell('default', 2, 6), cell('default', 3, 7.6), cell('random', 1, 6), cell('random', 2, 7), cell('random', 3, 7)]);
    assert.equal(repeatGoals(noisy).find((g) => g.goal.includes('not worse than random'))?.verdict, 'within the noise');
    const worse = new RepeatTable([cell('default', 1, 9), cell('default', 2, 9.2), cell('default', 3, 9.1), cell('random', 1, 6), cell('random', 2, 6.1), cell('random', 3, 6.3)]);
    assert.equal(repeatGoals(worse).find((g) => g.goal.includes('not worse than random'))?.verdict, 'no');
  });

  it('compares stale with fresh reports on the means', () => {
    const t = new RepeatTable([cell('default', 1, 10, 5), cell('default', 2, 12, 5), cell('default', 1, 6, 0.1), cell('default', 2, 8, 0.1)]);
    const goal = repeatGoals(t).find((g) => g.goal.includes('within 1.6'));
    assert.equal(goal?.verdict, 'yes');
    assert.match(goal?.detail ?? '', /1\.57×/);
  });

  it('counts a pair as agreeing only when both the live runs and the simulator tell it apart the same way', () => {
    const t = new RepeatTable([
      cell('default', 1, 6, 5, {}, 6), cell('default', 2, 6.2, 5, {}, 6), cell('default', 3, 6.1, 5, {}, 6),
      cell('random', 1, 8, 5, {}, 7), cell('random', 2, 8.3, 5, {}, 7), cell('random', 3, 8.1, 5, {}, 7),
      cell('least-loaded', 1, 5, 5, {}, 8), cell('least-loaded', 2, 9, 5, {}, 8), cell('least-loaded', 3, 7, 5, {}, 8),
    ]);
    const [r] = repeatRankings(t);
    assert.deepEqual(r?.agreeing, ['default < random']);
    assert.deepEqual(r?.opposite, []);
    assert.equal(r?.tied, 2);
  });
});

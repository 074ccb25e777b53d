import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { policyNames } from '../../../src/core/selection/policy-name.js';
import { makeClients } from './clients.js';
import { EventQueue } from './event-queue.js';
import { maxMinShare } from './max-min-share.js';
import { MiB, nominalThroughputBps, type Scenario } from './scenario.js';
import { baseScenario } from './scenarios.js';
import { liveScenario } from '../live/live-scenario.js';
import { simulate } from './simulate.js';

// The simulator's own checks: it repeats itself, keeps its books, and its model gives the
// textbook answer where there is one. (The published runs are `npm run bench:selection:sim`.)

const small: Scenario = {
  ...baseScenario,
  workload: { kind: 'flash', clients: 300, withinS: 2 },
  receptions: 4,
  reportIntervalS: 1,
};
const steady: Scenario = { ...small, workload: { kind: 'steady', load: 0.9, durationS: 40, warmupS: 5 } };

describe('selection simulator', () => {
  it('gives the same numbers for the same seed, and others for another seed', () => {
    for (const policy of ['dns', ...policyNames] as const) {
      const a = simulate(small, policy, 42);
      const b = simulate(small, policy, 42);
      assert.deepEqual(a, b, policy);
      assert.notDeepEqual(simulate(small, policy, 43).p50S, a.p50S, policy);
    }
  });

  it('serves every order once and never holds more slots than a server has', () => {
    for (const scenario of [small, steady]) {
      // Not dns: plain web servers have no slots to hold to.
      for (const policy of policyNames) {
        const run = simulate(scenario, policy, 7, { sampleEveryS: 0.05 });
        assert.equal(run.completed, run.orders, policy);
        assert.equal(
          run.servers.reduce((a, s) => a + s.served, 0),
          makeClients(scenario, 7).length,
        );
        for (const sample of run.samples) {
          sample.taken.forEach((taken, i) => {
            const slots = (scenario.fleet[i] as { slots: number }).slots;
            assert.ok(taken >= 0 && taken <= slots, `${policy}: ${taken} of ${slots} slots at ${sample.t}`);
          });
        }
        assert.ok(run.maxUtilisation <= 1 && run.meanUtilisation > 0);
        assert.ok(run.p99S >= run.p50S && run.p50S > 0);
      }
    }
  });

  it('with reports on slot changes, naive least-loaded on a 5 s interval herds far less than with the interval alone', () => {
    const periodic: Scenario = { ...steady, receptions: 4, reportIntervalS: 5 };
    const onChange: Scenario = { ...periodic, reportOnChangeGapS: 0.05 };
    const refused = (scenario: Scenario): number => simulate(scenario, 'least-loaded', 11).noticesRefused;
    const [withInterval, withChanges] = [refused(periodic), refused(onChange)];
    assert.ok(withInterval > 0);
    assert.ok(withChanges < withInterval / 2, `refused notices: ${withChanges} with reports on changes, ${withInterval} on the interval only`);
  });

  it('with 5 s reports, bringing them forward from their own slot figures turns fewer clients away', () => {
    // Without the forecast a reception counts every slot a report showed as taken until the next
    // report, up to 5 s on, though most of those transfers ended within a second or two.
    // The live harness's scaled fleet (32/16/4/4 slots) at 75 %, where slots run out now and then.
    const old = liveScenario('steady', 4, 5);
    const seeds = [1, 2, 3, 4, 5];
    const busy = (slotForecasts: boolean): number => seeds.reduce((n, seed) => n + simulate(old, 'default', seed, { slotForecasts }).refusals, 0);
    const [forecast, count] = [busy(true), busy(false)];
    assert.ok(count > 0);
    assert.ok(forecast < count * 0.8, `clients told to come back over ${seeds.length} seeds: ${forecast} with forecasts, ${count} with the count alone`);
  });

  it('meets every policy with the same clients (common random numbers)', () => {
    const one: Scenario = { ...steady, receptions: 1 };
    const four: Scenario = { ...steady, receptions: 4, reportIntervalS: 5 };
    const a = makeClients(one, 3);
    const b = makeClients(four, 3);
    assert.deepEqual(a, b);
    // Poisson at 90 % of nominal throughput: about the expected number of arrivals.
    const expected = (0.9 * nominalThroughputBps(steady) * 40) / ((32 * MiB - 0.5 * MiB) / Math.log(64));
    assert.ok(Math.abs(a.length - expected) < 4 * Math.sqrt(expected), `${a.length} arrivals, expected about ${expected.toFixed(0)}`);
  });

  it('times one client alone exactly: the ticket, two round trips, then the bytes at the slowest of throttle, downlink and uplink', () => {
    const alone: Scenario = {
      ...baseScenario,
      fleet: [{ id: 'only', area: 'a', slots: 1, perTransferBps: 2 * MiB, uplinkBps: 100 * MiB }],
      clientAreas: [{ area: 'a', share: 1 }],
      workload: { kind: 'flash', clients: 1, withinS: 0 },
      receptions: 1,
      reportIntervalS: 1,
    };
    const [client] = makeClients(alone, 1);
    assert.ok(client);
    const run = simulate(alone, 'default', 1);
    const expected = 0.001 + 0.02 / 2 + 2 * 0.02 + client.bytes / Math.min(client.downlinkBps, 2 * MiB);
    assert.ok(Math.abs(run.p50S - expected) < 1e-6, `${run.p50S} against ${expected}`);
  });

  it('makes a client come back when every server refused, and counts it', () => {
    const one: Scenario = {
      ...baseScenario,
      fleet: [{ id: 'only', area: 'a', slots: 1, perTransferBps: 2 * MiB, uplinkBps: 100 * MiB }],
      workload: { kind: 'flash', clients: 3, withinS: 0.001 },
      receptions: 1,
      reportIntervalS: 0.1,
    };
    const run = simulate(one, 'round-robin', 1);
    assert.equal(run.completed, 3);
    assert.ok(run.refusals >= 2, `${run.refusals} refusals`);
  });

  it('runs DNS round robin as plain web servers: nobody refused, each server takes every fourth client, transfers share its uplink', () => {
    const run = simulate(small, 'dns', 5);
    assert.equal(run.completed, run.orders);
    assert.equal(run.refusals, 0);
    assert.equal(run.noticesRefused, 0);
    const counts = run.servers.map((s) => s.served);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `served ${counts.join('/')}`);
    // The 8-slot servers get a quarter of the crowd: far more transfers at once than their slots.
    assert.ok(run.maxUtilisation > 1, `max utilisation ${run.maxUtilisation}`);
  });

  it('times a DNS client alone by its downlink and the uplink, with no throttle', () => {
    const alone: Scenario = {
      ...baseScenario,
      fleet: [{ id: 'only', area: 'a', slots: 1, perTransferBps: 1 * MiB, uplinkBps: 3 * MiB }],
      clientAreas: [{ area: 'a', share: 1 }],
      workload: { kind: 'flash', clients: 1, withinS: 0 },
      receptions: 1,
      reportIntervalS: 1,
    };
    const client = { arriveS: 0, bytes: 6 * MiB, downlinkBps: 100 * MiB, area: 'a', measured: true };
    const run = simulate(alone, 'dns', 1, { clients: [client] });
    const expected = 0.001 + 0.02 / 2 + 2 * 0.02 + 2;
    assert.ok(Math.abs(run.p50S - expected) < 1e-6, `${run.p50S} against ${expected}`);
  });
});

describe('maxMinShare', () => {
  it('meets small caps in full, splits the rest equally, never gives more than there is', () => {
    assert.deepEqual(maxMinShare([1, 10, 10], 9), [1, 4, 4]);
    assert.deepEqual(maxMinShare([1, 2], 10), [1, 2]);
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.1, max: 100, noNaN: true }), { maxLength: 20 }), fc.double({ min: 0, max: 500, noNaN: true }), (caps, total) => {
        const rates = maxMinShare(caps, total);
        const sum = rates.reduce((a, b) => a + b, 0);
        assert.ok(sum <= total + 1e-9);
        rates.forEach((r, i) => assert.ok(r <= (caps[i] as number) + 1e-12 && r >= 0));
        // Work-conserving: either every cap is met or the uplink is used up.
        assert.ok(rates.every((r, i) => Math.abs(r - (caps[i] as number)) < 1e-9) || Math.abs(sum - total) < 1e-6);
      }),
    );
  });
});

describe('EventQueue', () => {
  it('runs in time order, ties in the order scheduled', () => {
    const q = new EventQueue();
    const seen: string[] = [];
    q.at(2, () => seen.push('c'));
    q.at(1, () => seen.push('a'));
    q.at(1, () => {
      seen.push('b');
      q.after(0, () => seen.push('b2'));
    });
    q.run();
    assert.deepEqual(seen, ['a', 'b', 'b2', 'c']);
    assert.throws(() => q.at(1, () => undefined), RangeError);
  });
});

import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../clock.js';
import type { Candidate } from './candidate.js';
import { createPolicy } from './create-policy.js';
import { eligible } from './eligible.js';
import { expectedTaken } from './expected-taken.js';
import { policyNames, type PolicyName } from './policy-name.js';
import { seededRandom } from './seeded-random.js';
import type { SelectionPolicy } from './selection-policy.js';

// One contract every policy keeps (run for each name, as hono runs one router suite for every
// router), then what tells the policies apart.

const NOW = Date.UTC(2026, 0, 1);
const STALE_MS = 5000;
const BAND = 0.1;

function build(name: PolicyName, seed = 1): SelectionPolicy {
  return createPolicy(name, { clock: new ManualClock(NOW), random: seededRandom(seed), staleAfterMs: STALE_MS, equalLoadBand: BAND });
}

function server(id: string, over: Partial<Candidate> = {}): Candidate {
  return {
    serverId: id,
    capacity: 10,
    reportedTaken: 0,
    pendingNotices: 0,
    releasesSinceReport: 0,
    refusedSinceReport: false,
    draining: false,
    reportedAt: NOW,
    area: 'a',
    cost: 1,
    ...over,
  };
}

const candidateArb: fc.Arbitrary<Omit<Candidate, 'serverId'>> = fc.record({
  capacity: fc.integer({ min: 0, max: 64 }),
  reportedTaken: fc.integer({ min: 0, max: 70 }),
  pendingNotices: fc.integer({ min: 0, max: 10 }),
  releasesSinceReport: fc.integer({ min: 0, max: 10 }),
  refusedSinceReport: fc.boolean(),
  draining: fc.boolean(),
  reportedAt: fc.integer({ min: NOW - 2 * STALE_MS, max: NOW }),
  area: fc.constantFrom('a', 'b', 'c'),
  cost: fc.integer({ min: 0, max: 100 }),
  costByArea: fc.option(fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 100 })), { nil: undefined }),
  reportedSlotsFreeAt: fc.option(fc.array(fc.oneof(fc.integer({ min: NOW - STALE_MS, max: NOW + STALE_MS }), fc.constant(Infinity)), { maxLength: 70 }), {
    nil: undefined,
  }),
});

/** Several candidates with distinct IDs. */
const fleetArb = fc
  .array(candidateArb, { minLength: 0, maxLength: 12 })
  .map((cs) => cs.map((c, i) => ({ ...c, serverId: `s${String(i).padStart(2, '0')}` }) as Candidate));

const requestArb = fc.record({ candidates: fleetArb, clientArea: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }) });

for (const name of policyNames) {
  describe(`selection policy ${name}: the contract`, () => {
    it('names every eligible server once and nothing else: never a full, draining or silent one', () => {
      fc.assert(
        fc.property(fc.array(requestArb, { minLength: 1, maxLength: 5 }), fc.integer(), (requests, seed) => {
          const policy = build(name, seed);
          for (const request of requests) {
            const ordered = policy.order(request);
            const byId = new Map(request.candidates.map((c) => [c.serverId, c]));
            assert.equal(new Set(ordered).size, ordered.length, 'no server twice');
            for (const id of ordered) {
              const c = byId.get(id);
              assert.ok(c, 'only candidates');
              assert.ok(!c.draining, 'not draining');
              assert.ok(NOW - c.reportedAt <= STALE_MS, 'not silent');
              assert.ok(!c.refusedSinceReport && expectedTaken(c, NOW) < c.capacity, 'not full');
            }
            const expected = eligible(request.candidates, NOW, STALE_MS).map((c) => c.serverId).sort();
            assert.deepEqual([...ordered].sort(), expected, 'every eligible server, as fallbacks');
          }
        }),
      );
    });

    it('answers the same for the same seed and the same orders', () => {
      fc.assert(
        fc.property(fc.array(requestArb, { minLength: 1, maxLength: 8 }), fc.integer(), (requests, seed) => {
          const a = build(name, seed);
          const b = build(name, seed);
          for (const request of requests) assert.deepEqual(a.order(request), b.order(request));
        }),
      );
    });

    it('does not depend on the order the candidates are listed in', () => {
      fc.assert(
        fc.property(requestArb, fc.integer(), (request, seed) => {
          const reversed = { ...request, candidates: [...request.candidates].reverse() };
          assert.deepEqual(build(name, seed).order(request), build(name, seed).order(reversed));
        }),
      );
    });

    it('counts a server silent for longer than the stale bound as dead, and takes it back when it reports again', () => {
      const policy = build(name);
      const silent = server('s1', { reportedAt: NOW - STALE_MS - 1 });
      assert.deepEqual(policy.order({ candidates: [silent] }), []);
      assert.deepEqual(policy.order({ candidates: [{ ...silent, reportedAt: NOW - 10 }] }), ['s1']);
    });
  });
}

describe('round robin', () => {
  it('cycles through the eligible servers in ID order, one step per order, whatever their load', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 9 }), fc.integer({ min: 1, max: 4 }), (loads, laps) => {
        const candidates = loads.map((taken, i) => server(`s${i}`, { reportedTaken: taken }));
        const policy = build('round-robin');
        const firsts = Array.from({ length: loads.length * laps }, () => policy.order({ candidates })[0]);
        const expected = Array.from({ length: loads.length * laps }, (_, k) => `s${k % loads.length}`);
        assert.deepEqual(firsts, expected);
      }),
    );
  });

  it('skips a server that fills and keeps its place in the ring', () => {
    const policy = build('round-robin');
    const fleet = [server('a'), server('b'), server('c')];
    assert.equal(policy.order({ candidates: fleet })[0], 'a');
    const bFull = [fleet[0] as Candidate, server('b', { reportedTaken: 10 }), fleet[2] as Candidate];
    assert.deepEqual(policy.order({ candidates: bFull }), ['c', 'a']);
    assert.deepEqual(policy.order({ candidates: fleet }), ['a', 'b', 'c']);
  });
});

/** How often each server is named first over `n` orders against the same view. */
function firstCounts(policy: SelectionPolicy, candidates: readonly Candidate[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const first = policy.order({ candidates })[0] as string;
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return counts;
}

describe('weights by capacity', () => {
  const capacitiesArb = fc.array(fc.integer({ min: 1, max: 32 }), { minLength: 2, maxLength: 6 });

  for (const name of ['random', 'default'] as const) {
    it(`${name}: with equal loads and distances, each server comes first in proportion to its slots`, () => {
      fc.assert(
        fc.property(capacitiesArb, fc.integer(), (capacities, seed) => {
          const candidates = capacities.map((capacity, i) => server(`s${i}`, { capacity }));
          const n = 6000;
          const counts = firstCounts(build(name, seed), candidates, n);
          const total = capacities.reduce((a, b) => a + b, 0);
          capacities.forEach((capacity, i) => {
            const p = capacity / total;
            const observed = counts.get(`s${i}`) ?? 0;
            // Five standard deviations of a binomial: a seeded run that fails this is not chance.
            const slack = 5 * Math.sqrt(n * p * (1 - p)) + 1;
            assert.ok(Math.abs(observed - n * p) <= slack, `s${i} (capacity ${capacity}) first ${observed} times, expected ${(n * p).toFixed(0)} ± ${slack.toFixed(0)}`);
          });
        }),
        { numRuns: 25 },
      );
    });
  }

  it('best-of-two draws uniformly: with equal loads, each server comes first equally often whatever its size', () => {
    const candidates = [server('s0', { capacity: 2 }), server('s1', { capacity: 30 }), server('s2', { capacity: 8 })];
    const n = 6000;
    const counts = firstCounts(build('best-of-two', 7), candidates, n);
    for (const id of ['s0', 's1', 's2']) {
      const observed = counts.get(id) ?? 0;
      assert.ok(Math.abs(observed - n / 3) <= 5 * Math.sqrt((n * 2) / 9) + 1, `${id}: ${observed}`);
    }
  });

  it('loads are compared as shares of capacity: a big server with more slots taken can be the less loaded', () => {
    const big = server('big', { capacity: 40, reportedTaken: 10 });
    const small = server('small', { capacity: 4, reportedTaken: 2 });
    for (const name of ['least-loaded', 'best-of-two', 'default'] as const) {
      assert.deepEqual(build(name).order({ candidates: [small, big] }), ['big', 'small'], name);
    }
  });
});

describe('proximity among servers of about equal load', () => {
  const pairArb = fc.record({
    load: fc.integer({ min: 0, max: 8 }),
    step: fc.integer({ min: 0, max: 1 }),
    nearCost: fc.integer({ min: 0, max: 50 }),
    extra: fc.integer({ min: 1, max: 50 }),
    nearId: fc.constantFrom('a', 'z'),
    seed: fc.integer(),
  });

  it('default: of two servers whose expected loads are within the band, the nearer comes first', () => {
    fc.assert(
      fc.property(pairArb, ({ load, step, nearCost, extra, nearId, seed }) => {
        const farId = nearId === 'a' ? 'z' : 'a';
        // Capacity 10 and one slot apart at most: a difference of 0.1, inside the band.
        const near = server(nearId, { reportedTaken: load + step, cost: nearCost });
        const far = server(farId, { reportedTaken: load, cost: nearCost + extra });
        assert.equal(build('default', seed).order({ candidates: [near, far] })[0], nearId);
      }),
    );
  });

  it('default: outside the band the less loaded wins however far it is', () => {
    const near = server('near', { reportedTaken: 6, cost: 1 });
    const far = server('far', { reportedTaken: 2, cost: 500 });
    assert.deepEqual(build('default').order({ candidates: [near, far] }), ['far', 'near']);
  });

  it('reads the cost from the client area when the operator gave one', () => {
    const a = server('in-a', { area: 'a', cost: 5, costByArea: { a: 1, b: 80 } });
    const b = server('in-b', { area: 'b', cost: 5, costByArea: { a: 80, b: 1 } });
    for (const name of ['least-loaded', 'default'] as const) {
      assert.equal(build(name).order({ candidates: [a, b], clientArea: 'a' })[0], 'in-a', name);
      assert.equal(build(name).order({ candidates: [a, b], clientArea: 'b' })[0], 'in-b', name);
      assert.equal(build(name).order({ candidates: [a, b], clientArea: 'c' })[0], 'in-a', `${name}: no cost from c, equal costs: lower load, then first drawn or ID`);
    }
  });

  it('least-loaded and best-of-two: on an exact tie of reported load, the nearer', () => {
    fc.assert(
      fc.property(pairArb, ({ load, nearCost, extra, nearId, seed }) => {
        const farId = nearId === 'a' ? 'z' : 'a';
        const near = server(nearId, { reportedTaken: load, cost: nearCost });
        const far = server(farId, { reportedTaken: load, cost: nearCost + extra });
        assert.equal(build('least-loaded', seed).order({ candidates: [far, near] })[0], nearId);
        assert.equal(build('best-of-two', seed).order({ candidates: [far, near] })[0], nearId);
      }),
    );
  });
});

describe('what each policy reads', () => {
  it('naive least-loaded reads the report only, so orders between two reports all go to one server', () => {
    const policy = build('least-loaded');
    let a = server('a', { reportedTaken: 2 });
    const b = server('b', { reportedTaken: 3 });
    for (let i = 0; i < 5; i++) {
      assert.equal(policy.order({ candidates: [a, b] })[0], 'a');
      a = { ...a, pendingNotices: a.pendingNotices + 1 };
    }
  });

  it('the default counts its own notices since the report, so it moves on before a server looks full', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 3, max: 5 }), fc.integer(), (taken, pending, seed) => {
        // Reported equal, but this reception sent `pending` notices to a since: 0.3+ apart, out of the band.
        const a = server('a', { reportedTaken: taken, pendingNotices: pending });
        const b = server('b', { reportedTaken: taken });
        assert.equal(build('default', seed).order({ candidates: [a, b] })[0], 'b');
      }),
    );
  });

  it('the default counts its own completions since the report, and a refusal as full', () => {
    const a = server('a', { reportedTaken: 8, releasesSinceReport: 6 });
    const b = server('b', { reportedTaken: 5 });
    assert.equal(build('default').order({ candidates: [a, b] })[0], 'a');
    assert.deepEqual(build('default').order({ candidates: [{ ...b, refusedSinceReport: true }, a] }), ['a']);
  });

  it('the default brings an old report forward: slots the report forecast to have freed by now count as free', () => {
    // Both reported 8 of 10 taken. a's transfers were due to end within the second after the
    // report; b's run for a minute. Four seconds on, a is the emptier one.
    const a = server('a', { reportedTaken: 8, reportedAt: NOW - 4000, reportedSlotsFreeAt: Array.from({ length: 8 }, (_, i) => NOW - 3500 + i * 50) });
    const b = server('b', { reportedTaken: 8, reportedAt: NOW - 4000, reportedSlotsFreeAt: Array.from({ length: 8 }, () => NOW + 60_000) });
    for (let seed = 0; seed < 20; seed++) assert.equal(build('default', seed).order({ candidates: [b, a] })[0], 'a');
    // Naive least-loaded reads the count alone, so the two tie and the nearer (then the ID) wins.
    assert.equal(build('least-loaded').order({ candidates: [b, a] })[0], 'a');
    assert.equal(build('least-loaded').order({ candidates: [{ ...b, serverId: '0' }, a] })[0], '0');
  });

  it('a forecast counts only what the report showed; its own notices since still count in full', () => {
    const now = NOW;
    const freed = server('a', { capacity: 4, reportedTaken: 4, reportedSlotsFreeAt: [now - 1, now - 1, now + 1, Infinity], pendingNotices: 1 });
    assert.equal(expectedTaken(freed, now), 3, 'two slots still taken by the forecast (one listed, one not), plus one own notice');
    assert.equal(expectedTaken({ ...freed, pendingNotices: 2 }, now), 4, 'full again with another own notice');
    assert.deepEqual(eligible([{ ...freed, pendingNotices: 2 }], now, STALE_MS), [], 'and then not eligible');
    assert.equal(expectedTaken({ ...freed, refusedSinceReport: true }, now), 4, 'a refusal since the report still means full');
    assert.equal(expectedTaken({ ...freed, reportedSlotsFreeAt: undefined }, now), 4, 'without a forecast, the count stands');
  });

  it('spreads orders against one stale view: the default and best-of-two do not herd, least-loaded does', () => {
    const candidates = Array.from({ length: 4 }, (_, i) => server(`s${i}`, { reportedTaken: i === 0 ? 4 : 5 }));
    const spread = (name: PolicyName): number => firstCounts(build(name, 3), candidates, 400).size;
    assert.equal(spread('least-loaded'), 1);
    assert.equal(spread('best-of-two'), 4);
    assert.equal(spread('default'), 4);
  });
});

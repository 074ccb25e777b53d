import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { serverHealth, staleAfterMs, takesNewTickets, type HealthInputs, type StalenessPolicy } from './server-health.js';

const policy: StalenessPolicy = { missedReports: 3, minStaleMs: 1000, maxStaleMs: 30_000 };

describe('staleAfterMs', () => {
  it('is three missed intervals, within the floor and the ceiling', () => {
    assert.equal(staleAfterMs(1000, policy), 3000);
    assert.equal(staleAfterMs(5000, policy), 15_000);
    assert.equal(staleAfterMs(100, policy), 1000, 'floor: 3 × 100 ms would flap on a busy machine');
    assert.equal(staleAfterMs(60_000, policy), 30_000, 'ceiling');
  });

  it('falls back to the ceiling when the server did not announce an interval', () => {
    assert.equal(staleAfterMs(undefined, policy), 30_000);
    assert.equal(staleAfterMs(0, policy), 30_000);
    assert.equal(staleAfterMs(Number.NaN, policy), 30_000);
  });

  it('never leaves [floor, ceiling] and grows with the interval', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_600_000 }), fc.integer({ min: 1, max: 3_600_000 }), fc.integer({ min: 1, max: 20 }), (a, b, missed) => {
        const p = { ...policy, missedReports: missed };
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const x = staleAfterMs(lo, p);
        assert.ok(x >= p.minStaleMs && x <= p.maxStaleMs);
        assert.ok(staleAfterMs(hi, p) >= x);
      }),
    );
  });
});

const inputs = fc.record<HealthInputs>({
  ageMs: fc.integer({ min: 0, max: 100_000 }),
  staleAfterMs: fc.integer({ min: 1, max: 100_000 }),
  drainRequested: fc.boolean(),
  serverDraining: fc.boolean(),
  slotsTaken: fc.integer({ min: 0, max: 100 }),
  activeTransfers: fc.integer({ min: 0, max: 100 }),
});

describe('serverHealth', () => {
  it('names each state', () => {
    const base: HealthInputs = { ageMs: 500, staleAfterMs: 3000, drainRequested: false, serverDraining: false, slotsTaken: 2, activeTransfers: 1 };
    assert.equal(serverHealth(base), 'healthy');
    assert.equal(serverHealth({ ...base, ageMs: 3001 }), 'stale');
    assert.equal(serverHealth({ ...base, ageMs: 3000 }), 'healthy', 'the bound itself is still in time');
    assert.equal(serverHealth({ ...base, drainRequested: true }), 'draining');
    assert.equal(serverHealth({ ...base, serverDraining: true }), 'draining');
    assert.equal(serverHealth({ ...base, drainRequested: true, slotsTaken: 0, activeTransfers: 0 }), 'drained');
    assert.equal(serverHealth({ ...base, drainRequested: true, slotsTaken: 1, activeTransfers: 0 }), 'draining', 'a held slot is work to finish');
    assert.equal(serverHealth({ ...base, drainRequested: true, ageMs: 9000 }), 'stale', 'silence wins: we cannot know what it is doing');
  });

  it('gives new tickets only to a server that reported in time and is not draining', () => {
    fc.assert(
      fc.property(inputs, (s) => {
        const eligible = takesNewTickets(serverHealth(s));
        assert.equal(eligible, s.ageMs <= s.staleAfterMs && !s.drainRequested && !s.serverDraining);
      }),
    );
  });
});

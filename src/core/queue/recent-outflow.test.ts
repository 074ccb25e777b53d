import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recentOutflowPerS } from './recent-outflow.js';

const T0 = Date.UTC(2026, 0, 1);

describe('recentOutflowPerS', () => {
  it('divides by the line’s age while it is younger than the window, not by the whole window', () => {
    // One admission every 100 ms since T0: 10/s.
    const admissions = Array.from({ length: 31 }, (_, i) => T0 + i * 100);
    assert.equal(recentOutflowPerS(admissions, T0, T0 + 3000), 10);
    // What the reception used to send: 31 admissions ÷ 30 s, about 1/s — ten times too slow.
    assert.notEqual(recentOutflowPerS(admissions, T0, T0 + 3000), 31 / 30);
  });

  it('uses the last 30 s once the line is older', () => {
    const admissions = Array.from({ length: 600 }, (_, i) => T0 + i * 100);
    // 60 s in: the last 30 s held 300 admissions.
    assert.equal(recentOutflowPerS(admissions, T0, T0 + 59_950), 10);
    // A slower outflow recently shows at once.
    const slower = [...admissions.filter((t) => t < T0 + 30_000), ...Array.from({ length: 150 }, (_, i) => T0 + 30_200 + i * 200)];
    assert.equal(recentOutflowPerS(slower, T0, T0 + 60_000), 5);
  });

  it('has no answer for a line under a second old, or with nothing admitted in the span', () => {
    assert.equal(recentOutflowPerS([T0, T0 + 500], T0, T0 + 900), undefined);
    assert.equal(recentOutflowPerS([T0], T0, T0 + 5000), undefined, 'the first admission starts the span; it is not in it');
    assert.equal(recentOutflowPerS([T0 - 40_000], T0 - 40_000, T0), undefined);
    assert.equal(recentOutflowPerS([], T0, T0 + 5000), undefined);
  });

  it('starts over when a new line forms: admissions of the line before do not count', () => {
    const old = Array.from({ length: 50 }, (_, i) => T0 + i * 100);
    const fresh = Array.from({ length: 21 }, (_, i) => T0 + 20_000 + i * 500);
    assert.equal(recentOutflowPerS([...old, ...fresh], T0 + 20_000, T0 + 30_000), 2);
  });
});

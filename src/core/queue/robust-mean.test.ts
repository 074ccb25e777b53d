import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RobustMean } from './robust-mean.js';

describe('RobustMean', () => {
  it('starts as the median of the prior and the first samples', () => {
    const m = new RobustMean(50);
    assert.equal(m.value, 50);
    m.record(200);
    assert.equal(m.value, 125);
    m.record(100);
    assert.equal(m.value, 100);
    m.record(300);
    assert.equal(m.value, 150);
    assert.equal(m.samples, 3);
  });

  it('is not thrown by the slow first measurements of a system that has just started', () => {
    const m = new RobustMean(50);
    for (const x of [1500, 900, 210, 190, 205, 195, 200, 200]) m.record(x);
    assert.ok(Math.abs(m.value - 200) <= 5, `${m.value}`);
    for (let i = 0; i < 20; i++) m.record(200);
    assert.ok(Math.abs(m.value - 200) < 2, `${m.value}`);
  });

  it('ignores samples that are not numbers', () => {
    const m = new RobustMean(10);
    m.record(Number.NaN);
    m.record(Infinity);
    assert.equal(m.value, 10);
    assert.equal(m.samples, 0);
  });

  it('moves only a little for one client who stalls a slot for seconds', () => {
    const m = new RobustMean(0);
    for (let i = 0; i < 50; i++) m.record(200 + (i % 2 === 0 ? 10 : -10));
    const before = m.value;
    m.record(15_000);
    assert.ok(m.value - before < 10, `one 15 s sample moved the mean by ${(m.value - before).toFixed(1)} ms`);
    for (let i = 0; i < 30; i++) m.record(200);
    assert.ok(Math.abs(m.value - 200) < 2);
  });

  it('follows a lasting step, up or down, within a few dozen samples', () => {
    const m = new RobustMean(0);
    for (let i = 0; i < 100; i++) m.record(240);
    for (let i = 0; i < 50; i++) m.record(40);
    assert.ok(Math.abs(m.value - 40) < 5, `${m.value}`);
    for (let i = 0; i < 50; i++) m.record(400);
    assert.ok(Math.abs(m.value - 400) < 10, `${m.value}`);
  });
});

import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressMeter } from './progress-meter.js';

function meterAt(): { meter: ProgressMeter; advance: (ms: number) => void } {
  let now = 0;
  return { meter: new ProgressMeter({ now: () => now, tauMs: 1000 }), advance: (ms) => (now += ms) };
}

test('measures a steady rate and the time left', () => {
  const { meter, advance } = meterAt();
  meter.update(0, 10_000);
  for (let i = 1; i <= 10; i += 1) {
    advance(100);
    meter.update(i * 100, 10_000);
  }
  const p = meter.update(1000, 10_000);
  assert.equal(p.rate, 1000);
  assert.equal(p.etaS, 9);
});

test('bytes already on disk at a resume do not count as speed', () => {
  const { meter, advance } = meterAt();
  meter.update(5_000_000, 6_000_000);
  advance(1000);
  const p = meter.update(5_001_000, 6_000_000);
  assert.equal(p.rate, 1000);
});

test('smooths a sudden change instead of jumping to it', () => {
  const { meter, advance } = meterAt();
  meter.update(0, undefined);
  advance(1000);
  meter.update(1000, undefined);
  advance(200);
  const p = meter.update(1000 + 2000, undefined);
  assert.ok(p.rate > 1000 && p.rate < 10_000, String(p.rate));
  assert.equal(p.etaS, undefined, 'no ETA without a total');
});

test('a restart from zero resets the baseline, never a negative rate', () => {
  const { meter, advance } = meterAt();
  meter.update(0, 100);
  advance(500);
  meter.update(50, 100);
  advance(500);
  const p = meter.update(0, 100);
  assert.ok(p.rate >= 0);
  assert.equal(meter.update(100, 100).etaS, 0);
});

import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRandom } from './seeded-random.js';

describe('seededRandom', () => {
  it('gives numbers in [0, 1), the same for the same seed', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const a = seededRandom(seed);
        const b = seededRandom(seed);
        for (let i = 0; i < 50; i++) {
          const x = a.next();
          assert.ok(x >= 0 && x < 1);
          assert.equal(x, b.next());
        }
      }),
    );
  });

  it('gives different sequences for neighbouring seeds, spread evenly', () => {
    const a = seededRandom(1);
    const b = seededRandom(2);
    let same = 0;
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const x = a.next();
      if (x === b.next()) same++;
      buckets[Math.floor(x * 10)]!++;
    }
    assert.equal(same, 0);
    for (const count of buckets) assert.ok(count > 900 && count < 1100, `bucket ${count}`);
  });
});

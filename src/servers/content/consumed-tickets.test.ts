import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { newId } from '../../core/ids.js';
import { ConsumedTickets } from './consumed-tickets.js';

const T0 = 1_800_000_000_000;

describe('ConsumedTickets', () => {
  it('holds an ID until the second after its forget time has been swept', () => {
    const c = new ConsumedTickets();
    const id = newId();
    assert.equal(c.has(id), false);
    c.add(id, T0 + 65_000);
    assert.equal(c.has(id), true);
    assert.equal(c.size, 1);
    c.forget(T0 + 64_999);
    assert.equal(c.has(id), true);
    c.forget(T0 + 65_000);
    assert.equal(c.has(id), false);
    assert.equal(c.size, 0);
  });

  it('keeps the later forget time when an ID is added twice, and counts it once', () => {
    const c = new ConsumedTickets();
    const id = newId();
    c.add(id, T0 + 10_000);
    c.add(id, T0 + 20_000);
    c.add(id, T0 + 5_000);
    assert.equal(c.size, 1);
    c.forget(T0 + 15_000);
    assert.equal(c.has(id), true);
    c.forget(T0 + 20_000);
    assert.equal(c.has(id), false);
    assert.equal(c.size, 0);
  });

  it('tells IDs apart that differ in one hex digit, in either case of the digits', () => {
    const c = new ConsumedTickets();
    c.add('00000000-0000-4000-8000-000000000001', T0 + 1000);
    assert.equal(c.has('00000000-0000-4000-8000-000000000001'), true);
    assert.equal(c.has('00000000-0000-4000-8000-000000000002'), false);
    assert.equal(c.has('10000000-0000-4000-8000-000000000001'), false);
    c.add('abcdef00-0000-4000-8000-000000000000', T0 + 1000);
    assert.equal(c.has('ABCDEF00-0000-4000-8000-000000000000'), true);
  });

  it('answers false for what is not a UUID, and refuses to add it', () => {
    const c = new ConsumedTickets();
    for (const bad of ['', 'x', '00000000-0000-4000-8000-00000000000g', '00000000_0000-4000-8000-000000000000', `${newId()}0`]) {
      assert.equal(c.has(bad), false);
      assert.throws(() => c.add(bad, T0 + 1000), TypeError);
    }
  });

  it('ignores an ID whose time has already been swept: no request under it can pass', () => {
    const c = new ConsumedTickets();
    c.forget(T0);
    c.add(newId(), T0 - 1000);
    assert.equal(c.size, 0);
  });

  it('grows past its first table and shrinks back once most IDs are forgotten', () => {
    const c = new ConsumedTickets();
    const ids = Array.from({ length: 50_000 }, () => newId());
    ids.forEach((id, i) => c.add(id, T0 + 1000 * (1 + (i % 100))));
    assert.equal(c.size, 50_000);
    for (const id of ids) assert.equal(c.has(id), true);
    c.forget(T0 + 90_000);
    assert.equal(c.size, 5_000);
    ids.forEach((id, i) => assert.equal(c.has(id), i % 100 >= 90, `id ${i}`));
    c.forget(T0 + 100_000);
    assert.equal(c.size, 0);
    for (const id of ids.slice(0, 1000)) assert.equal(c.has(id), false);
  });

  // A small pool, so the same IDs come back, after being forgotten too; a large one, so the
  // table is rebuilt (grown and shrunk) along the way.
  for (const [poolSize, numRuns] of [
    [40, 200],
    [3000, 15],
  ] as const) {
    it(`behaves like a map of ID → forget second under any sequence of adds and sweeps (${poolSize} IDs)`, () => {
      const pool = Array.from({ length: poolSize }, () => newId());
      const op = fc.oneof(
        { weight: 8, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.nat(poolSize - 1), inS: fc.integer({ min: -3, max: 30 }) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), byS: fc.nat(8) }) },
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
          const c = new ConsumedTickets();
          const model = new Map<string, number>();
          let nowS = T0 / 1000;
          let horizon = 0;
          for (const o of ops) {
            if (o.kind === 'add') {
              const id = pool[o.id] as string;
              const second = nowS + o.inS;
              c.add(id, second * 1000);
              if (second > horizon) model.set(id, Math.max(second, (model.get(id) ?? 0) > horizon ? (model.get(id) as number) : 0));
            } else {
              nowS += o.byS;
              c.forget(nowS * 1000);
              horizon = Math.max(horizon, nowS);
            }
            if (poolSize <= 40 || o === ops[ops.length - 1]) {
              let live = 0;
              for (const id of pool) {
                const held = (model.get(id) ?? 0) > horizon;
                if (held) live++;
                assert.equal(c.has(id), held);
              }
              assert.equal(c.size, live);
            }
          }
        }),
        { numRuns },
      );
    });
  }
  it('lists the IDs it holds with their forget times (to refill a shared ledger), and not the forgotten ones', () => {
    const c = new ConsumedTickets();
    const kept = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    const forgotten = 'ffffffff-0000-4000-8000-000000000001';
    c.add(kept, 20_500);
    c.add(forgotten, 5_000);
    c.add('00000000-0000-4000-8000-00000000000a', 30_000);
    c.forget(10_000);
    const entries = c.entries().sort((a, b) => a.forgetAt - b.forgetAt);
    assert.deepEqual(entries, [
      { ticketId: kept, forgetAt: 21_000 },
      { ticketId: '00000000-0000-4000-8000-00000000000a', forgetAt: 30_000 },
    ]);
  });
});

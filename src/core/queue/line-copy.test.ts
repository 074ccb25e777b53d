import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LineCopy, type LinePlace } from './line-copy.js';

const place = (seq: number, size = 100): LinePlace => ({ orderId: `o${seq}`, seq, size });
const ids = (line: LineCopy): string[] => line.places().map((p) => p.orderId);

describe('LineCopy', () => {
  it('keeps arrival order and gives 1-based places, even when orders finish joining out of order', () => {
    const line = new LineCopy();
    for (const seq of [1, 2, 4, 3, 5]) line.add(place(seq));
    line.add(place(2));
    assert.deepEqual(ids(line), ['o1', 'o2', 'o3', 'o4', 'o5']);
    assert.equal(line.position('o4'), 4);
    line.remove('o2');
    line.remove('o2');
    assert.equal(line.position('o4'), 3);
    assert.equal(line.position('o2'), undefined);
    assert.deepEqual(line.after(3).map((p) => p.orderId), ['o4', 'o5']);
    assert.equal(line.removeBefore(4), 2);
    assert.deepEqual(ids(line), ['o4', 'o5']);
    assert.equal(line.position('o1'), undefined);
    assert.equal(line.length, 2);
  });

  it('a reload keeps the changes made while it read the line', () => {
    const line = new LineCopy();
    assert.equal(line.loaded, false);
    line.add(place(1));
    line.beginReload();
    // While the database is read: 7 joins, 1 is admitted, 2 lapses.
    line.add(place(7));
    line.remove('o1');
    const read = [place(1), place(2), place(3)]; // read before those changes
    line.remove('o2');
    line.finishReload(read);
    assert.equal(line.loaded, true);
    assert.deepEqual(ids(line), ['o3', 'o7']);

    line.beginReload();
    line.removeBefore(7);
    line.abortReload();
    assert.deepEqual(ids(line), ['o7'], 'an aborted reload keeps the copy and its changes');
  });

  it('is the database’s line whatever the interleaving of changes and reloads', () => {
    type Op =
      | { readonly kind: 'join' }
      | { readonly kind: 'leave'; readonly pick: number }
      | { readonly kind: 'front'; readonly pick: number }
      | { readonly kind: 'reload'; readonly readIn: number; readonly finishAfter: number };
    const op = fc.oneof(
      fc.constant<Op>({ kind: 'join' }),
      fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('front' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('reload' as const), readIn: fc.nat({ max: 4 }), finishAfter: fc.nat({ max: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        // The database's line and the copy. A reload begins, reads the database some operations
        // later, and finishes some operations after that; everything in between goes on.
        let db: LinePlace[] = [];
        let nextSeq = 1;
        const line = new LineCopy();
        let pending: { read: LinePlace[] | undefined; readIn: number; finishIn: number } | undefined;
        const step = (): void => {
          if (!pending) return;
          if (pending.read === undefined && pending.readIn-- <= 0) pending.read = [...db];
          if (pending.read !== undefined && pending.finishIn-- <= 0) {
            line.finishReload(pending.read);
            pending = undefined;
          }
        };
        for (const o of ops) {
          if (o.kind === 'join') {
            const p = place(nextSeq++);
            db.push(p);
            line.add(p);
          } else if (o.kind === 'leave' && db.length > 0) {
            const gone = db[o.pick % db.length] as LinePlace;
            db = db.filter((p) => p !== gone);
            line.remove(gone.orderId);
          } else if (o.kind === 'front' && db.length > 1) {
            // Another reception admitted the first few; the next read of the front shows who is first now.
            db = db.slice(1 + (o.pick % (db.length - 1)));
            line.removeBefore((db[0] as LinePlace).seq);
          } else if (o.kind === 'reload' && !pending) {
            line.beginReload();
            pending = { read: undefined, readIn: o.readIn, finishIn: o.finishAfter };
          }
          step();
        }
        while (pending) step();
        assert.deepEqual(ids(line), db.map((p) => p.orderId));
        db.forEach((p, i) => assert.equal(line.position(p.orderId), i + 1));
      }),
    );
  });

  it('never shows an order the database no longer has in line, once it was told', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 40 }), (joins, leaves) => {
        const line = new LineCopy();
        for (const seq of joins) line.add(place(seq));
        line.beginReload();
        for (const seq of leaves) line.remove(`o${seq}`);
        line.finishReload(joins.map((seq) => place(seq)));
        for (const seq of leaves) assert.equal(line.has(`o${seq}`), false);
        const seqs = line.places().map((p) => p.seq);
        assert.deepEqual(seqs, [...new Set(joins.filter((s) => !leaves.includes(s)))].sort((a, b) => a - b));
      }),
    );
  });
});

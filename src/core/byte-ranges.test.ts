import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { RangeSet, parseRange, type ByteRange, type RangeRequest } from './byte-ranges.js';

const range = (start: number, end: number): RangeRequest => ({ kind: 'range', range: { start, end } });
const WHOLE: RangeRequest = { kind: 'whole' };
const UNSATISFIABLE: RangeRequest = { kind: 'unsatisfiable' };

describe('parseRange (RFC 9110 §14)', () => {
  it('serves the whole representation without a Range header', () => {
    assert.deepEqual(parseRange(undefined, 1000), WHOLE);
  });

  it('reads first-last ranges, inclusive of the last byte', () => {
    assert.deepEqual(parseRange('bytes=0-499', 10_000), range(0, 500));
    assert.deepEqual(parseRange('bytes=500-999', 10_000), range(500, 1000));
    assert.deepEqual(parseRange('bytes=0-0', 10_000), range(0, 1));
    assert.deepEqual(parseRange('bytes=9999-9999', 10_000), range(9999, 10_000));
    assert.deepEqual(parseRange('bytes=007-010', 100), range(7, 11));
  });

  it('reads open-ended ranges to the end', () => {
    assert.deepEqual(parseRange('bytes=9500-', 10_000), range(9500, 10_000));
    assert.deepEqual(parseRange('bytes=0-', 10_000), range(0, 10_000));
  });

  it('reads suffix ranges, clamped to the whole representation', () => {
    assert.deepEqual(parseRange('bytes=-500', 10_000), range(9500, 10_000));
    assert.deepEqual(parseRange('bytes=-1', 10_000), range(9999, 10_000));
    assert.deepEqual(parseRange('bytes=-10000', 10_000), range(0, 10_000));
    assert.deepEqual(parseRange('bytes=-20000', 10_000), range(0, 10_000));
    assert.deepEqual(parseRange('bytes=-99999999999999999999999', 10), range(0, 10));
  });

  it('clamps a last byte past the end to the last byte (§14.1.2)', () => {
    assert.deepEqual(parseRange('bytes=0-99999', 1000), range(0, 1000));
    assert.deepEqual(parseRange('bytes=10-99999999999999999999999', 1000), range(10, 1000));
  });

  it('is unsatisfiable when it starts past the end, asks for a zero-length suffix, or the representation is empty', () => {
    assert.deepEqual(parseRange('bytes=1000-', 1000), UNSATISFIABLE);
    assert.deepEqual(parseRange('bytes=1000-2000', 1000), UNSATISFIABLE);
    assert.deepEqual(parseRange('bytes=99999999999999999999-', 1000), UNSATISFIABLE);
    assert.deepEqual(parseRange('bytes=-0', 1000), UNSATISFIABLE);
    assert.deepEqual(parseRange('bytes=0-', 0), UNSATISFIABLE);
    assert.deepEqual(parseRange('bytes=0-0', 0), UNSATISFIABLE);
    assert.deepEqual(parseRange('bytes=-5', 0), UNSATISFIABLE);
  });

  it('answers a last-before-first range with 416, as §14.2 allows for invalid ranges (and as nginx does)', () => {
    assert.deepEqual(parseRange('bytes=500-499', 1000), UNSATISFIABLE);
    assert.deepEqual(parseRange('bytes=5-3', 1000), UNSATISFIABLE);
  });

  it('ignores what it cannot read and serves the whole representation (§14.2: a server MAY ignore Range)', () => {
    for (const header of [
      '', 'bytes', 'bytes=', 'bytes=-', 'bytes 0-5', 'bytes:0-5', 'items=0-5', 'bytes=a-b', 'bytes=0x10-', 'bytes=1.5-2',
      'bytes=+1-2', 'bytes=0-1-2', 'bytes=--5', 'bytes=0-5;', 'bytes==0-5', 'bytes=0 -5', 'bytes=0- 5',
      // Several ranges: one stream of the whole is always a valid answer.
      'bytes=0-1,5-6', 'bytes=0-1, 5-6', 'bytes=-1,0-1',
    ]) {
      assert.deepEqual(parseRange(header, 1000), WHOLE, JSON.stringify(header));
    }
  });

  it('takes the unit case-insensitively and trims surrounding whitespace', () => {
    assert.deepEqual(parseRange('Bytes=0-4', 100), range(0, 5));
    assert.deepEqual(parseRange('BYTES=-4', 100), range(96, 100));
    assert.deepEqual(parseRange('  bytes=1-2\t', 100), range(1, 3));
  });

  it('never yields a range outside the representation, whatever the header', () => {
    const header = fc.oneof(
      fc.tuple(fc.option(fc.nat({ max: 3000 }), { nil: undefined }), fc.option(fc.nat({ max: 3000 }), { nil: undefined })).map(
        ([first, last]) => `bytes=${first ?? ''}-${last ?? ''}`,
      ),
      fc.string({ unit: fc.constantFrom(...'bytes=-0123456789, ') }),
    );
    fc.assert(
      fc.property(header, fc.nat({ max: 2000 }), (text, size) => {
        const result = parseRange(text, size);
        if (result.kind !== 'range') return true;
        const { start, end } = result.range;
        return Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start < end && end <= size;
      }),
      { numRuns: 5000 },
    );
  });
});

describe('RangeSet', () => {
  const rangeArb = (limit: number): fc.Arbitrary<ByteRange> =>
    fc.tuple(fc.nat({ max: limit }), fc.nat({ max: limit })).map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));

  function model(ranges: readonly ByteRange[], limit: number): boolean[] {
    const covered = new Array<boolean>(limit).fill(false);
    for (const r of ranges) for (let i = r.start; i < r.end && i < limit; i++) covered[i] = true;
    return covered;
  }

  function build(ranges: readonly ByteRange[]): RangeSet {
    const set = new RangeSet();
    for (const r of ranges) set.add(r);
    return set;
  }

  it('covers(size) holds exactly when the union of the added ranges is [0, size)', () => {
    fc.assert(
      fc.property(fc.array(rangeArb(60), { maxLength: 12 }), fc.nat({ max: 60 }), (ranges, size) => {
        const covered = model(ranges, 61);
        return build(ranges).covers(size) === covered.slice(0, size).every(Boolean);
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps sorted, disjoint, non-touching intervals equal to the union, in any order of adding', () => {
    fc.assert(
      fc.property(fc.array(rangeArb(80), { maxLength: 15 }), (ranges) => {
        const set = build(ranges);
        const parts = set.toArray();
        for (let i = 0; i < parts.length; i++) {
          const p = parts[i];
          const next = parts[i + 1];
          if (!p || p.start >= p.end) return false;
          if (next && !(p.end < next.start)) return false;
        }
        const covered = model(ranges, 81);
        const fromParts = model(parts, 81);
        const reversed = build([...ranges].reverse()).toArray();
        return (
          covered.every((c, i) => c === fromParts[i]) &&
          set.bytes === covered.filter(Boolean).length &&
          JSON.stringify(reversed) === JSON.stringify(parts)
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('merges touching ranges and ignores empty ones', () => {
    const set = build([{ start: 0, end: 10 }, { start: 10, end: 20 }, { start: 30, end: 30 }, { start: 25, end: 24 }]);
    assert.deepEqual(set.toArray(), [{ start: 0, end: 20 }]);
    assert.ok(set.covers(20));
    assert.ok(!set.covers(21));
  });

  it('an empty representation is covered by nothing; ranges past the end do not spoil coverage', () => {
    assert.ok(new RangeSet().covers(0));
    assert.ok(!new RangeSet().covers(1));
    assert.ok(build([{ start: 0, end: 5 }, { start: 7, end: 12 }]).covers(5));
  });

  it('resumed and parallel downloads of a large file add up to full coverage', () => {
    const size = 10_000_019;
    const set = new RangeSet();
    const chunk = 1 << 20;
    for (let start = size - (size % chunk); start >= 0; start -= chunk) {
      assert.ok(!set.covers(size));
      set.add({ start, end: Math.min(size, start + chunk) });
    }
    assert.ok(set.covers(size));
    assert.equal(set.bytes, size);
  });
});

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SlotOverhead } from './slot-overhead.js';
import { AdmissionReplay, positionOverOutflowMs, predictAdmissions, serviceTimeMs, ServiceTimeHistory, type SlotForecast } from './wait-estimate.js';

const T0 = Date.UTC(2026, 0, 1);
const MiB = 2 ** 20;
const noHistory = { meanServiceMs: undefined };

describe('predictAdmissions', () => {
  it('gives client k the k-th freeing, each slot busy for its client’s transfer and the overhead', () => {
    const slots: SlotForecast[] = [
      { freeAt: T0 + 300, perTransferRate: MiB },
      { freeAt: T0 + 100, perTransferRate: MiB },
    ];
    const line = [{ size: MiB }, { size: MiB / 2 }, { size: MiB }, { size: MiB }];
    assert.deepEqual(predictAdmissions(slots, line, T0, noHistory), [T0 + 100, T0 + 300, T0 + 800, T0 + 1100]);
    // 100 ms of overhead per admission: the slot of the first client frees at 100 + 1000 + 100.
    assert.deepEqual(predictAdmissions(slots, line, T0, noHistory, 100), [T0 + 100, T0 + 300, T0 + 900, T0 + 1200]);
  });

  it('treats a slot that should already have freed as free now, and has no answer without slots', () => {
    assert.deepEqual(predictAdmissions([{ freeAt: T0 - 500, perTransferRate: MiB }], [{ size: MiB }], T0, noHistory), [T0]);
    assert.deepEqual(predictAdmissions([], [{ size: 1 }, { size: 2 }], T0, noHistory), [Infinity, Infinity]);
  });

  it('uses the history of service times for a server whose rate is not known yet', () => {
    const history = new ServiceTimeHistory();
    history.record(2000);
    assert.equal(serviceTimeMs(MiB, 0, history), 2000);
    assert.equal(serviceTimeMs(MiB, 0, noHistory), 1000);
    assert.deepEqual(predictAdmissions([{ freeAt: T0, perTransferRate: 0 }], [{ size: 1 }, { size: 1 }], T0, history), [T0, T0 + 2000]);
  });

  it('never lets a negative overhead make a slot time negative', () => {
    assert.deepEqual(predictAdmissions([{ freeAt: T0, perTransferRate: MiB }], [{ size: MiB / 10 }, { size: 1 }], T0, noHistory, -500), [T0, T0]);
  });

  it('is non-decreasing along the line, and the replay carried on one client at a time agrees with it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ freeIn: fc.integer({ min: -1000, max: 10_000 }), rate: fc.integer({ min: 0, max: 4 * MiB }) }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 8 * MiB }), { maxLength: 60 }),
        fc.integer({ min: -100, max: 1000 }),
        (raw, sizes, overheadMs) => {
          const slots = raw.map((s) => ({ freeAt: T0 + s.freeIn, perTransferRate: s.rate }));
          const line = sizes.map((size) => ({ size }));
          const all = predictAdmissions(slots, line, T0, noHistory, overheadMs);
          for (let i = 1; i < all.length; i++) assert.ok((all[i] as number) >= (all[i - 1] as number));
          const replay = new AdmissionReplay(slots, T0, noHistory, overheadMs);
          assert.deepEqual(line.map((c) => replay.next(c)), all);
        },
      ),
    );
  });
});

describe('the learnt slot overhead in the replay', () => {
  // A line served by 12 slots at 1 MiB/s per transfer, where every slot really turns over in
  // transfer + 240 ms (30 ms before the first byte, 210 ms after the last until the reception
  // can give it to the next client) — as in the flash-crowd bench, where this was −13 % of bias.
  const RATE = MiB;
  const SIZES = [MiB / 2, (3 * MiB) / 4, MiB, 2 * MiB];
  const LEAD_MS = 30;
  const TAIL_MS = 210;

  /** Real admission times of `line` on `slots` free at T0, and each admission's slot occupancy. */
  function simulate(line: readonly { size: number }[], slotCount: number, leadMs: number, tailMs: number) {
    const freeAt = Array.from({ length: slotCount }, () => T0);
    const admissions: { at: number; releasedAt: number; transferMs: number; transferEndAt: number }[] = [];
    for (const client of line) {
      let k = 0;
      for (let j = 1; j < freeAt.length; j++) if ((freeAt[j] as number) < (freeAt[k] as number)) k = j;
      const at = freeAt[k] as number;
      const transferMs = (client.size / RATE) * 1000;
      const transferEndAt = at + leadMs + transferMs;
      admissions.push({ at, releasedAt: transferEndAt + tailMs, transferMs, transferEndAt });
      freeAt[k] = transferEndAt + tailMs;
    }
    return admissions;
  }

  function medianRelativeError(predicted: readonly number[], actual: readonly number[], from: number): number {
    const errors = predicted.map((p, i) => Math.abs(p - (actual[i] as number)) / Math.max(100, (actual[i] as number) - from)).sort((a, b) => a - b);
    return errors[Math.floor(errors.length / 2)] as number;
  }

  it('removes the bias that a fixed start-up leaves', () => {
    const line = Array.from({ length: 600 }, (_, i) => ({ size: SIZES[(i * 7) % SIZES.length] as number }));
    const truth = simulate(line, 12, LEAD_MS, TAIL_MS);
    const slots = Array.from({ length: 12 }, () => ({ freeAt: T0, perTransferRate: RATE }));

    const overhead = new SlotOverhead({ overheadMs: 50, afterTransferMs: 0 });
    const uncorrected = predictAdmissions(slots, line, T0, noHistory, overhead.overheadMs);
    // What the reception sees of its first 60 admissions: admitted, released (seen), and the next admission on that slot right away.
    for (const a of truth.slice(0, 60)) {
      overhead.recordOccupancy({ admittedAt: a.at, releasedAt: a.releasedAt, transferMs: a.transferMs, transferEndAt: a.transferEndAt });
      overhead.recordReassignment(a.releasedAt, a.releasedAt);
    }
    assert.ok(Math.abs(overhead.overheadMs - (LEAD_MS + TAIL_MS)) < 1, `learnt ${overhead.overheadMs} ms`);
    assert.ok(Math.abs(overhead.afterTransferMs - TAIL_MS) < 1, `learnt ${overhead.afterTransferMs} ms after the last byte`);
    const corrected = predictAdmissions(slots, line, T0, noHistory, overhead.overheadMs);

    const actual = truth.map((a) => a.at);
    const before = medianRelativeError(uncorrected.slice(12), actual.slice(12), T0);
    const after = medianRelativeError(corrected.slice(12), actual.slice(12), T0);
    assert.ok(before > 0.1, `a fixed 50 ms is off by ${(before * 100).toFixed(1)} %`);
    assert.ok(after < 0.005, `the learnt overhead is off by ${(after * 100).toFixed(2)} %`);
  });

  it('follows the overhead down when the content servers start releasing slots sooner', () => {
    const overhead = new SlotOverhead({ overheadMs: 50, afterTransferMs: 0 });
    const line = Array.from({ length: 300 }, (_, i) => ({ size: SIZES[i % SIZES.length] as number }));
    for (const a of simulate(line, 12, LEAD_MS, TAIL_MS).slice(0, 100)) {
      overhead.recordOccupancy({ admittedAt: a.at, releasedAt: a.releasedAt, transferMs: a.transferMs, transferEndAt: a.transferEndAt });
    }
    assert.ok(Math.abs(overhead.overheadMs - 240) < 1);
    // Now the slot is released 20 ms after the last byte.
    for (const a of simulate(line, 12, LEAD_MS, 20).slice(0, 60)) {
      overhead.recordOccupancy({ admittedAt: a.at, releasedAt: a.releasedAt, transferMs: a.transferMs, transferEndAt: a.transferEndAt });
    }
    assert.ok(Math.abs(overhead.overheadMs - 50) < 5, `learnt ${overhead.overheadMs} ms, now 50 ms`);
    assert.ok(Math.abs(overhead.afterTransferMs - 20) < 5, `learnt ${overhead.afterTransferMs} ms after the last byte, now 20 ms`);
  });
});

describe('positionOverOutflowMs', () => {
  it('is position ÷ outflow, and has no answer without outflow', () => {
    assert.equal(positionOverOutflowMs(30, 10), 3000);
    assert.equal(positionOverOutflowMs(30, 0), Infinity);
  });
});

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TICK_MS, TokenBucket, TransferPacing, type Pacer } from './transfer-pacing.js';

describe('TokenBucket', () => {
  it('starts with one tick of budget, refills at the rate, and holds at most a short burst', () => {
    const bucket = new TokenBucket(100_000, 0); // 2,000 bytes per 20 ms tick
    assert.equal(bucket.quantum, 2000);
    assert.equal(bucket.take(1_000_000, 0), 2000);
    assert.equal(bucket.take(1_000_000, 0), 0);
    assert.equal(bucket.take(1_000_000, 10), 0, 'half a tick is not worth a write');
    assert.equal(bucket.take(1_000_000, 20), 2000);
    // After a long pause no more than 100 ms' worth can go at once.
    assert.equal(bucket.take(1_000_000, 10_000), 10_000);
    assert.equal(bucket.take(1_000_000, 10_000), 0);
  });

  it('gives a small request what it asks for, and never more than asked', () => {
    const bucket = new TokenBucket(100_000, 0);
    assert.equal(bucket.take(10, 0), 10);
    assert.equal(bucket.take(500, 0), 500);
    assert.equal(bucket.take(0, 0), 0);
  });

  it('over a long run grants exactly the rate, whatever the request sizes', () => {
    const bucket = new TokenBucket(256 * 1024, 0);
    let granted = 0;
    // Requests at irregular times (a busy event loop), each for up to 1 MiB.
    for (let t = 0; t <= 10_000; t += 7 + (t % 13)) granted += bucket.take(1024 * 1024, t);
    const expected = 256 * 1024 * 10;
    assert.ok(Math.abs(granted - expected) <= bucket.quantum * 2, `${granted} vs ${expected}`);
  });

  it('refuses a rate that is not positive', () => {
    assert.throws(() => new TokenBucket(0, 0), TypeError);
    assert.throws(() => new TransferPacing(-1), TypeError);
  });
});

/** Writes `total` bytes through `pacer` as FilePump does (two writes in flight); resolves the elapsed ms. */
function drain(pacer: Pacer, total: number, chunk: number, onWrite?: (bytes: number) => void): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    let left = total;
    let inFlight = 0;
    let waiting = false;
    const pump = (): void => {
      while (!waiting && inFlight < 2 && left > 0) {
        const n = pacer.take(Math.min(chunk, left));
        if (n === 0) {
          waiting = true;
          pacer.wait(() => {
            waiting = false;
            pump();
          });
          return;
        }
        left -= n;
        inFlight++;
        onWrite?.(n);
        setImmediate(() => {
          inFlight--;
          if (left === 0 && inFlight === 0) resolve(performance.now() - started);
          else pump();
        });
      }
    };
    pump();
  });
}

describe('TransferPacing', () => {
  it('paces one ticket to its rate in small even writes', async () => {
    const pacing = new TransferPacing(200_000);
    try {
      const { pacer, release } = pacing.acquire('t1');
      const writes: number[] = [];
      const ms = await drain(pacer, 100_000, 1024 * 1024, (n) => writes.push(n));
      release();
      // 100 kB at 200 kB/s: 0.5 s less the first tick's worth. Generous bounds for a busy machine.
      assert.ok(ms >= 400 && ms < 2000, `took ${ms} ms`);
      assert.ok(Math.max(...writes) <= 20_000, `largest write ${Math.max(...writes)} bytes (100 ms' worth at most)`);
      assert.ok(writes.length >= 10, `${writes.length} writes`);
      assert.equal(pacing.tickets, 0, 'forgotten with its last connection');
    } finally {
      pacing.close();
    }
  });

  it('shares one budget between the parallel connections of a ticket, not between tickets', async () => {
    const pacing = new TransferPacing(200_000);
    try {
      const a = pacing.acquire('t1');
      const b = pacing.acquire('t1');
      const c = pacing.acquire('t2');
      const [msA, msB, msC] = await Promise.all([
        drain(a.pacer, 50_000, 1024 * 1024),
        drain(b.pacer, 50_000, 1024 * 1024),
        drain(c.pacer, 100_000, 1024 * 1024),
      ]);
      // Together t1's two connections move 100 kB at 200 kB/s, as t2's one does alone.
      assert.ok(Math.max(msA, msB) >= 400, `t1 took ${Math.max(msA, msB)} ms`);
      assert.ok(msC >= 400 && msC < 2000, `t2 took ${msC} ms`);
      a.release();
      b.release();
      c.release();
    } finally {
      pacing.close();
    }
  });

  it('does not slow a transfer down when the limit is far above what is sent', async () => {
    const pacing = new TransferPacing(1e12);
    try {
      const { pacer, release } = pacing.acquire('t1');
      let waits = 0;
      const counting: Pacer = { take: (n) => pacer.take(n), wait: (wake) => (waits++, pacer.wait(wake)) };
      await drain(counting, 64 * 1024 * 1024, 1024 * 1024);
      release();
      assert.equal(waits, 0);
    } finally {
      pacing.close();
    }
  });

  it('stops waking a writer whose wait was cancelled', async () => {
    const pacing = new TransferPacing(10_000);
    try {
      const { pacer, release } = pacing.acquire('t1');
      assert.ok(pacer.take(1_000_000) > 0);
      let woken = false;
      const cancel = pacer.wait(() => (woken = true));
      cancel();
      await new Promise((r) => setTimeout(r, TICK_MS * 4));
      assert.equal(woken, false);
      release();
    } finally {
      pacing.close();
    }
  });
});

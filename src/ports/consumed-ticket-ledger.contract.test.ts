import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryConsumedTicketLedger } from '../adapters/memory/memory-consumed-ticket-ledger.js';
import { RedisConsumedTicketLedger } from '../adapters/redis/redis-consumed-ticket-ledger.js';
import { newId } from '../core/ids.js';
import type { ConsumedTicketLedger } from './consumed-ticket-ledger.js';
import { eventually, memoryBackend, redisBackend, runContract, type ContractSpace } from './testing/contract-space.js';

// One contract, every adapter: the in-process ledger and the Redis ledger.

/** The Redis adapter's refill window in these tests; a new Redis space starts inside one. */
const GRACE_MS = 300;

/** A ledger past any refill window, as a running deployment's is. */
async function settled(s: ContractSpace<ConsumedTicketLedger>): Promise<ConsumedTicketLedger> {
  const ledger = s.open();
  assert.ok(await eventually(async () => (await ledger.check(newId())) !== 'unknown'));
  return ledger;
}

const cases: Readonly<Record<string, (s: ContractSpace<ConsumedTicketLedger>) => Promise<void>>> = {
  async 'consume adds a ticket once; check says consumed from every handle'(s) {
    const a = await settled(s);
    const b = s.open();
    const ticket = newId();
    const forgetAt = s.clock.now() + 60_000;
    assert.equal(await a.check(ticket), 'unused');
    assert.equal(await a.consume(ticket, forgetAt), true);
    assert.equal(await a.consume(ticket, forgetAt), false);
    assert.equal(await b.consume(ticket, forgetAt + 1), false);
    assert.equal(await b.check(ticket), 'consumed');
    assert.equal(await b.check(newId()), 'unused');
    assert.equal(await b.check('not-a-uuid'), 'unused');
    await assert.rejects(a.consume('NOT-A-UUID', forgetAt), TypeError);
  },

  async 'of many concurrent consumers on several handles exactly one wins'(s) {
    await settled(s);
    const handles = [s.open(), s.open(), s.open()];
    for (let round = 0; round < 5; round++) {
      const ticket = newId();
      const forgetAt = s.clock.now() + 60_000;
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (handles[i % 3] as ConsumedTicketLedger).consume(ticket, forgetAt)));
      assert.equal(results.filter(Boolean).length, 1);
    }
  },

  async 'an entry is forgotten when its time comes, so memory stays bounded'(s) {
    const ledger = await settled(s);
    const short = newId();
    const long = newId();
    await ledger.consume(short, s.clock.now() + 200);
    await ledger.consume(long, s.clock.now() + 60_000);
    await s.advance(400);
    assert.equal(await ledger.check(short), 'unused');
    assert.equal(await ledger.check(long), 'consumed');
    assert.equal(await ledger.consume(short, s.clock.now() + 60_000), true, 'a forgotten ID can be added again');
    const stale = newId();
    assert.equal(await ledger.consume(stale, s.clock.now() - 1), true, 'a closed window: nothing could use it again anyway');
    assert.equal(await ledger.check(stale), 'unused', 'and it is not kept');
  },

  async 'addAll adds what is missing, keeps the later forget time, and skips what is past'(s) {
    const ledger = await settled(s);
    const t1 = newId();
    const t2 = newId();
    const past = newId();
    await ledger.consume(t1, s.clock.now() + 200);
    await ledger.addAll([
      { ticketId: t1, forgetAt: s.clock.now() + 60_000 },
      { ticketId: t2, forgetAt: s.clock.now() + 200 },
      { ticketId: past, forgetAt: s.clock.now() - 5 },
    ]);
    await ledger.addAll([{ ticketId: t2, forgetAt: s.clock.now() + 100 }]);
    assert.equal(await ledger.check(t1), 'consumed');
    assert.equal(await ledger.check(past), 'unused');
    await s.advance(400);
    assert.equal(await ledger.check(t1), 'consumed', 'the later forget time was kept');
    assert.equal(await ledger.check(t2), 'unused', 'an earlier forget time does not shorten nor lengthen');
    await ledger.addAll([]);
    await assert.rejects(ledger.addAll([{ ticketId: 'x', forgetAt: s.clock.now() + 1000 }]), TypeError);
  },

  async 'refilled from a local copy after a loss, no consumed ticket becomes usable'(s) {
    const ledger = await settled(s);
    if (!ledger.capabilities.losesStateOnStoreRestart || s.lose === undefined) return;
    let lost = 0;
    ledger.onLost(() => lost++);
    const local = Array.from({ length: 3 }, () => ({ ticketId: newId(), forgetAt: s.clock.now() + 60_000 }));
    for (const e of local) await ledger.consume(e.ticketId, e.forgetAt);
    await s.lose();
    const other = newId();
    assert.equal(await ledger.check(other), 'unknown', 'an emptied ledger does not claim to be whole');
    assert.equal(await ledger.check(local[0]?.ticketId ?? ''), 'unknown');
    assert.ok(await eventually(() => lost === 1), 'the writer is told to refill');
    await ledger.addAll(local);
    for (const e of local) assert.equal(await ledger.check(e.ticketId), 'consumed');
    assert.equal(await ledger.consume(local[1]?.ticketId ?? '', s.clock.now() + 60_000), false);
    assert.ok(await eventually(async () => (await ledger.check(other)) === 'unused'), 'whole again once the refill window closes');
  },
};

runContract<ConsumedTicketLedger>(
  'consumed-ticket ledger',
  [
    memoryBackend((clock) => ({ first: new MemoryConsumedTicketLedger(clock), share: (l) => (l as MemoryConsumedTicketLedger).share() })),
    redisBackend((o) => new RedisConsumedTicketLedger({ ...o, refillGraceMs: GRACE_MS, lossCheckMs: 50, onError: () => undefined })),
  ],
  cases,
  test,
);

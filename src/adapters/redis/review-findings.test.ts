import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort } from '../../../bench/harness/net.js';
import { kill9, requireRedisServer, startRedis } from '../../../test/support/own-redis.js';
import { REDIS_URL, requireRedis } from '../../../test/support/services.js';
import type { LoadReport } from '../../core/control/messages.js';
import { ManualClock, systemClock, type Clock } from '../../core/clock.js';
import { newId } from '../../core/ids.js';
import { controlToken } from '../../core/ticket/ticket-keys.js';
import { eventually } from '../../ports/testing/contract-space.js';
import { RedisConsumedTicketLedger } from './redis-consumed-ticket-ledger.js';
import { RedisControlChannel } from './redis-control-channel.js';
import { RedisLoadReportBoard } from './redis-load-report-board.js';
import { contentServerSeal, receptionSeal } from './seal-from-control-token.js';
import { dropRedisSpace, freshRedisPrefix } from './testing/redis-test-space.js';

// Faults found in a review of the Redis wiring (issue 5) that the contract suites and the
// restart test did not cover. Each case failed before its fix, except the seal cache's, which
// cannot see the cache's size and checks only that the keys stay right past the limit.

test('a consumed or revoked ticket written while Redis was unreachable reaches the ledger once Redis answers again', async (t) => {
  if (!requireRedisServer(t)) return;
  const dir = await mkdtemp(join(tmpdir(), 'tessera-redis-review-'));
  const port = await freePort();
  let server = await startRedis(port, dir);
  // A long command timeout: the writes below fail because the connection gave up on them
  // (ioredis drops its offline queue after a few reconnection attempts), not because they
  // might still be on their way.
  const common = { url: `redis://127.0.0.1:${port}`, clock: systemClock, lossCheckMs: 600_000, refillGraceMs: 200, commandTimeoutMs: 30_000, onError: () => undefined };
  const contentServer = new RedisConsumedTicketLedger(common);
  const reception = new RedisConsumedTicketLedger(common);
  t.after(async () => {
    await contentServer.close();
    await reception.close();
    await kill9(server);
    await rm(dir, { recursive: true, force: true });
  });
  let losses = 0;
  contentServer.onLost(() => losses++);
  reception.onLost(() => losses++);
  // The ledger is whole and both processes are known to it.
  assert.ok(await eventually(async () => (await contentServer.check(newId())) === 'unused' && (await reception.check(newId())) === 'unused'));

  await kill9(server);
  const forgetAt = Date.now() + 300_000;
  const consumed = newId();
  const revoked = newId();
  // The content server's write-through and the reception's revocation both fail (each caller
  // logs it and goes on: the content server's own table still refuses the ticket).
  await assert.rejects(contentServer.consume(consumed, forgetAt));
  await assert.rejects(reception.addAll([{ ticketId: revoked, forgetAt }]));

  // Redis comes back with everything it held: nothing was lost, so nobody refills anything.
  server = await startRedis(port, dir);
  assert.ok(await eventually(async () => (await reception.check(newId()).catch(() => 'down')) === 'unused', 10_000));
  assert.equal(losses, 0, 'Redis kept its data: no loss is reported');
  // Another process of the server (or this one after a restart, in notice mode optional) asks
  // the ledger: the ticket must not be usable again.
  assert.ok(await eventually(async () => (await reception.check(consumed)) === 'consumed', 10_000), 'the consumed ticket reached the ledger');
  assert.ok(await eventually(async () => (await contentServer.check(revoked)) === 'consumed', 10_000), 'the revocation reached the ledger');
  assert.equal(await contentServer.consume(consumed, forgetAt), false, 'single use holds');
});

test('a content server whose clock is a few seconds ahead of the reception\'s still answers requests; one far beyond the tolerance drops them', async (t) => {
  if (!(await requireRedis(t))) return;
  const prefix = freshRedisPrefix();
  const offsetClock = (offsetMs: number): Clock => ({ now: () => Date.now() + offsetMs });
  const common = { url: REDIS_URL, prefix, onError: () => undefined };
  const reception = new RedisControlChannel({ ...common, clock: systemClock });
  // Tickets already tolerate this much skew (TESSERA_CLOCK_TOLERANCE_S, 5 s by default).
  const ahead = new RedisControlChannel({ ...common, clock: offsetClock(3000) });
  const farAhead = new RedisControlChannel({ ...common, clock: offsetClock(120_000) });
  t.after(async () => {
    for (const c of [reception, ahead, farAhead]) await c.close();
    await dropRedisSpace(REDIS_URL, prefix);
  });
  await ahead.serve('cs-1', async () => ({ kind: 'done' }));
  await farAhead.serve('cs-2', async () => ({ kind: 'done' }));
  assert.deepEqual(await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 2000), { kind: 'done' }, '3 s of skew must not cut a server off');
  assert.deepEqual(await reception.request('cs-2', { kind: 'withdraw-notice', ticketId: newId() }, 200), { kind: 'unanswered', reason: 'timeout' });
});

test('a reception\'s seal derives the same keys as the content servers\' however many made-up server IDs it was asked about', () => {
  const root = Buffer.alloc(32, 7);
  const seal = receptionSeal(root);
  const own = contentServerSeal(controlToken(root, 'cs-1'));
  const before = seal.keyFor('cs-1');
  assert.ok(before !== undefined);
  assert.deepEqual(before, own.keyFor('cs-1'));
  // Server IDs read off Redis (a completion's or a report's) can be anything a Redis client
  // wrote: they must not each stay cached for the life of the process.
  for (let i = 0; i < 3000; i++) seal.keyFor(`made-up-${i}`);
  assert.deepEqual(seal.keyFor('cs-1'), own.keyFor('cs-1'));
  assert.equal(own.keyFor('made-up-1'), undefined);
  assert.equal(seal.keyFor('Not A Server/../x'), undefined, 'no key for a name no server can have');
});

test('a sealed load report put back on the board after it expired (a replay) is not taken as news', async (t) => {
  if (!(await requireRedis(t))) return;
  const root = randomBytes(32);
  const prefix = freshRedisPrefix();
  const clock = new ManualClock(1_700_000_000_000);
  const errors: string[] = [];
  const board = new RedisLoadReportBoard({ url: REDIS_URL, prefix, clock, seal: receptionSeal(root), onError: (e) => errors.push(String(e)) });
  const attacker = new Redis(REDIS_URL);
  try {
    const heard: number[] = [];
    await board.subscribe((posted) => heard.push(posted.report.seq));
    const report: LoadReport = {
      serverId: 'cs-1',
      publicUrl: 'http://127.0.0.1:1',
      controlUrl: 'http://127.0.0.1:2',
      location: { area: 'local', cost: 1 },
      capacity: 4,
      slotsTaken: 0,
      activeTransfers: 0,
      bytesPerSecond: 0,
      memory: { rssBytes: 1, heapUsedBytes: 1 },
      slots: [],
      keySetVersion: '1/',
      sentAt: clock.now(),
      seq: 1,
      intervalMs: 1000,
      draining: false,
    };
    assert.equal(await board.post(report, 3000), true);
    assert.ok(await eventually(() => heard.length === 1), 'the fresh report was announced');
    // What an attacker with Redis access copies while the report is fresh.
    const wire = await attacker.hget(`${prefix}board:r:cs-1`, 'w');
    assert.ok(wire);
    // Well after it expired (3 s) plus the clock tolerance (5 s), the server having gone silent:
    clock.advance(60_000);
    await attacker.hset(`${prefix}board:r:cs-1`, 's', String(report.sentAt), 'w', wire);
    await attacker.publish(`${prefix}board:posted`, `cs-1 ${wire}`);
    assert.equal(await board.get('cs-1'), undefined, 'the replayed report is not read back');
    assert.deepEqual(await board.list(), []);
    assert.ok(await eventually(() => errors.some((e) => /a replay/.test(e))), errors.join('\n'));
    assert.deepEqual(heard, [1], 'the replayed announcement reached no listener');
  } finally {
    attacker.disconnect();
    await board.close();
    await dropRedisSpace(REDIS_URL, prefix);
  }
});

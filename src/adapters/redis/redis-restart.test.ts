import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort } from '../../../bench/harness/net.js';
import { kill9, requireRedisServer, startRedis } from '../../../test/support/own-redis.js';
import { systemClock } from '../../core/clock.js';
import type { Completion, LoadReport } from '../../core/control/messages.js';
import { newId } from '../../core/ids.js';
import type { LedgerEntry } from '../../ports/consumed-ticket-ledger.js';
import type { LineEntry } from '../../ports/waiting-line.js';
import { eventually } from '../../ports/testing/contract-space.js';
import { RedisConsumedTicketLedger } from './redis-consumed-ticket-ledger.js';
import { RedisControlChannel } from './redis-control-channel.js';
import { RedisLoadReportBoard } from './redis-load-report-board.js';
import { RedisWaitingLine } from './redis-waiting-line.js';

// "Redis restarted: service resumes without manual steps, no ticket becomes reusable." The
// shared Redis of this machine is not ours to restart (other test files use it at the same
// time, and it runs unsupervised), so this test starts a Redis of its own, without persistence
// like the shared one, on a free loopback port, kills it with SIGKILL and starts it again on
// the same port. Every adapter must reconnect by itself, notice the loss, and be refilled
// from what the processes hold durably (their local copy, the order store).

function report(serverId: string, seq: number): LoadReport {
  return {
    serverId, publicUrl: 'http://127.0.0.1:8081', controlUrl: 'http://127.0.0.1:9101', location: { area: 'local', cost: 0 },
    capacity: 8, slotsTaken: 0, activeTransfers: 0, bytesPerSecond: 0, memory: { rssBytes: 1, heapUsedBytes: 1 },
    slots: [], keySetVersion: '1', sentAt: Date.now(), seq, draining: false,
  };
}

function completion(i: number): Completion {
  return { ticketId: newId(), orderId: newId(), contentId: newId(), serverId: 'cs-1', outcome: 'completed', bytesDelivered: i, at: Date.now() };
}

test('after a Redis restart (SIGKILL, started again empty) every adapter reconnects, reports the loss and is refilled; no ticket becomes reusable', async (t) => {
  if (!requireRedisServer(t)) return;
  const port = await freePort();
  let server = await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  // Loss checks on a long interval: what must find the loss here is the reconnection itself.
  const common = { url, clock: systemClock, lossCheckMs: 600_000, onError: () => undefined };
  const ledger = new RedisConsumedTicketLedger({ ...common, refillGraceMs: 500 });
  const line = new RedisWaitingLine(common);
  const board = new RedisLoadReportBoard(common);
  const channel = new RedisControlChannel({ ...common, blockMs: 100 });
  const reception = new RedisControlChannel({ ...common, blockMs: 100 });
  t.after(async () => {
    for (const a of [ledger, line, board, channel, reception]) await a.close();
    await kill9(server);
  });

  // Before: a content server consumed tickets (and keeps them locally), people wait in line,
  // reports flow, notices are answered, completions are recorded.
  const lost = { ledger: 0, line: 0, board: 0 };
  const local: LedgerEntry[] = Array.from({ length: 50 }, () => ({ ticketId: newId(), forgetAt: Date.now() + 300_000 }));
  ledger.onLost(() => {
    lost.ledger++;
    void ledger.addAll(local);
  });
  const records: LineEntry[] = Array.from({ length: 5 }, (_, i) => ({ orderId: newId(), contentId: newId(), seq: 100 + i, returnBy: Date.now() + 300_000 }));
  // A line starts unbuilt: a reception builds it from the order store when it starts.
  await line.rebuild([]);
  line.onLost(() => {
    lost.line++;
    void line.rebuild(records);
  });
  board.onLost(() => lost.board++);
  for (const e of local) assert.equal(await ledger.consume(e.ticketId, e.forgetAt), true);
  for (const e of records) await line.join(e);
  const reports: number[] = [];
  await board.subscribe((p) => reports.push(p.report.seq));
  await board.post(report('cs-1', 1), 60_000);
  await channel.serve('cs-1', async () => ({ kind: 'done' }));
  assert.deepEqual(await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 5000), { kind: 'done' });
  const recorded = new Map<string, number>();
  await reception.completions.consume('reception-1', async (batch) => {
    for (const c of batch) recorded.set(c.ticketId, (recorded.get(c.ticketId) ?? 0) + 1);
  }, { claimIdleMs: 1000 });
  const before = completion(1);
  await channel.completions.append([before]);
  assert.ok(await eventually(() => recorded.has(before.ticketId)));
  assert.ok(await eventually(() => lost.line === 0 && reports.length === 1));

  await kill9(server);
  server = await startRedis(port);

  // After: nothing done by hand.
  assert.ok(await eventually(() => lost.ledger === 1 && lost.line === 1 && lost.board === 1, 15_000), `losses seen: ${JSON.stringify(lost)}`);
  for (const e of local) assert.notEqual(await ledger.check(e.ticketId), 'unused', 'a consumed ticket is never unused');
  assert.ok(await eventually(async () => (await ledger.check(local[0]?.ticketId ?? '')) === 'consumed'));
  for (const e of local) assert.equal(await ledger.consume(e.ticketId, e.forgetAt), false, 'refilled: single use holds');
  assert.ok(await eventually(async () => (await line.length(Date.now()).catch(() => -1)) === 5));
  assert.deepEqual(await line.front(Date.now(), 10), records);
  // Pub/sub is at most once: what is published before the subscriber has re-subscribed is
  // missed, which a content server reporting every second makes up for. So keep reporting.
  let seq = 2;
  assert.ok(await eventually(async () => {
    await board.post(report('cs-1', seq++), 60_000);
    return reports.some((n) => n >= 2);
  }), 'the subscription came back by itself');
  // Until the content server has re-subscribed, a notice is `unreachable` (the reception tries
  // another server); then it is answered again.
  assert.ok(await eventually(async () => (await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 5000)).kind === 'done'), 'serving came back by itself');
  const after = completion(2);
  await channel.completions.append([after]);
  assert.ok(await eventually(() => recorded.has(after.ticketId)), 'the consumer group came back by itself');
  assert.ok(await eventually(() => (recorded.get(before.ticketId) ?? 0) >= 1));
});

test('connections killed by the server (CLIENT KILL) come back without any loss being reported', async (t) => {
  if (!requireRedisServer(t)) return;
  const port = await freePort();
  const server = await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  const common = { url, clock: systemClock, lossCheckMs: 600_000, onError: () => undefined };
  const ledger = new RedisConsumedTicketLedger({ ...common, refillGraceMs: 200 });
  const board = new RedisLoadReportBoard(common);
  const channel = new RedisControlChannel({ ...common, blockMs: 100 });
  const admin = new Redis(port, '127.0.0.1');
  admin.on('error', () => undefined);
  t.after(async () => {
    for (const a of [ledger, board, channel]) await a.close();
    admin.disconnect(false);
    await kill9(server);
  });
  let losses = 0;
  ledger.onLost(() => losses++);
  board.onLost(() => losses++);
  const ticket = newId();
  assert.ok(await eventually(async () => (await ledger.check(newId())) === 'unused'));
  await ledger.consume(ticket, Date.now() + 60_000);
  const seen: number[] = [];
  await board.subscribe((p) => seen.push(p.report.seq));
  await channel.serve('cs-1', async () => ({ kind: 'done' }));
  const recorded: string[] = [];
  await channel.completions.consume('reception-1', async (batch) => {
    recorded.push(...batch.map((c) => c.ticketId));
  }, { claimIdleMs: 1000 });

  const killed = Number(await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes')) + Number(await admin.client('KILL', 'TYPE', 'pubsub'));
  assert.ok(killed >= 3, `killed ${killed} connections`);

  assert.equal(await ledger.check(ticket), 'consumed');
  let seq = 5;
  assert.ok(await eventually(async () => {
    await board.post(report('cs-1', seq++), 60_000);
    return seen.some((n) => n >= 5);
  }));
  assert.ok(await eventually(async () => (await channel.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 5000)).kind === 'done'));
  const c = completion(3);
  await channel.completions.append([c]);
  assert.ok(await eventually(() => recorded.includes(c.ticketId)));
  assert.equal(losses, 0, 'a dropped connection is not a lost store');
});

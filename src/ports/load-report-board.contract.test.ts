import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLoadReportBoard } from '../adapters/memory/memory-load-report-board.js';
import { RedisLoadReportBoard } from '../adapters/redis/redis-load-report-board.js';
import type { LoadReport } from '../core/control/messages.js';
import type { LoadReportBoard, PostedReport } from './load-report-board.js';
import { eventually, memoryBackend, redisBackend, runContract, type ContractSpace } from './testing/contract-space.js';

// One contract, every adapter: the in-process board and the Redis board go through the same
// cases (Redis must be reachable under CI=true; elsewhere it is skipped, loudly).

function report(serverId: string, sentAt: number, overrides: Partial<LoadReport> = {}): LoadReport {
  return {
    serverId,
    publicUrl: `http://127.0.0.1:8081/${serverId}`,
    controlUrl: 'http://127.0.0.1:9101',
    location: { area: 'tokyo', cost: 3 },
    capacity: 8,
    slotsTaken: 2,
    activeTransfers: 1,
    bytesPerSecond: 1_250_000,
    memory: { rssBytes: 80 * 2 ** 20, heapUsedBytes: 20 * 2 ** 20 },
    slots: [{ ticketId: '6f1c1c4e-8d1e-4c55-9a55-6a2b1f0b7d11', remainingBytes: 5 * 2 ** 30, bytesPerSecond: 1_250_000, releaseBy: sentAt + 60_000, state: 'active' }],
    keySetVersion: '1:2',
    sentAt,
    seq: 7,
    intervalMs: 1000,
    draining: false,
    transferRateLimit: 0,
    ...overrides,
  };
}

const cases: Readonly<Record<string, (s: ContractSpace<LoadReportBoard>) => Promise<void>>> = {
  async 'a posted report reads back exactly, from any handle, listed by server ID'(s) {
    const a = s.open();
    const b = s.open();
    const now = s.clock.now();
    const r2 = report('cs-2', now);
    const r1 = report('cs-1', now, { location: { area: 'Ōsaka — 大阪', cost: 0.5 } });
    assert.equal(await a.post(r2, 60_000), true);
    assert.equal(await b.post(r1, 60_000), true);
    const got = await b.get('cs-2');
    assert.deepEqual(got?.report, r2);
    assert.ok(got !== undefined && got.expiresAt === got.postedAt + 60_000);
    assert.deepEqual((await a.list()).map((p) => p.report), [r1, r2]);
    assert.equal(await a.get('cs-9'), undefined);
  },

  async 'a server that stops reporting disappears after its TTL; one that reports again stays'(s) {
    const board = s.open();
    // With Redis the clock is real, and a loaded machine oversleeps: every check holds however
    // long a wait overruns, up to the 5 s of cs-2's second report.
    await board.post(report('cs-1', s.clock.now()), 1000);
    await board.post(report('cs-2', s.clock.now()), 1000);
    await s.advance(600);
    await board.post(report('cs-2', s.clock.now()), 5000);
    await s.advance(600);
    assert.equal(await board.get('cs-1'), undefined, 'cs-1 fell silent and is gone');
    assert.deepEqual((await board.list()).map((p) => p.report.serverId), ['cs-2']);
    await s.advance(5100);
    assert.deepEqual(await board.list(), []);
  },

  async 'an older report never replaces a newer one; a restarted server (seq 1) does'(s) {
    const board = s.open();
    const t = s.clock.now();
    await board.post(report('cs-1', t, { seq: 40, slotsTaken: 5 }), 60_000);
    assert.equal(await board.post(report('cs-1', t - 500, { seq: 39, slotsTaken: 1 }), 60_000), false, 'crossed on the wire');
    assert.equal((await board.get('cs-1'))?.report.slotsTaken, 5);
    assert.equal(await board.post(report('cs-1', t + 500, { seq: 1, slotsTaken: 0 }), 60_000), true);
    assert.equal((await board.get('cs-1'))?.report.seq, 1);
    await assert.rejects(board.post(report('cs-1', t + 600), 0), TypeError);
  },

  async 'subscribers are told of every report taken, on every handle, until they unsubscribe'(s) {
    const reception1 = s.open();
    const reception2 = s.open();
    const server = s.open();
    const seen1: PostedReport[] = [];
    const seen2: string[] = [];
    const stop1 = await reception1.subscribe((p) => seen1.push(p));
    await reception2.subscribe((p) => seen2.push(`${p.report.serverId}#${p.report.seq}`));
    const t = s.clock.now();
    await server.post(report('cs-1', t, { seq: 1 }), 60_000);
    await server.post(report('cs-2', t, { seq: 1 }), 60_000);
    await server.post(report('cs-1', t - 1, { seq: 0 }), 60_000);
    await server.post(report('cs-1', t + 1, { seq: 2 }), 60_000);
    assert.ok(await eventually(() => seen1.length >= 3 && seen2.length >= 3));
    assert.deepEqual(seen1.map((p) => `${p.report.serverId}#${p.report.seq}`), ['cs-1#1', 'cs-2#1', 'cs-1#2'], 'the refused report is not announced');
    assert.deepEqual(seen1[0]?.report, report('cs-1', t, { seq: 1 }));
    await stop1();
    await stop1();
    await server.post(report('cs-3', t, { seq: 1 }), 60_000);
    assert.ok(await eventually(() => seen2.length === 4));
    assert.equal(seen1.length, 3, 'an unsubscribed listener hears nothing more');
  },

  async 'a listener that throws does not stop the others'(s) {
    const board = s.open();
    const seen: string[] = [];
    await board.subscribe(() => {
      throw new Error('listener bug');
    });
    await board.subscribe((p) => seen.push(p.report.serverId));
    await board.post(report('cs-1', s.clock.now()), 60_000);
    assert.ok(await eventually(() => seen.length === 1));
  },

  async 'a store that lost everything says so; reports and subscriptions come back with the next post'(s) {
    const board = s.open();
    if (!board.capabilities.losesStateOnStoreRestart || s.lose === undefined) return;
    let lost = 0;
    board.onLost(() => lost++);
    const seen: string[] = [];
    await board.subscribe((p) => seen.push(p.report.serverId));
    await board.post(report('cs-1', s.clock.now()), 60_000);
    await s.lose();
    assert.deepEqual(await board.list(), []);
    assert.ok(await eventually(() => lost === 1), 'the loss is noticed without a reconnection');
    await board.post(report('cs-2', s.clock.now()), 60_000);
    assert.ok(await eventually(() => seen.includes('cs-2')));
    assert.deepEqual((await board.list()).map((p) => p.report.serverId), ['cs-2']);
  },
};

runContract<LoadReportBoard>(
  'load-report board',
  [
    memoryBackend((clock) => ({ first: new MemoryLoadReportBoard(clock, { onError: () => undefined }), share: (b) => (b as MemoryLoadReportBoard).share() })),
    redisBackend((o) => new RedisLoadReportBoard({ ...o, lossCheckMs: 50, commandTimeoutMs: 10_000, onError: () => undefined })),
  ],
  cases,
  test,
);

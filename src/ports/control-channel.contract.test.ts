import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryControlChannel } from '../adapters/memory/memory-control-channel.js';
import { RedisControlChannel } from '../adapters/redis/redis-control-channel.js';
import type { Completion, Notice } from '../core/control/messages.js';
import { newId } from '../core/ids.js';
import type { ControlChannel, ControlRequest } from './control-channel.js';
import { eventually, memoryBackend, redisBackend, runContract, type ContractSpace } from './testing/contract-space.js';

// One contract, every adapter: the in-process channel and the Redis channel. A "reception"
// and a "content server" are two handles on the same space, as two processes would be.

function notice(now: number): Notice {
  return {
    ticketId: newId(),
    orderId: newId(),
    contentId: newId(),
    notBefore: now,
    expiresAt: now + 300_000,
    holdUntil: now + 30_000,
    maxConnections: 4,
  };
}

function completion(serverId: string, i: number): Completion {
  return { ticketId: newId(), orderId: newId(), contentId: newId(), serverId, outcome: i % 3 === 0 ? 'expired' : 'completed', bytesDelivered: i * 1000, at: Date.UTC(2026, 0, 1) + i };
}

/** A consumer that records what it gets; `hold` keeps the handler from finishing (a reception stuck or dying). */
function recorder(): { got: Completion[]; calls: number; batches: number[]; hold: boolean; fail: boolean; handler: (b: readonly Completion[]) => Promise<void> } {
  const r = {
    got: [] as Completion[],
    calls: 0,
    batches: [] as number[],
    hold: false,
    fail: false,
    handler: async (batch: readonly Completion[]): Promise<void> => {
      r.calls++;
      if (r.hold) await new Promise(() => undefined);
      if (r.fail) throw new Error('database down');
      r.batches.push(batch.length);
      r.got.push(...batch);
    },
  };
  return r;
}

const cases: Readonly<Record<string, (s: ContractSpace<ControlChannel>) => Promise<void>>> = {
  async 'a notice goes to the one server it names and its answer comes back'(s) {
    const reception = s.open();
    const cs1 = s.open();
    const cs2 = s.open();
    const seen: string[] = [];
    await cs1.serve('cs-1', async (request) => {
      seen.push(`cs-1:${request.kind}`);
      if (request.kind === 'notice') return { kind: 'notice-accepted', accepted: { ticketId: request.notice.ticketId, holdUntil: request.notice.holdUntil } };
      if (request.kind === 'withdraw-notice') return { kind: 'done' };
      return { kind: 'refused', code: 'validation-failed', detail: 'not here' };
    });
    await cs2.serve('cs-2', async (request) => {
      seen.push(`cs-2:${request.kind}`);
      return { kind: 'refused', code: 'slots-full', detail: 'all 8 slots taken' };
    });
    const n = notice(s.clock.now());
    assert.deepEqual(await reception.request('cs-1', { kind: 'notice', notice: n }, 5000), {
      kind: 'notice-accepted',
      accepted: { ticketId: n.ticketId, holdUntil: n.holdUntil },
    });
    assert.deepEqual(await reception.request('cs-2', { kind: 'notice', notice: n }, 5000), { kind: 'refused', code: 'slots-full', detail: 'all 8 slots taken' });
    assert.deepEqual(await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: n.ticketId }, 5000), { kind: 'done' });
    const settings: ControlRequest = { kind: 'server-settings', settings: { drain: true } };
    assert.equal((await reception.request('cs-1', settings, 5000)).kind, 'refused');
    assert.deepEqual(seen, ['cs-1:notice', 'cs-2:notice', 'cs-1:withdraw-notice', 'cs-1:server-settings']);
  },

  async 'many requests in flight each get their own answer'(s) {
    const reception = s.open();
    const server = s.open();
    await server.serve('cs-1', async (request) => {
      if (request.kind !== 'withdraw-notice') throw new TypeError('unexpected');
      await sleep(Number.parseInt(request.ticketId.slice(0, 1), 16) % 5);
      return { kind: 'refused', code: 'validation-failed', detail: request.ticketId };
    });
    const ids = Array.from({ length: 40 }, () => newId());
    const answers = await Promise.all(ids.map((ticketId) => reception.request('cs-1', { kind: 'withdraw-notice', ticketId }, 5000)));
    assert.deepEqual(answers.map((a) => (a.kind === 'refused' ? a.detail : a.kind)), ids);
  },

  async 'a handler that throws is answered as refused/internal'(s) {
    const reception = s.open();
    await s.open().serve('cs-1', async () => {
      throw new Error('slot table corrupted');
    });
    const answer = await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 5000);
    assert.equal(answer.kind, 'refused');
    assert.equal(answer.kind === 'refused' ? answer.code : '', 'internal');
  },

  async 'nobody serving the server ID: unreachable, at once where the channel can tell'(s) {
    const reception = s.open();
    const server = s.open();
    const stop = await server.serve('cs-1', async () => ({ kind: 'done' }));
    assert.deepEqual(await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 5000), { kind: 'done' });
    await assert.rejects(server.serve('cs-1', async () => ({ kind: 'done' })), TypeError, 'one process serves a server ID');
    await stop();
    const answer = await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, reception.capabilities.detectsAbsentResponder ? 60_000 : 200);
    assert.equal(answer.kind, 'unanswered');
    if (reception.capabilities.detectsAbsentResponder) assert.deepEqual(answer, { kind: 'unanswered', reason: 'unreachable' });
    assert.deepEqual(await reception.request('cs-9', { kind: 'withdraw-notice', ticketId: newId() }, 60_000 ), reception.capabilities.detectsAbsentResponder ? { kind: 'unanswered', reason: 'unreachable' } : { kind: 'unanswered', reason: 'timeout' });
  },

  async 'a server that does not answer in time: timeout, and a late answer is ignored'(s) {
    const reception = s.open();
    let release: () => void = () => undefined;
    await s.open().serve('cs-1', () => new Promise((resolve) => {
      release = () => resolve({ kind: 'done' });
    }));
    assert.deepEqual(await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 100), { kind: 'unanswered', reason: 'timeout' });
    release();
    await sleep(20);
    assert.deepEqual(await s.open().request('cs-2', { kind: 'withdraw-notice', ticketId: newId() }, 100), { kind: 'unanswered', reason: 'unreachable' });
  },

  async 'completions reach a reception once each, in order, in bounded batches'(s) {
    const server = s.open();
    const reception = s.open();
    const r = recorder();
    await reception.completions.consume('reception-1', r.handler, { maxBatch: 7, claimIdleMs: 60_000 });
    const sent = Array.from({ length: 30 }, (_, i) => completion('cs-1', i));
    await server.completions.append(sent.slice(0, 10));
    await server.completions.append(sent.slice(10));
    assert.ok(await eventually(() => r.got.length >= 30));
    await sleep(50);
    assert.deepEqual(r.got, sent);
    assert.ok(r.batches.every((n) => n <= 7));
  },

  async 'several receptions share the completions: each goes to one of them'(s) {
    const server = s.open();
    const r1 = recorder();
    const r2 = recorder();
    await s.open().completions.consume('reception-1', r1.handler, { claimIdleMs: 60_000 });
    await s.open().completions.consume('reception-2', r2.handler, { claimIdleMs: 60_000 });
    const sent = Array.from({ length: 40 }, (_, i) => completion(`cs-${i % 3}`, i));
    for (const c of sent) await server.completions.append([c]);
    assert.ok(await eventually(() => r1.got.length + r2.got.length >= 40));
    await sleep(50);
    const got = [...r1.got, ...r2.got].map((c) => c.ticketId).sort();
    assert.deepEqual(got, sent.map((c) => c.ticketId).sort());
  },

  async 'a completion whose handler failed is delivered again'(s) {
    const server = s.open();
    const r = recorder();
    r.fail = true;
    await s.open().completions.consume('reception-1', r.handler, { claimIdleMs: 200 });
    const c = completion('cs-1', 1);
    await server.completions.append([c]);
    assert.ok(await eventually(() => r.calls >= 1));
    r.fail = false;
    await s.advance(250);
    assert.ok(await eventually(() => r.got.length === 1));
    assert.deepEqual(r.got, [c]);
  },

  async 'a reception that dies holding completions: another takes them over'(s) {
    const server = s.open();
    const dying = recorder();
    dying.hold = true;
    const stopDying = await s.open().completions.consume('reception-1', dying.handler, { claimIdleMs: 200 });
    const sent = [completion('cs-1', 1), completion('cs-1', 2)];
    await server.completions.append(sent);
    assert.ok(await eventually(() => dying.calls >= 1));
    await stopDying();
    const survivor = recorder();
    await s.open().completions.consume('reception-2', survivor.handler, { claimIdleMs: 200 });
    await s.advance(250);
    assert.ok(await eventually(() => survivor.got.length >= 2));
    assert.deepEqual(survivor.got.map((c) => c.ticketId).sort(), sent.map((c) => c.ticketId).sort());
  },

  async 'a reception restarted under the same name gets back what it had taken'(s) {
    const server = s.open();
    const before = recorder();
    before.hold = true;
    const stop = await s.open().completions.consume('reception-1', before.handler, { claimIdleMs: 60_000 });
    const c = completion('cs-1', 1);
    await server.completions.append([c]);
    assert.ok(await eventually(() => before.calls >= 1));
    await stop();
    const after = recorder();
    await s.open().completions.consume('reception-1', after.handler, { claimIdleMs: 60_000 });
    assert.ok(await eventually(() => after.got.length === 1), 'without waiting for claimIdleMs');
    assert.deepEqual(after.got, [c]);
  },

  async 'every watcher hears every completion appended, while the consumers still get each once'(s) {
    const server = s.open();
    const consumer = recorder();
    await s.open().completions.consume('reception-1', consumer.handler, { claimIdleMs: 60_000 });
    const heard: Completion[][] = [[], []];
    const stops = await Promise.all(heard.map((into) => s.open().completions.watch((batch) => into.push(...batch))));
    const sent = Array.from({ length: 20 }, (_, i) => completion(`cs-${i % 3}`, i));
    for (const c of sent) await server.completions.append([c]);
    assert.ok(await eventually(() => heard.every((h) => h.length >= sent.length) && consumer.got.length >= sent.length));
    await sleep(50);
    for (const h of heard) assert.deepEqual(h, sent);
    assert.deepEqual(consumer.got.map((c) => c.ticketId).sort(), sent.map((c) => c.ticketId).sort());
    // A watcher that stopped hears nothing more; the other still does.
    await stops[0]?.();
    const late = completion('cs-1', 99);
    await server.completions.append([late]);
    assert.ok(await eventually(() => heard[1]?.at(-1)?.ticketId === late.ticketId));
    await sleep(50);
    assert.equal(heard[0]?.length, sent.length);
  },
  async 'a watcher hears one append as one batch'(s) {
    const server = s.open();
    const batches: Completion[][] = [];
    await s.open().completions.watch((batch) => batches.push([...batch]));
    const sent = Array.from({ length: 3 }, (_, i) => completion('cs-1', i));
    await server.completions.append(sent);
    assert.ok(await eventually(() => batches.length >= 1));
    await sleep(50);
    assert.deepEqual(batches, [sent]);
  },
  async 'a watcher hears only what is appended after its watch is in place'(s) {
    const server = s.open();
    const early = completion('cs-1', 1);
    await server.completions.append([early]);
    const heard: Completion[] = [];
    await s.open().completions.watch((batch) => heard.push(...batch));
    const later = completion('cs-1', 2);
    await server.completions.append([later]);
    assert.ok(await eventually(() => heard.length >= 1));
    await sleep(50);
    assert.deepEqual(heard, [later]);
  },
  async 'completions appended before the store lost them are appended again'(s) {
    const server = s.open();
    if (!server.capabilities.crossProcess || s.lose === undefined) return;
    const c = completion('cs-1', 1);
    await server.completions.append([c]);
    await s.lose();
    const r = recorder();
    await s.open().completions.consume('reception-1', r.handler, { claimIdleMs: 60_000 });
    assert.ok(await eventually(() => r.got.some((g) => g.ticketId === c.ticketId)));
  },
};

runContract<ControlChannel>(
  'control channel',
  [
    memoryBackend((clock) => ({ first: new MemoryControlChannel(clock, { pollMs: 10 }), share: (c) => (c as MemoryControlChannel).share() })),
    redisBackend((o) => new RedisControlChannel({ ...o, lossCheckMs: 50, blockMs: 100, onError: () => undefined })),
  ],
  cases,
  test,
);

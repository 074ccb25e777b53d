import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { REDIS_URL, requireRedis } from '../../../test/support/services.js';
import { systemClock } from '../../core/clock.js';
import type { Completion, LoadReport } from '../../core/control/messages.js';
import { newId } from '../../core/ids.js';
import { eventually } from '../../ports/testing/contract-space.js';
import { openMessage, sealMessage, type MessageSeal } from './message-seal.js';
import { RedisControlChannel } from './redis-control-channel.js';
import { RedisLoadReportBoard } from './redis-load-report-board.js';
import { dropRedisSpace, freshRedisPrefix } from './testing/redis-test-space.js';

const keys = new Map([['cs-1', randomBytes(32)], ['cs-2', randomBytes(32)]]);
/** A reception: every server's key. */
const receptionSeal: MessageSeal = { keyFor: (id) => keys.get(id) };
/** A content server: its own key only. */
const serverSeal = (own: string): MessageSeal => ({ keyFor: (id) => (id === own ? keys.get(own) : undefined) });

test('signed and encrypted messages open only under the right server key and unaltered', () => {
  for (const mode of ['sign', 'encrypt'] as const) {
    const wire = sealMessage(receptionSeal, 'cs-1', '{"a":"東京"}', mode);
    assert.equal(openMessage(serverSeal('cs-1'), 'cs-1', wire, mode), '{"a":"東京"}');
    assert.equal(openMessage(serverSeal('cs-2'), 'cs-1', wire, mode), undefined, 'another server has no key for it');
    assert.equal(openMessage(receptionSeal, 'cs-2', wire, mode), undefined, 'under another server\'s name');
    const flipped = wire.slice(0, -2) + (wire.at(-2) === 'A' ? 'B' : 'A') + wire.at(-1);
    assert.equal(openMessage(receptionSeal, 'cs-1', flipped, mode), undefined, 'altered');
    assert.equal(openMessage(undefined, 'cs-1', wire, mode), undefined, 'a sealed message is not taken as plain');
  }
  const plain = sealMessage(undefined, 'cs-1', 'x', 'sign');
  assert.equal(openMessage(undefined, 'cs-1', plain, 'sign'), 'x');
  assert.equal(openMessage(receptionSeal, 'cs-1', plain, 'sign'), undefined, 'plain is refused once a seal is configured');
  assert.equal(openMessage(receptionSeal, 'cs-1', sealMessage(receptionSeal, 'cs-1', 'x', 'sign'), 'encrypt'), undefined, 'signed is not enough where encryption is asked');
  assert.ok(!sealMessage(receptionSeal, 'cs-1', 'secret-key-material', 'encrypt').includes('secret'), 'encrypted is unreadable');
  assert.throws(() => sealMessage(serverSeal('cs-2'), 'cs-1', 'x', 'sign'), TypeError);
});

function report(serverId: string, seq: number): LoadReport {
  return {
    serverId, publicUrl: 'http://127.0.0.1:8081', controlUrl: 'http://127.0.0.1:9101', location: { area: 'local', cost: 0 },
    capacity: 8, slotsTaken: seq, activeTransfers: 0, bytesPerSecond: 0, memory: { rssBytes: 1, heapUsedBytes: 1 },
    slots: [], keySetVersion: '1', sentAt: Date.now() + seq, seq, draining: false,
  };
}

test('on a sealed Redis channel nobody can speak for a server without its key', async (t) => {
  if (!(await requireRedis(t))) return;
  const prefix = freshRedisPrefix();
  const base = { url: REDIS_URL, prefix, clock: systemClock, onError: () => undefined };
  const receptionBoard = new RedisLoadReportBoard({ ...base, seal: receptionSeal });
  const cs1Board = new RedisLoadReportBoard({ ...base, seal: serverSeal('cs-1') });
  const intruderBoard = new RedisLoadReportBoard({ ...base, seal: serverSeal('cs-2') });
  const plainBoard = new RedisLoadReportBoard(base);
  const reception = new RedisControlChannel({ ...base, seal: receptionSeal, blockMs: 100 });
  const cs1 = new RedisControlChannel({ ...base, seal: serverSeal('cs-1'), blockMs: 100 });
  const intruder = new RedisControlChannel({ ...base, seal: serverSeal('cs-2'), blockMs: 100 });
  const plain = new RedisControlChannel({ ...base, blockMs: 100 });
  t.after(async () => {
    for (const a of [receptionBoard, cs1Board, intruderBoard, plainBoard, reception, cs1, intruder, plain]) await a.close();
    await dropRedisSpace(REDIS_URL, prefix);
  });

  // Reports: a forged one (another server's key, or none) is never shown to the reception.
  const seen: string[] = [];
  await receptionBoard.subscribe((p) => seen.push(`${p.report.serverId}#${p.report.seq}`));
  await plainBoard.post(report('cs-1', 1), 60_000);
  await assert.rejects(intruderBoard.post(report('cs-1', 2), 60_000), TypeError, 'it holds no key for cs-1');
  await cs1Board.post(report('cs-1', 3), 60_000);
  assert.ok(await eventually(() => seen.includes('cs-1#3')));
  assert.deepEqual(seen, ['cs-1#3']);
  assert.equal((await receptionBoard.get('cs-1'))?.report.seq, 3);

  // Requests: only the holder of cs-1's key can read a notice to cs-1 and answer it.
  await cs1.serve('cs-1', async () => ({ kind: 'done' }));
  assert.deepEqual(await reception.request('cs-1', { kind: 'server-settings', settings: { drain: false } }, 5000), { kind: 'done' });
  // Another server may listen on cs-1's channel, but it cannot open what it hears.
  let intruderCalled = 0;
  const stop = await intruder.serve('cs-1', async () => {
    intruderCalled++;
    return { kind: 'refused', code: 'slots-full', detail: 'forged' };
  });
  const answers = await Promise.all(Array.from({ length: 5 }, () => reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 5000)));
  await stop();
  assert.ok(answers.every((a) => a.kind === 'done'));
  assert.equal(intruderCalled, 0);

  // Completions: a forged one is dropped, a genuine one is recorded; watchers hear the genuine
  // one only (a forged hint would free a slot in a reception's view).
  const recorded: Completion[] = [];
  const heard: Completion[] = [];
  await reception.completions.consume('reception-1', async (batch) => {
    recorded.push(...batch);
  }, { claimIdleMs: 60_000 });
  await reception.completions.watch((batch) => heard.push(...batch));
  const forged: Completion = { ticketId: newId(), orderId: newId(), contentId: newId(), serverId: 'cs-1', outcome: 'completed', bytesDelivered: 1, at: Date.now() };
  await plain.completions.append([forged]);
  await assert.rejects(intruder.completions.append([forged]), TypeError);
  const genuine = { ...forged, ticketId: newId() };
  await cs1.completions.append([genuine]);
  assert.ok(await eventually(() => recorded.length >= 1 && heard.length >= 1));
  assert.deepEqual(recorded, [genuine]);
  assert.deepEqual(heard, [genuine]);
});

test('a message that opens but is not what this version reads is ignored with an error, never thrown', async (t) => {
  if (!(await requireRedis(t))) return;
  const prefix = freshRedisPrefix();
  const errors: string[] = [];
  const base = { url: REDIS_URL, prefix, clock: systemClock, onError: (e: unknown) => errors.push(String(e)) };
  // Unsealed, as on a trusted network: anyone on Redis can write these.
  const board = new RedisLoadReportBoard(base);
  const reception = new RedisControlChannel({ ...base, blockMs: 100 });
  const server = new RedisControlChannel({ ...base, blockMs: 100 });
  const raw = new Redis(REDIS_URL);
  t.after(async () => {
    for (const a of [board, reception, server]) await a.close();
    raw.disconnect();
    await dropRedisSpace(REDIS_URL, prefix);
  });
  const seen: number[] = [];
  await board.subscribe((p) => seen.push(p.report.seq));
  await server.serve('cs-1', async () => ({ kind: 'done' }));
  const recorded: Completion[] = [];
  await reception.completions.consume('reception-1', async (batch) => {
    recorded.push(...batch);
  }, { claimIdleMs: 60_000 });

  for (const junk of ['u.not json', 'u.[1]', 'u.{}', 'u.{"report":null}']) {
    await raw.publish(`${prefix}board:posted`, `cs-1 ${junk}`);
    await raw.publish(`${prefix}ctl:to:cs-1`, junk);
    await raw.xadd(`${prefix}ctl:completions`, '*', 's', 'cs-1', 'c', junk);
  }
  await board.post(report('cs-1', 7), 60_000);
  assert.deepEqual(await reception.request('cs-1', { kind: 'withdraw-notice', ticketId: newId() }, 5000), { kind: 'done' });
  const genuine: Completion = { ticketId: newId(), orderId: newId(), contentId: newId(), serverId: 'cs-1', outcome: 'completed', bytesDelivered: 1, at: Date.now() };
  await server.completions.append([genuine]);
  assert.ok(await eventually(() => recorded.length >= 1 && seen.length >= 1));
  assert.deepEqual(recorded, [genuine]);
  assert.deepEqual(seen, [7]);
  assert.ok(errors.some((e) => /not a control request/.test(e)), errors.join('\n'));
  assert.ok(errors.some((e) => /names another server or none/.test(e)), errors.join('\n'));
});

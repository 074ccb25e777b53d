import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { checkDelayMs, placeOrderAdmitted, type AdmissionEvent } from './place-order-admitted.js';
import { ReceptionClient } from './reception-client.js';
import { linePlaceOf } from './reception-decoders.js';
import type { Content } from './reception-types.js';
import { ContractReception } from './testing/contract-reception.js';
import { rejectsWithCode } from './testing/rejects-with-code.js';
import { TicketFileServer } from './testing/ticket-file-server.js';

describe('placeOrderAdmitted: waiting in line over real HTTP', () => {
  let files: TicketFileServer;
  let reception: ContractReception;
  let client: ReceptionClient;
  let content: Content;

  beforeEach(async () => {
    files = await TicketFileServer.start('cs-4');
    reception = await ContractReception.start(files);
    client = new ReceptionClient({ baseUrl: reception.baseUrl });
    content = reception.addContent('Queued', 'q.bin', randomBytes(64));
  });
  afterEach(async () => {
    await reception.close();
    await files.close();
  });

  test('comes back at retry_at with the latest token and Prefer: wait=20 until admitted', async () => {
    reception.scriptOrders(
      { kind: 'in-line', position: 3, lineLength: 9, estimatedWaitS: 0.9 },
      { kind: 'in-line', position: 2, lineLength: 8, estimatedWaitS: null },
      { kind: 'in-line', position: 1, lineLength: 5 },
    );
    const events: AdmissionEvent[] = [];
    const placed = await placeOrderAdmitted(client, content.id, { onEvent: (e) => events.push(e) });

    assert.deepEqual(
      events.map((e) => (e.type === 'waiting' ? [e.type, e.position, e.lineLength, e.estimatedWaitS, e.checks] : e.type === 'admitted' ? [e.type, e.checks] : [e.type])),
      [
        ['waiting', 3, 9, 0.9, 1],
        ['waiting', 2, 8, undefined, 2],
        ['waiting', 1, 5, 0.2, 3],
        ['admitted', 4],
      ],
    );
    const waits = events.filter((e) => e.type === 'waiting');
    for (const w of waits) {
      assert.equal(w.orderId, placed.order.id, 'the order that waited is the one admitted');
      const delay = w.retryAt - w.answeredAt;
      assert.ok(delay >= 100 && delay <= 200, `next check in ${delay} ms`);
    }
    const admitted = events.at(-1);
    assert.ok(admitted?.type === 'admitted' && admitted.orderId === placed.order.id && admitted.waitedMs >= 600);

    const posts = reception.orderPosts;
    assert.deepEqual(posts.map((p) => [p.status, p.prefer]), [[503, undefined], [503, 'wait=20'], [503, 'wait=20'], [201, 'wait=20']]);
    assert.equal(posts[0]?.queueToken, undefined);
    const tokens = posts.slice(1).map((p) => p.queueToken);
    assert.equal(new Set(tokens).size, 3, 'each check brought the token of the answer before it');
    for (const p of posts.slice(1)) assert.ok(p.lateMs !== undefined && p.lateMs >= -5 && p.lateMs < 1000, `came back ${p.lateMs} ms after retry_at`);
  });

  test('the contract reception refuses a superseded token (the fake checks what the test relies on)', async () => {
    reception.scriptOrders({ kind: 'in-line', position: 2 }, { kind: 'in-line', position: 1 });
    const first = linePlaceOf(await rejectsWithCode(client.placeOrder(content.id), 'all-servers-busy'));
    assert.ok(first);
    const second = linePlaceOf(await rejectsWithCode(client.placeOrder(content.id, { queueToken: first.queueToken }), 'all-servers-busy'));
    assert.ok(second && second.queueToken !== first.queueToken && second.orderId === first.orderId);
    const stale = await rejectsWithCode(client.placeOrder(content.id, { queueToken: first.queueToken }), 'queue-token-invalid');
    assert.equal(stale.status, 403);
    assert.equal((await client.placeOrder(content.id, { queueToken: second.queueToken })).order.id, first.orderId);
  });

  test('a lost place is thrown as queue-place-lost, never silently re-ordered', async () => {
    reception.scriptOrders({ kind: 'in-line', position: 4 }, { kind: 'place-lost' });
    const events: AdmissionEvent[] = [];
    const error = await rejectsWithCode(placeOrderAdmitted(client, content.id, { onEvent: (e) => events.push(e) }), 'queue-place-lost');
    assert.equal(error.status, 410);
    assert.deepEqual(events.map((e) => e.type), ['waiting']);
    assert.equal(reception.orderPosts.length, 2, 'no new order after the place was lost');
  });

  test('429 rate-limited is waited out (Retry-After), in line or not, keeping the place', async () => {
    reception.scriptOrders({ kind: 'rate-limited', retryAfterS: 0.2 }, { kind: 'in-line', position: 1 }, { kind: 'rate-limited', retryAfterS: 0.2 });
    const events: AdmissionEvent[] = [];
    const placed = await placeOrderAdmitted(client, content.id, { onEvent: (e) => events.push(e) });
    assert.deepEqual(
      events.map((e) => (e.type === 'retrying' ? `${e.type} ${e.code} ${e.attempt}/${e.maxAttempts}` : e.type)),
      ['retrying rate-limited 1/5', 'waiting', 'retrying rate-limited 1/5', 'admitted'],
    );
    const posts = reception.orderPosts;
    assert.deepEqual(posts.map((p) => p.status), [429, 503, 429, 201]);
    assert.equal(posts[3]?.queueToken, posts[2]?.queueToken, 'the place survived the 429');
    const waiting = events.find((e) => e.type === 'waiting');
    assert.equal(waiting?.type === 'waiting' ? waiting.orderId : undefined, placed.order.id);
  });

  test('a full line is tried a bounded number of times, then given up with a clear error', async () => {
    reception.scriptOrders(...Array.from({ length: 4 }, () => ({ kind: 'queue-full' as const, retryAfterS: 0.1 })));
    const events: AdmissionEvent[] = [];
    const error = await rejectsWithCode(placeOrderAdmitted(client, content.id, { maxRetries: 2, onEvent: (e) => events.push(e) }), 'queue-full');
    assert.equal(error.status, 503);
    assert.equal(error.message, 'gave up after 3 tries: the waiting line is full; try again later (queue-full)');
    assert.equal(reception.orderPosts.length, 3);
    assert.equal(events.length, 2);
  });

  test("whenBusy 'fail' throws the first refusal, with the place it offered", async () => {
    reception.scriptOrders({ kind: 'in-line', position: 7, lineLength: 40, estimatedWaitS: 12.4, retryAfterS: 3 });
    const error = await rejectsWithCode(placeOrderAdmitted(client, content.id, { whenBusy: 'fail' }), 'all-servers-busy');
    const place = linePlaceOf(error);
    assert.equal(place?.position, 7);
    assert.equal(place?.lineLength, 40);
    assert.equal(place?.estimatedWaitS, 12.4);
    assert.equal(place?.retryAfterS, 3);
    assert.equal(reception.orderPosts.length, 1);
  });

  test('an abort while waiting ends the wait at once with the abort reason', async () => {
    reception.scriptOrders({ kind: 'in-line', position: 1, retryAfterS: 30 });
    const controller = new AbortController();
    const reason = new Error('user left');
    const started = Date.now();
    await assert.rejects(
      placeOrderAdmitted(client, content.id, { signal: controller.signal, onEvent: () => controller.abort(reason) }),
      (error) => error === reason,
    );
    assert.ok(Date.now() - started < 5000);
    assert.equal(reception.orderPosts.length, 1);
  });
});

test('checkDelayMs trusts retry_at only within the second Retry-After rounds to', () => {
  const now = Date.parse('2026-11-21T14:00:00.000Z');
  const at = (ms: number): string => new Date(now + ms).toISOString();
  // Agreeing clocks: retry_at gives sub-second precision.
  assert.equal(checkDelayMs({ retryAt: at(3400), retryAfterS: 4 }, now), 3400);
  assert.equal(checkDelayMs({ retryAt: at(200), retryAfterS: 0.2 }, now), 200);
  // Our clock 10 s behind the reception's, or ahead: Retry-After bounds the damage.
  assert.equal(checkDelayMs({ retryAt: at(13_400), retryAfterS: 4 }, now), 4000);
  assert.equal(checkDelayMs({ retryAt: at(-6_600), retryAfterS: 4 }, now), 3000);
  // Only one of them, or neither; and never a busy loop.
  assert.equal(checkDelayMs({ retryAt: undefined, retryAfterS: 2 }, now), 2000);
  assert.equal(checkDelayMs({ retryAt: at(1500), retryAfterS: undefined }, now), 1500);
  assert.equal(checkDelayMs({ retryAt: undefined, retryAfterS: undefined }, now), 2000);
  assert.equal(checkDelayMs({ retryAt: at(0), retryAfterS: 0 }, now), 100);
});

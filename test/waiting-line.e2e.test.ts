import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { placeOrderAdmitted, ReceptionClient } from '../src/client/index.js';
import { nginxForTests } from './support/nginx.js';
import { startCluster, type Cluster } from './support/cluster.js';
import { waitFor } from './support/wait.js';

// The waiting line with real processes: one content server with one slot, a client holding
// it with a paused download, and others waiting, coming back, losing their place, and
// keeping it across a reception restart.

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function post(cluster: Cluster, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${cluster.receptionUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

/** Starts a download and pauses it after the first chunk: the slot stays taken until `finish()`. */
function holdSlot(url: string): Promise<{ finish: () => Promise<number> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      let bytes = 0;
      res.once('data', (chunk: Buffer) => {
        bytes += chunk.length;
        res.pause();
        resolve({
          finish: () =>
            new Promise<number>((done) => {
              res.on('data', (c: Buffer) => (bytes += c.length));
              res.once('end', () => done(bytes));
              res.resume();
            }),
        });
      });
    });
    req.end();
  });
}

/** Waits until the reception sees every slot free (a finished download frees its slot once the content server has evidence the client got the bytes). */
async function waitForFreeSlots(cluster: Cluster, timeoutMs = 15_000): Promise<void> {
  let servers: { live: boolean; slotsTaken: number }[] = [];
  await waitFor(
    () => `every slot free: ${JSON.stringify(servers)}`,
    async () => {
      const response = await fetch(`${cluster.admin.controlUrl}/admin/servers`, { headers: { authorization: `Bearer ${cluster.admin.token}` } });
      ({ servers } = (await response.json()) as { servers: { live: boolean; slotsTaken: number }[] });
      return servers.every((s) => s.live && s.slotsTaken === 0) ? true : undefined;
    },
    timeoutMs,
  );
}

/**
 * Places an order that gets the slot: at once, or — when the previous case's slot is still being
 * released — by waiting in line for it like any client would.
 */
async function orderTheSlot(cluster: Cluster, contentId: string): Promise<Answer> {
  let answer = await post(cluster, { contentId });
  for (let i = 0; i < 5 && answer.status === 503 && answer.body['queueToken'] !== undefined; i++) {
    answer = await post(cluster, { contentId, queueToken: String(answer.body['queueToken']) }, { prefer: 'wait=10' });
  }
  assert.equal(answer.status, 201, `${JSON.stringify(answer.body)}\n${(cluster.logs.get('cs-1') ?? []).slice(-10).join('\n')}`);
  return answer;
}

describe('waiting in line when every server is busy', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let itemId: string;

  before(async () => {
    cluster = await startCluster({
      servers: 1,
      capacity: 1,
      env: { TESSERA_QUEUE_GRACE_S: '2', TESSERA_ORDER_RATE_PER_S: '1000', TESSERA_ORDER_BURST: '1000' },
    });
    const path = join(cluster.dataDir, 'item.bin');
    writeFileSync(path, randomBytes(16 * 1024 * 1024));
    itemId = (await cluster.addFile(path, 'Item')).id;
  });

  after(async () => {
    await cluster?.stop();
  });

  test('busy: 503 with position, estimate, retry time and token; admission in arrival order; a forged token is refused', async () => {
    const first = await orderTheSlot(cluster, itemId);
    const holder = await holdSlot((first.body['ticket'] as { url: string }).url);

    const b = await post(cluster, { contentId: itemId });
    assert.equal(b.status, 503);
    assert.equal(b.body['code'], 'all-servers-busy');
    assert.equal(b.body['position'], 1);
    assert.equal(typeof b.body['estimated_wait_s'], 'number');
    assert.ok(Date.parse(String(b.body['retry_at'])) > 0);
    assert.ok(b.headers.get('retry-after') !== null);
    const c = await post(cluster, { contentId: itemId });
    assert.equal(c.body['position'], 2);

    // A token cannot be altered to move forward, nor used for another item.
    const token = String(c.body['queueToken']);
    const flipped = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21);
    assert.equal((await post(cluster, { contentId: itemId, queueToken: flipped })).body['code'], 'queue-token-invalid');
    assert.equal((await post(cluster, { contentId: itemId, queueToken: 'x'.repeat(80) })).status, 403);

    // C comes back first and long-polls; B long-polls too. When the slot frees, B (earlier) goes first.
    const cBack = post(cluster, { contentId: itemId, queueToken: token }, { prefer: 'wait=10' });
    const bBack = post(cluster, { contentId: itemId, queueToken: String(b.body['queueToken']) }, { prefer: 'wait=10' });
    await new Promise((r) => setTimeout(r, 300));
    await holder.finish();
    const bAnswer = await bBack;
    assert.equal(bAnswer.status, 201, JSON.stringify(bAnswer.body));
    assert.equal((bAnswer.body['order'] as { id: string }).id, b.body['orderId']);
    const cAnswer = await cBack;
    assert.equal(cAnswer.status, 503, 'C is still waiting: B holds the only slot');
    assert.equal(cAnswer.body['position'], 1, 'the line moved up');

    // B downloads; then C is admitted.
    const bHold = await holdSlot((bAnswer.body['ticket'] as { url: string }).url);
    const cLater = post(cluster, { contentId: itemId, queueToken: String(cAnswer.body['queueToken']) }, { prefer: 'wait=10' });
    await bHold.finish();
    const cAdmitted = await cLater;
    assert.equal(cAdmitted.status, 201);
    await (await holdSlot((cAdmitted.body['ticket'] as { url: string }).url)).finish();
  });

  test('a client that does not come back within the grace period loses its place, and the line moves up', async () => {
    await waitForFreeSlots(cluster);
    const first = await orderTheSlot(cluster, itemId);
    const holder = await holdSlot((first.body['ticket'] as { url: string }).url);
    const gone = await post(cluster, { contentId: itemId });
    const stays = await post(cluster, { contentId: itemId });
    assert.equal(gone.body['position'], 1);
    assert.equal(stays.body['position'], 2);
    // `stays` keeps coming back; `gone` does not, past its retry time plus the 2 s grace.
    const deadline = Date.now() + 1000 * (Number(gone.body['retryAfterS']) + 4);
    let token = String(stays.body['queueToken']);
    let last: Answer = stays;
    while (Date.now() < deadline) {
      last = await post(cluster, { contentId: itemId, queueToken: token }, { prefer: 'wait=1' });
      token = String(last.body['queueToken'] ?? token);
    }
    assert.equal(last.status, 503);
    assert.equal(last.body['position'], 1, 'the one who left no longer counts');
    const late = await post(cluster, { contentId: itemId, queueToken: String(gone.body['queueToken']) });
    assert.equal(late.status, 410);
    assert.equal(late.body['code'], 'queue-place-lost');
    const order = (await (await fetch(`${cluster.receptionUrl}/orders/${String(gone.body['orderId'])}`)).json()) as { state: string; reason: string };
    assert.deepEqual([order.state, order.reason], ['expired', 'left-the-line']);
    await holder.finish();
    const admitted = await post(cluster, { contentId: itemId, queueToken: token }, { prefer: 'wait=10' });
    assert.equal(admitted.status, 201);
    await (await holdSlot((admitted.body['ticket'] as { url: string }).url)).finish();
  });

  test('clients keep their places across a reception restart', async () => {
    await waitForFreeSlots(cluster);
    const first = await orderTheSlot(cluster, itemId);
    const holder = await holdSlot((first.body['ticket'] as { url: string }).url);
    const waiting = [await post(cluster, { contentId: itemId }), await post(cluster, { contentId: itemId })];
    assert.deepEqual(waiting.map((w) => w.body['position']), [1, 2]);

    await cluster.restart('reception');
    await cluster.waitForServers(1);

    const again = await Promise.all(waiting.map((w) => post(cluster, { contentId: itemId, queueToken: String(w.body['queueToken']) })));
    assert.deepEqual(again.map((a) => [a.status, a.body['position']]), [[503, 1], [503, 2]]);
    await holder.finish();
    const admitted = await post(cluster, { contentId: itemId, queueToken: String(again[0]?.body['queueToken']) }, { prefer: 'wait=10' });
    assert.equal(admitted.status, 201);
    assert.equal((admitted.body['order'] as { id: string }).id, waiting[0]?.body['orderId']);
  });

  test('new orders from one address beyond the rate limit get 429 with Retry-After', async () => {
    const limited = await startCluster({ servers: 1, capacity: 1, env: { TESSERA_ORDER_RATE_PER_S: '1', TESSERA_ORDER_BURST: '3' } });
    try {
      const path = join(limited.dataDir, 'small.txt');
      writeFileSync(path, 'small');
      const id = (await limited.addFile(path)).id;
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await post(limited, { contentId: id }));
      assert.deepEqual(answers.map((a) => a.status).slice(3), [429, 429]);
      assert.equal(answers[4]?.body['code'], 'rate-limited');
      assert.ok(Number(answers[4]?.headers.get('retry-after')) >= 1);
    } finally {
      await limited.stop();
    }
  });

  test('the line is bounded: queue-full, without a place or a token', async () => {
    const small = await startCluster({ servers: 1, capacity: 1, env: { TESSERA_QUEUE_MAX: '2', TESSERA_ORDER_RATE_PER_S: '1000', TESSERA_ORDER_BURST: '1000' } });
    try {
      const path = join(small.dataDir, 'item.bin');
      writeFileSync(path, randomBytes(4 * 1024 * 1024));
      const id = (await small.addFile(path)).id;
      const first = await post(small, { contentId: id });
      const holder = await holdSlot((first.body['ticket'] as { url: string }).url);
      const [a, b, c] = [await post(small, { contentId: id }), await post(small, { contentId: id }), await post(small, { contentId: id })];
      assert.deepEqual([a.body['position'], b.body['position']], [1, 2]);
      assert.equal(c.status, 503);
      assert.equal(c.body['code'], 'queue-full');
      assert.equal(c.body['queueToken'], undefined);
      await holder.finish();
    } finally {
      await small.stop();
    }
  });

  test('without a line (TESSERA_QUEUE_MAX=0): all-servers-busy without a place, told when the slot should free', async () => {
    // 1 MiB at 256 KiB/s: the slot is taken for about 4 s, not the 30 s a full line says.
    const none = await startCluster({
      servers: 1,
      capacity: 1,
      env: { TESSERA_QUEUE_MAX: '0', TESSERA_TRANSFER_RATE_BPS: String(256 * 1024), TESSERA_ORDER_RATE_PER_S: '1000', TESSERA_ORDER_BURST: '1000' },
    });
    try {
      const path = join(none.dataDir, 'item.bin');
      writeFileSync(path, randomBytes(1024 * 1024));
      const id = (await none.addFile(path)).id;
      const first = await post(none, { contentId: id });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      const download = fetch((first.body['ticket'] as { url: string }).url).then((r) => r.arrayBuffer());
      const busy = await post(none, { contentId: id });
      assert.equal(busy.status, 503);
      assert.equal(busy.body['code'], 'all-servers-busy');
      for (const field of ['queueToken', 'position', 'orderId', 'estimated_wait_s']) assert.equal(busy.body[field], undefined, `${field} is not given without a line`);
      const retryAfter = Number(busy.headers.get('retry-after'));
      assert.equal(busy.body['retryAfterS'], retryAfter);
      assert.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After ${retryAfter} s: when the only slot's transfer should end`);
      assert.ok(Date.parse(String(busy.body['retry_at'])) > 0);
      assert.equal((await download).byteLength, 1024 * 1024);
    } finally {
      await none.stop();
    }
  });
});

describe('two receptions sharing one database drain one line', { timeout: 180_000, skip: !nginxForTests() }, () => {
  // Both receptions run admission passes over the same line: when slots free on several servers
  // at once, both may admit the same order; the second to record its ticket gives its slot back
  // and goes on with the line (it used to answer 500 to whoever waited on its pass).
  test('every client is admitted once, none gets a 500, every order ends completed', async () => {
    const two = await startCluster({
      receptions: 2,
      servers: 2,
      capacity: 2,
      env: { TESSERA_TRANSFER_RATE_BPS: String(512 * 1024), TESSERA_ORDER_RATE_PER_S: '1000', TESSERA_ORDER_BURST: '1000' },
    });
    try {
      const path = join(two.dataDir, 'item.bin');
      writeFileSync(path, randomBytes(128 * 1024));
      const id = (await two.addFile(path)).id;
      const urls = two.topology.receptions.map((r) => `http://127.0.0.1:${r.publicPort}`);
      const statuses: number[] = [];
      const counting: typeof fetch = async (input, init) => {
        const response = await fetch(input, init);
        statuses.push(response.status);
        return response;
      };
      const clients = Array.from({ length: 24 }, (_, i) => new ReceptionClient({ baseUrl: urls[i % urls.length] as string, fetch: counting }));
      const placed = await Promise.all(
        clients.map(async (client) => {
          const p = await placeOrderAdmitted(client, id, { preferWaitS: 5 });
          assert.equal((await (await fetch(p.ticket.url)).arrayBuffer()).byteLength, 128 * 1024);
          return p;
        }),
      );
      assert.equal(new Set(placed.map((p) => p.order.id)).size, 24);
      assert.deepEqual(statuses.filter((s) => s !== 201 && s !== 503), [], 'only tickets and places in line');
      let states: string[] = [];
      await waitFor(
        () => `every order completed: ${states.join(' ')}`,
        async () => {
          states = await Promise.all(placed.map(async (p) => ((await (await fetch(`${urls[0] as string}/orders/${p.order.id}`)).json()) as { state: string }).state));
          return states.every((s) => s === 'completed') ? true : undefined;
        },
        30_000,
        200,
      );
    } finally {
      await two.stop();
    }
  });
});

import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../core/clock.js';
import { newId } from '../../core/ids.js';
import { deriveTicketKey } from '../../core/ticket/ticket-keys.js';
import { capturingLogger, delay, problemCode, send, sha256, startHarness, T0, type Harness } from './content-test-harness.js';

// The content server over real HTTP on loopback: ingest, notices, downloads, ranges, resumes,
// slots and their release, notice modes, and the completions the reception receives.

const MiB = 1024 * 1024;

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('content server: download under a ticket', () => {
  let h: Harness;
  let clock: ManualClock;
  let big: Buffer;
  let bigId: string;
  let small: Buffer;
  let smallId: string;

  before(async () => {
    clock = new ManualClock(T0);
    h = await startHarness({ clock });
    big = randomBytes(3 * MiB + 12345);
    bigId = await h.putReplica(big, 'Grand Tour — été 2026.mp4', 'video/mp4');
    small = randomBytes(1000);
    smallId = await h.putReplica(small, 'note.txt', 'text/plain; charset=utf-8');
  });
  after(() => h.close());

  it('serves the whole item, then consumes the ticket, reports completion and answers 410', async () => {
    const { url, claims, noticeStatus } = await h.issue(bigId);
    assert.equal(noticeStatus, 201);
    const got = await send(url);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(big));
    assert.equal(got.headers['content-type'], 'video/mp4');
    assert.equal(got.headers['content-length'], String(big.length));
    assert.equal(got.headers['etag'], `"${sha256(big)}"`);
    assert.equal(got.headers['accept-ranges'], 'bytes');
    assert.equal(got.headers['cache-control'], 'no-store');
    assert.equal(
      got.headers['content-disposition'],
      `attachment; filename="Grand Tour _ _t_ 2026.mp4"; filename*=UTF-8''Grand%20Tour%20%E2%80%94%20%C3%A9t%C3%A9%202026.mp4`,
    );
    const completions = await h.reception.waitForCompletions(1);
    const mine = completions.filter((c) => c.ticketId === claims.ticketId);
    assert.equal(mine.length, 1);
    assert.deepEqual(mine[0], {
      ticketId: claims.ticketId,
      orderId: claims.orderId,
      contentId: bigId,
      serverId: h.serverId,
      outcome: 'completed',
      bytesDelivered: big.length,
      at: clock.now(),
    });
    assert.equal(h.server.state.slots.taken, 0);
    const again = await send(url);
    assert.equal(again.status, 410);
    assert.equal(problemCode(again), 'ticket-consumed');
    assert.equal(again.headers['connection'], 'close');
    assert.equal(await again.closed, true);
  });

  it('serves a small item from memory with the same headers', async () => {
    const { url, claims } = await h.issue(smallId);
    const got = await send(url);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, small);
    assert.equal(got.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(got.headers['content-disposition'], `attachment; filename="note.txt"; filename*=UTF-8''note.txt`);
    await h.consumed(claims.ticketId);
    assert.equal((await send(url)).status, 410);
  });

  it('answers Range with 206, honours If-Range only on a matching ETag, and 416 keeps the connection', async () => {
    const { url, claims } = await h.issue(bigId);
    const etag = `"${sha256(big)}"`;
    const part = await send(url, { headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 100-199/${big.length}`);
    assert.equal(part.headers['content-length'], '100');
    assert.deepEqual(part.body, big.subarray(100, 200));

    const suffix = await send(url, { headers: { range: 'bytes=-10' } });
    assert.equal(suffix.status, 206);
    assert.deepEqual(suffix.body, big.subarray(big.length - 10));

    const matching = await send(url, { headers: { range: 'bytes=0-9', 'if-range': etag } });
    assert.equal(matching.status, 206);
    assert.deepEqual(matching.body, big.subarray(0, 10));

    const unsatisfiable = await send(url, { headers: { range: `bytes=${big.length}-` } });
    assert.equal(unsatisfiable.status, 416);
    assert.equal(problemCode(unsatisfiable), 'range-not-satisfiable');
    assert.equal(unsatisfiable.headers['content-range'], `bytes */${big.length}`);
    assert.notEqual(unsatisfiable.headers['connection'], 'close');
    assert.equal(await unsatisfiable.closed, false);

    // A stale validator: the whole item, 200, which also consumes the ticket.
    const stale = await send(url, { headers: { range: 'bytes=0-9', 'if-range': '"0000"' } });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, big.length);
    assert.equal((await h.reception.waitForCompletion(claims.ticketId)).outcome, 'completed');
    assert.equal((await send(url, { headers: { range: 'bytes=0-9' } })).status, 410);
  });

  it('lets an aborted download resume from where it got to, and reports completion exactly once', async () => {
    // Larger than loopback socket buffers can hold, so the abort really cuts the transfer short.
    const large = randomBytes(40 * MiB);
    const largeId = await h.putReplica(large, 'large.bin');
    const { url, claims } = await h.issue(largeId);
    const first = await send(url, { abortAfter: MiB + 7 });
    assert.equal(first.status, 200);
    const have = first.body.length;
    await waitFor(() => h.server.state.snapshot().tickets.find((t) => t.ticketId === claims.ticketId)?.openTransfers === 0, 'the abort to be seen');
    const ticket = h.server.state.snapshot().tickets.find((t) => t.ticketId === claims.ticketId);
    assert.ok(ticket, 'ticket still live after the abort');
    assert.equal(ticket.slot, 'idle');
    // The connection was reset with bytes unread: nothing is known to have arrived yet.
    assert.equal(ticket.deliveredBytes, 0);

    const rest = await send(url, { headers: { range: `bytes=${have}-` } });
    assert.equal(rest.status, 206);
    assert.equal(sha256(Buffer.concat([first.body, rest.body])), sha256(large));
    // Resuming at `have` showed the client had [0, have); closing after the rest showed the rest.
    assert.equal((await h.reception.waitForCompletion(claims.ticketId)).bytesDelivered, large.length);
    await delay(100);
    assert.equal(h.reception.completions.filter((c) => c.ticketId === claims.ticketId).length, 1);
    assert.equal((await send(url, { headers: { range: 'bytes=0-0' } })).status, 410);
  });

  it('consumes a ticket once parallel ranges and the rest cover the item', async () => {
    const { url, claims } = await h.issue(bigId);
    const half = Math.floor(big.length / 2);
    const [a, b] = await Promise.all([
      send(url, { headers: { range: `bytes=0-${MiB - 1}` } }),
      send(url, { headers: { range: `bytes=${half}-${half + MiB - 1}` } }),
    ]);
    assert.equal(a.status, 206);
    assert.equal(b.status, 206);
    assert.ok(!h.server.state.slots.isConsumed(claims.ticketId));
    const gap = await send(url, { headers: { range: `bytes=${MiB}-${half - 1}` } });
    assert.equal(gap.status, 206);
    assert.ok(!h.server.state.slots.isConsumed(claims.ticketId));
    const tail = await send(url, { headers: { range: `bytes=${half + MiB}-` } });
    assert.equal(tail.status, 206);
    assert.equal(sha256(Buffer.concat([a.body, gap.body, b.body, tail.body])), sha256(big));
    await h.consumed(claims.ticketId);
    assert.equal((await h.reception.waitForCompletion(claims.ticketId)).bytesDelivered, big.length);
    await delay(50);
    assert.equal(h.reception.completions.filter((c) => c.ticketId === claims.ticketId).length, 1);
    assert.equal((await send(url)).status, 410);
  });

  it('answers HEAD with headers only and counts nothing', async () => {
    const { url, claims } = await h.issue(smallId);
    for (let i = 0; i < 3; i++) {
      const head = await send(url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(small.length));
      assert.equal(head.body.length, 0);
    }
    const headRange = await send(url, { method: 'HEAD', headers: { range: 'bytes=0-9' } });
    assert.equal(headRange.status, 206);
    assert.equal(headRange.headers['content-range'], `bytes 0-9/${small.length}`);
    const ticket = h.server.state.snapshot().tickets.find((t) => t.ticketId === claims.ticketId);
    assert.equal(ticket?.slot, 'held');
    assert.equal(ticket?.deliveredBytes, 0);
    const got = await send(url);
    assert.deepEqual(got.body, small);
  });

  it('refuses odd paths with bad-content-location and drops the connection', async () => {
    const { url, ticket } = await h.issue(smallId);
    const base = `${h.publicUrl}/t/${ticket}/${smallId}`;
    for (const bad of [
      `${base}/note.txt/extra`,
      `${base}/..`,
      `${base}/%2e%2e`,
      `${base}/a%2Fb`,
      `${base}/a%5Cb`,
      `${base}/`,
      `${base}/note.txt?x=1`,
      `${h.publicUrl}/t/${ticket}//note.txt`,
      `${h.publicUrl}/t/${ticket}/${smallId.toUpperCase()}/note.txt`,
      `${h.publicUrl}/t/${ticket}/not-a-uuid/note.txt`,
      `${h.publicUrl}/t/${ticket}/${smallId}`,
      `${base}/bad%zzname`,
    ]) {
      const reply = await send(bad);
      assert.equal(reply.status, 400, bad);
      assert.equal(problemCode(reply), 'bad-content-location', bad);
      assert.equal(await reply.closed, true, bad);
    }
    const post = await send(url, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET, HEAD');
    // Nothing above used the ticket.
    assert.deepEqual((await send(url)).body, small);
  });

  it('refuses a ticket for another content item', async () => {
    const { ticket } = await h.issue(smallId);
    const reply = await send(`${h.publicUrl}/t/${ticket}/${bigId}/item.bin`);
    assert.equal(reply.status, 403);
    assert.equal(problemCode(reply), 'ticket-wrong-content');
    assert.equal(await reply.closed, true);
  });

  it('serves health, metrics and the OpenAPI document, and 404s anything else', async () => {
    const health = await send(`${h.publicUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body.toString()), { status: 'ok', serverId: h.serverId, keys: 1 });
    const metrics = (await send(`${h.publicUrl}/metrics`)).body.toString();
    for (const name of ['tickets_refused_total', 'tickets_accepted_total', 'bytes_served_total', 'active_transfers', 'slots_taken', 'completions_total']) {
      assert.match(metrics, new RegExp(`^${name}`, 'm'), name);
    }
    assert.match(metrics, /tickets_refused_total\{reason="ticket-consumed"[^}]*\} [1-9]/);
    assert.match(metrics, /completions_total\{outcome="completed"[^}]*\} [1-9]/);
    const openapi = JSON.parse((await send(`${h.publicUrl}/openapi.json`)).body.toString()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(openapi.openapi, '3.1.0');
    assert.ok(openapi.paths['/t/{ticket}/{contentId}/{fileName}']);
    assert.ok(openapi.paths['/control/notices']);
    const missing = await send(`${h.publicUrl}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(problemCode(missing), 'not-found');
  });
});

describe('content server: slots', () => {
  it('refuses the (capacity+1)-th notice with slots-full, and a hold that lapses frees its slot', async () => {
    const clock = new ManualClock(T0);
    const h = await startHarness({ clock, env: { TESSERA_CAPACITY: '2' } });
    try {
      const id = await h.putReplica(randomBytes(100));
      const a = await h.issue(id, { holdMs: 5000 });
      const b = await h.issue(id, { holdMs: 60_000 });
      assert.equal(a.noticeStatus, 201);
      assert.equal(b.noticeStatus, 201);
      const c = await h.issue(id);
      assert.equal(c.noticeStatus, 409);
      const full = await h.notice({
        ticketId: newId(), orderId: newId(), contentId: id,
        notBefore: clock.now(), expiresAt: clock.now() + 60_000, holdUntil: clock.now() + 5000, maxConnections: 1,
      });
      assert.equal(full.status, 409);
      assert.equal(full.body['code'], 'slots-full');
      assert.equal(full.body['capacity'], 2);
      assert.equal(full.body['slotsTaken'], 2);

      clock.advance(5000);
      // The notice itself sweeps lapsed holds before it checks for a free slot.
      const d = await h.issue(id);
      assert.equal(d.noticeStatus, 201);
      assert.equal(h.server.state.slots.taken, 2);
      // a's ticket is still valid: it comes back, but the slots are taken.
      const busy = await send(a.url);
      assert.equal(busy.status, 503);
      assert.equal(problemCode(busy), 'all-servers-busy');
      // b's hold (60 s from the start, 5 s of which have passed) is the soonest slot to free.
      assert.equal(busy.headers['retry-after'], '55');
      assert.equal(await busy.closed, true);
      // Once one frees, a's ticket takes it again and is served.
      assert.equal((await send(b.url)).status, 200);
      await h.consumed(b.claims.ticketId);
      assert.equal((await send(a.url)).status, 200);
    } finally {
      await h.close();
    }
  });

  it('withdraws a notice: the slot frees and the ticket is refused', async () => {
    const h = await startHarness({ env: { TESSERA_CAPACITY: '1' } });
    try {
      const id = await h.putReplica(randomBytes(100));
      const a = await h.issue(id);
      assert.equal(h.server.state.slots.taken, 1);
      const withdrawn = await h.control('DELETE', `/control/notices/${a.claims.ticketId}`);
      assert.equal(withdrawn.status, 204);
      assert.equal(h.server.state.slots.taken, 0);
      assert.equal((await h.control('DELETE', `/control/notices/${a.claims.ticketId}`)).status, 404);
      assert.equal((await h.control('DELETE', '/control/notices/nope')).status, 400);
      assert.equal(problemCode(await send(a.url)), 'ticket-consumed');
      // The same ticket ID cannot be noticed again.
      const again = await h.notice({
        ticketId: a.claims.ticketId, orderId: a.claims.orderId, contentId: id,
        notBefore: a.claims.notBefore * 1000, expiresAt: a.claims.expiresAt * 1000, holdUntil: h.clock.now() + 1000, maxConnections: 1,
      });
      assert.equal(again.body['code'], 'notice-conflict');
    } finally {
      await h.close();
    }
  });

  it('releases the slot of a vanished client after the idle delay, and lets it resume later', async () => {
    const clock = new ManualClock(T0);
    const h = await startHarness({ clock, env: { TESSERA_CAPACITY: '1', TESSERA_IDLE_RELEASE_MS: '15000' } });
    try {
      const bytes = randomBytes(4 * MiB);
      const id = await h.putReplica(bytes);
      const a = await h.issue(id);
      const first = await send(a.url, { abortAfter: 100_000 });
      await waitFor(() => h.server.state.snapshot().tickets[0]?.openTransfers === 0, 'the abort to be seen');
      assert.equal(h.server.state.snapshot().tickets[0]?.slot, 'idle');
      assert.equal(h.server.state.slots.taken, 1);
      clock.advance(14_999);
      h.server.state.sweep();
      assert.equal(h.server.state.slots.taken, 1);
      clock.advance(1);
      h.server.state.sweep();
      assert.equal(h.server.state.slots.taken, 0);
      assert.equal(h.server.state.snapshot().tickets[0]?.slot, 'released');

      // Another ticket takes the only slot; the first one is told to come back later.
      const b = await h.issue(id);
      assert.equal(b.noticeStatus, 201);
      assert.equal(problemCode(await send(a.url, { headers: { range: `bytes=${first.body.length}-` } })), 'all-servers-busy');
      assert.equal((await send(b.url)).status, 200);
      await h.consumed(b.claims.ticketId);
      const rest = await send(a.url, { headers: { range: `bytes=${first.body.length}-` } });
      assert.equal(rest.status, 206);
      assert.equal(sha256(Buffer.concat([first.body, rest.body])), sha256(bytes));
      await h.reception.waitForCompletions(2);
      assert.deepEqual(h.reception.completions.map((c) => c.outcome), ['completed', 'completed']);
    } finally {
      await h.close();
    }
  });

  it('ends an unused ticket when its window closes and reports it expired', async () => {
    const clock = new ManualClock(T0);
    const h = await startHarness({ clock, env: { TESSERA_CLOCK_TOLERANCE_S: '5' } });
    try {
      const id = await h.putReplica(randomBytes(5000));
      const a = await h.issue(id, { lifetimeS: 30, holdMs: 10_000 });
      const part = await send(a.url, { headers: { range: 'bytes=0-999' } });
      assert.equal(part.status, 206);
      clock.advance(30_000 + 4999);
      h.server.state.sweep();
      assert.equal(h.reception.completions.length, 0);
      clock.advance(1);
      h.server.state.sweep();
      const [completion] = await h.reception.waitForCompletions(1);
      assert.equal(completion?.outcome, 'expired');
      assert.equal(completion?.bytesDelivered, 1000);
      assert.equal(h.server.state.slots.taken, 0);
      assert.equal(problemCode(await send(a.url)), 'ticket-expired');
    } finally {
      await h.close();
    }
  });

  it('limits parallel connections per ticket', async () => {
    const h = await startHarness();
    try {
      const bytes = randomBytes(32 * MiB);
      const id = await h.putReplica(bytes);
      const a = await h.issue(id, { maxConnections: 1 });
      // A client that receives the headers and then stops reading keeps its connection busy.
      const stalled = await new Promise<{ destroy(): void }>((resolve, reject) => {
        const req = request(a.url, (res) => {
          res.pause();
          resolve({ destroy: () => req.destroy() });
        });
        req.once('error', reject);
        req.end();
      });
      const second = await send(a.url, { headers: { range: 'bytes=0-9' } });
      assert.equal(second.status, 429);
      assert.equal(problemCode(second), 'ticket-too-many-connections');
      assert.equal(await second.closed, true);
      stalled.destroy();
      await waitFor(() => h.server.state.snapshot().tickets[0]?.openTransfers === 0, 'the stalled client to go');
      const third = await send(a.url, { headers: { range: 'bytes=0-9' } });
      assert.equal(third.status, 206);
    } finally {
      await h.close();
    }
  });
});

describe('content server: notice modes', () => {
  it('mode required refuses a valid ticket that came with no notice', async () => {
    const h = await startHarness();
    try {
      const id = await h.putReplica(randomBytes(100));
      const a = await h.issue(id, { notice: false });
      const reply = await send(a.url);
      assert.equal(reply.status, 403);
      assert.equal(problemCode(reply), 'ticket-no-notice');
      assert.equal(await reply.closed, true);
    } finally {
      await h.close();
    }
  });

  it('mode optional serves it, taking a slot on first use, and still consumes it', async () => {
    const h = await startHarness({ env: { TESSERA_NOTICE_MODE: 'optional', TESSERA_CAPACITY: '1' } });
    try {
      const bytes = randomBytes(100);
      const id = await h.putReplica(bytes);
      const a = await h.issue(id, { notice: false });
      const head = await send(a.url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(h.server.state.slots.taken, 0);
      const got = await send(a.url);
      assert.deepEqual(got.body, bytes);
      const [completion] = await h.reception.waitForCompletions(1);
      assert.equal(completion?.outcome, 'completed');
      assert.equal(problemCode(await send(a.url)), 'ticket-consumed');
      // With the only slot held by a notice, an un-noticed ticket finds the server busy.
      await h.issue(id);
      const b = await h.issue(id, { notice: false });
      assert.equal(problemCode(await send(b.url)), 'all-servers-busy');
    } finally {
      await h.close();
    }
  });
});

describe('content server: control channel', () => {
  it('requires the bearer token on every control request', async () => {
    const h = await startHarness();
    try {
      for (const auth of [undefined, 'Bearer wrong', `Bearer ${h.token}x`, h.token]) {
        const reply = await send(`${h.controlUrl}/control/state`, { headers: auth === undefined ? {} : { authorization: auth } });
        assert.equal(reply.status, 401);
        assert.equal(problemCode(reply), 'unauthorized');
      }
      const ok = await h.control('GET', '/control/state');
      assert.equal(ok.status, 200);
      const state = JSON.parse(ok.body.toString()) as Record<string, unknown>;
      assert.equal(state['serverId'], h.serverId);
      assert.doesNotMatch(ok.body.toString(), /secret/);
    } finally {
      await h.close();
    }
  });

  it('validates notices and refuses content it does not hold', async () => {
    const h = await startHarness();
    try {
      const id = await h.putReplica(randomBytes(10));
      const now = h.clock.now();
      const good = { ticketId: newId(), orderId: newId(), contentId: id, notBefore: now, expiresAt: now + 60_000, holdUntil: now + 5000, maxConnections: 2 };
      const cases: [unknown, string][] = [
        [{ ...good, ticketId: 'x' }, 'validation-failed'],
        [{ ...good, maxConnections: 0 }, 'validation-failed'],
        [{ ...good, issuedBy: 'reception 1' }, 'validation-failed'],
        [{ ...good, issuedBy: 'r'.repeat(65) }, 'validation-failed'],
        [{ ...good, expiresAt: good.notBefore }, 'validation-failed'],
        [{ ...good, holdUntil: '1' }, 'validation-failed'],
        [{ ...good, expiresAt: now - 60_000, notBefore: now - 120_000 }, 'validation-failed'],
        [[good], 'validation-failed'],
        [{ ...good, contentId: newId() }, 'content-missing'],
      ];
      for (const [body, code] of cases) {
        const reply = await h.control('POST', '/control/notices', body);
        assert.equal(problemCode(reply), code, JSON.stringify(body));
      }
      const notJson = await h.control('POST', '/control/notices', undefined, { 'content-type': 'application/json' });
      assert.equal(problemCode(notJson), 'invalid-json');
      const wrongType = await send(`${h.controlUrl}/control/notices`, { method: 'POST', headers: { authorization: `Bearer ${h.token}`, 'content-type': 'text/plain' }, body: Buffer.from('{}') });
      assert.equal(problemCode(wrongType), 'unsupported-media-type');
      const tooBig = await h.control('POST', '/control/notices', { ...good, pad: 'x'.repeat(5000) });
      assert.equal(problemCode(tooBig), 'payload-too-large');
      assert.equal(h.server.state.slots.taken, 0);
      const accepted = await h.notice(good);
      assert.equal(accepted.status, 201);
      assert.deepEqual(accepted.body, { ticketId: good.ticketId, holdUntil: good.holdUntil });
      assert.equal((await h.notice(good)).body['code'], 'notice-conflict');
      assert.equal(problemCode(await h.control('GET', '/control/nope')), 'not-found');
    } finally {
      await h.close();
    }
  });

  it('stores replicas only when size and SHA-256 match, and says when it already holds one', async () => {
    const h = await startHarness();
    try {
      const bytes = randomBytes(70_000);
      const id = newId();
      const put = (body: Buffer, headers: Record<string, string> = {}) =>
        send(`${h.controlUrl}/control/replicas/${id}`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${h.token}`,
            'content-type': 'application/pdf',
            'x-tessera-sha256': sha256(bytes),
            'x-tessera-size': String(bytes.length),
            'x-tessera-file-name': encodeURIComponent('Rapport annuel.pdf'),
            ...headers,
          },
          body,
        });
      const flipped = Buffer.from(bytes);
      flipped[5] = (flipped[5] ?? 0) ^ 1;
      const bad = await put(flipped);
      assert.equal(bad.status, 422);
      assert.equal(problemCode(bad), 'ingest-failed');
      assert.equal(problemCode(await put(bytes, { 'x-tessera-size': String(bytes.length - 1), 'content-length': String(bytes.length) })), 'validation-failed');
      assert.equal(problemCode(await put(bytes, { 'x-tessera-sha256': 'abc' })), 'validation-failed');
      assert.equal(problemCode(await put(bytes, { 'content-type': 'not a media type' })), 'validation-failed');
      assert.equal(problemCode(await put(bytes, { 'x-tessera-file-name': '..' })), 'validation-failed');
      assert.equal((await h.control('GET', `/control/replicas/${id}`)).status, 404);
      const created = await put(bytes);
      assert.equal(created.status, 201);
      assert.deepEqual(JSON.parse(created.body.toString()), {
        contentId: id,
        fileName: 'Rapport annuel.pdf',
        mimeType: 'application/pdf',
        size: bytes.length,
        sha256: sha256(bytes),
        etag: `"${sha256(bytes)}"`,
      });
      assert.equal((await put(bytes)).status, 200);
      const other = randomBytes(10);
      assert.equal(problemCode(await put(other, { 'x-tessera-sha256': sha256(other), 'x-tessera-size': '10' })), 'ingest-failed');
      const list = JSON.parse((await h.control('GET', '/control/replicas')).body.toString()) as { items: { contentId: string }[] };
      assert.deepEqual(list.items.map((i) => i.contentId), [id]);
      const a = await h.issue(id);
      assert.deepEqual((await send(a.url)).body, bytes);
    } finally {
      await h.close();
    }
  });

  it('keeps completions until the reception acknowledges them', async () => {
    const h = await startHarness();
    try {
      const id = await h.putReplica(randomBytes(10));
      h.reception.failWith = 503;
      const a = await h.issue(id);
      assert.equal((await send(a.url)).status, 200);
      await delay(400);
      assert.equal(h.reception.completions.length, 0);
      assert.ok(h.server.state.snapshot().pendingCompletions >= 1);
      h.reception.failWith = undefined;
      await h.reception.waitForCompletions(1, 10_000);
      assert.equal(h.reception.completions[0]?.ticketId, a.claims.ticketId);
      assert.equal(await h.server.state.drainCompletions(1000), true);
    } finally {
      await h.close();
    }
  });

  it('sends completions in batches when the reception takes them, one by one otherwise', async () => {
    const h = await startHarness({ env: { TESSERA_CAPACITY: '100' } });
    try {
      const id = await h.putReplica(randomBytes(100));
      const serveSome = async (n: number): Promise<string[]> => {
        const issued = await Promise.all(Array.from({ length: n }, () => h.issue(id)));
        await Promise.all(issued.map((i) => send(i.url)));
        return issued.map((i) => i.claims.ticketId);
      };
      const first = await serveSome(20);
      for (const ticketId of first) await h.reception.waitForCompletion(ticketId);
      assert.equal(h.reception.completionRequests, 20);
      assert.equal(h.server.state.snapshot().completionBatches, false);

      h.reception.batches = true;
      // The outbox probes for batches again later; tests do not wait minutes for that.
      const fresh = await startHarness({ env: { TESSERA_CAPACITY: '100' } });
      try {
        fresh.reception.batches = true;
        const freshId = await fresh.putReplica(randomBytes(100));
        const issued = await Promise.all(Array.from({ length: 30 }, () => fresh.issue(freshId)));
        await Promise.all(issued.map((i) => send(i.url)));
        for (const i of issued) await fresh.reception.waitForCompletion(i.claims.ticketId);
        assert.equal(fresh.reception.completions.length, 30);
        assert.ok(fresh.reception.completionRequests < 30, `${fresh.reception.completionRequests} requests for 30 completions`);
        assert.equal(fresh.server.state.snapshot().completionBatches, true);
      } finally {
        await fresh.close();
      }
    } finally {
      await h.close();
    }
  });

  it('sends load reports with the slots it holds', async () => {
    const h = await startHarness({ env: { TESSERA_CAPACITY: '3', TESSERA_AREA: 'eu-west', TESSERA_COST: '7' } });
    try {
      const id = await h.putReplica(randomBytes(10));
      const a = await h.issue(id, { holdMs: 20_000 });
      await h.server.state.reportNow();
      const report = h.reception.reports.at(-1);
      assert.ok(report);
      assert.equal(report.serverId, h.serverId);
      assert.equal(report.publicUrl, h.publicUrl);
      assert.equal(report.controlUrl, h.controlUrl);
      assert.deepEqual(report.location, { area: 'eu-west', cost: 7 });
      assert.equal(report.capacity, 3);
      assert.equal(report.slotsTaken, 1);
      assert.equal(report.draining, false);
      assert.deepEqual(report.slots, [{ ticketId: a.claims.ticketId, remainingBytes: 10, bytesPerSecond: 0, releaseBy: h.clock.now() + 20_000, state: 'held' }]);
      assert.ok(report.keySetVersion.length > 0);
      assert.ok(report.seq > 1);
    } finally {
      await h.close();
    }
  });
});

describe('content server: reports on slot changes', () => {
  const slotsTakenInLastReport = (h: Harness): number | undefined => h.reception.reports.at(-1)?.slotsTaken;

  it('reports soon after a slot is taken and after it is freed, with an interval of a minute', async () => {
    const h = await startHarness();
    try {
      const id = await h.putReplica(randomBytes(10));
      const a = await h.issue(id);
      await waitFor(() => slotsTakenInLastReport(h) === 1, 'a report with the slot taken', 20_000);
      await send(a.url);
      await waitFor(() => slotsTakenInLastReport(h) === 0, 'a report with the slot free again', 20_000);
    } finally {
      await h.close();
    }
  });

  it('with TESSERA_REPORT_ON_CHANGE=false reports on the interval only', async () => {
    const h = await startHarness({ env: { TESSERA_REPORT_ON_CHANGE: 'false' } });
    try {
      const id = await h.putReplica(randomBytes(10));
      const before = h.reception.reports.length;
      await h.issue(id);
      // Five times the gap an on-change report would wait: none comes (the interval is a minute).
      await delay(250);
      assert.equal(h.reception.reports.length, before);
      await h.server.state.reportNow();
      assert.equal(slotsTakenInLastReport(h), 1);
    } finally {
      await h.close();
    }
  });
});

describe('content server: a reception that did not take a report', () => {
  it('is tried again after a second, not after the interval (a minute here), then on the interval once it answers', async () => {
    const h = await startHarness();
    try {
      h.reception.failWith = 503;
      await h.server.state.reportNow();
      const failedAt = h.reception.reports.length;
      h.reception.failWith = undefined;
      await waitFor(() => h.reception.reports.length > failedAt, 'a report retried within seconds', 5000);
      const taken = h.reception.reports.length;
      // Taken: back to the interval, so nothing more comes for a while.
      await delay(2500);
      assert.equal(h.reception.reports.length, taken);
    } finally {
      await h.close();
    }
  });
});

describe('content server: logs', () => {
  it('never writes a ticket, token or key to a log line', async () => {
    const { logger, lines } = capturingLogger();
    const h = await startHarness({ logger });
    try {
      const id = await h.putReplica(randomBytes(1000));
      const a = await h.issue(id);
      await send(a.url, { headers: { range: 'bytes=0-9' } });
      await send(a.url);
      await send(a.url);
      const tampered = a.ticket.slice(0, -2) + (a.ticket.endsWith('AA') ? 'BA' : 'AA');
      await send(`${h.publicUrl}/t/${tampered}/${id}/item.bin`);
      await send(`${h.publicUrl}/t/${a.ticket}/${id}/x/y`);
      await h.server.state.reportNow();
      await delay(100);
      logger.flush();
      const text = lines.join('');
      assert.ok(lines.length >= 5, 'there are log lines');
      assert.match(text, /\/t\/\[redacted\]\//);
      const key = deriveTicketKey(h.root, 1, h.serverId).secret.toString('base64url');
      for (const secret of [a.ticket, tampered, h.token, h.root.toString('base64url'), key]) assert.ok(!text.includes(secret));
      assert.doesNotMatch(text, /"secret"/);
    } finally {
      await h.close();
    }
  });
});

import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../core/clock.js';
import { delay, problemCode, send, sha256, startHarness, T0, type Harness } from './content-test-harness.js';

// Bytes handed to the kernel are not bytes the client read: the socket buffers of one loopback
// connection hold megabytes. These tests are the cases where that matters.

const MiB = 1024 * 1024;

describe('delivery evidence', () => {
  let h: Harness;
  let clock: ManualClock;
  let bytes: Buffer;
  let contentId: string;

  before(async () => {
    clock = new ManualClock(T0);
    h = await startHarness({ clock, env: { TESSERA_DELIVERY_CONFIRM_MS: '5000', TESSERA_CAPACITY: '50' } });
    // Small enough that the server hands all of it to the kernel before the client has read 1 MiB.
    bytes = randomBytes(3 * MiB);
    contentId = await h.putReplica(bytes, 'three.bin');
  });
  after(() => h.close());

  it('lets a client resume although the server had flushed every byte when it vanished', async () => {
    const { url, claims } = await h.issue(contentId);
    const first = await send(url, { abortAfter: MiB + 5 });
    assert.equal(first.status, 200);
    await delay(100);
    assert.ok(!h.server.state.slots.isConsumed(claims.ticketId));
    const rest = await send(url, { headers: { range: `bytes=${first.body.length}-` } });
    assert.equal(rest.status, 206);
    assert.equal(sha256(Buffer.concat([first.body, rest.body])), sha256(bytes));
    const completion = await h.reception.waitForCompletion(claims.ticketId);
    assert.equal(completion.outcome, 'completed');
    assert.equal(completion.bytesDelivered, bytes.length);
  });

  it('counts a response once the client sends its next request on the same connection', async () => {
    const { url, claims } = await h.issue(contentId);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const got = await send(url, { agent });
      assert.equal(sha256(got.body), sha256(bytes));
      await delay(100);
      // The connection is open and idle: nothing says the client read it all yet.
      assert.ok(!h.server.state.slots.isConsumed(claims.ticketId));
      const again = await send(url, { agent, headers: { range: 'bytes=0-0' } });
      assert.equal(again.status, 410);
      assert.equal(problemCode(again), 'ticket-consumed');
    } finally {
      agent.destroy();
    }
  });

  it('counts a complete response after the confirmation delay when the connection stays open', async () => {
    const { url, claims } = await h.issue(contentId);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal((await send(url, { agent })).status, 200);
      await delay(50);
      clock.advance(4999);
      h.server.state.sweep();
      assert.ok(!h.server.state.slots.isConsumed(claims.ticketId));
      clock.advance(1);
      h.server.state.sweep();
      assert.ok(h.server.state.slots.isConsumed(claims.ticketId));
    } finally {
      agent.destroy();
    }
  });

  it('counts a prefix when a later request continues from inside it', async () => {
    const { url, claims } = await h.issue(contentId);
    const cut = await send(url, { headers: { range: `bytes=0-${2 * MiB - 1}` }, abortAfter: MiB });
    assert.equal(cut.status, 206);
    await delay(50);
    const snapshot = (): { deliveredBytes: number } | undefined => h.server.state.snapshot().tickets.find((t) => t.ticketId === claims.ticketId);
    assert.equal(snapshot()?.deliveredBytes, 0);
    // A HEAD proves nothing; a GET continuing at 512 KiB proves [0, 512 KiB).
    await send(url, { method: 'HEAD', headers: { range: `bytes=${MiB / 2}-` } });
    assert.equal(snapshot()?.deliveredBytes, 0);
    const next = await send(url, { headers: { range: `bytes=${MiB / 2}-${MiB / 2}` } });
    assert.equal(next.status, 206);
    assert.ok((snapshot()?.deliveredBytes ?? 0) >= MiB / 2);
  });
});

describe('delivery evidence when this side closes the connection (Connection: close)', () => {
  let h: Harness;
  let clock: ManualClock;
  let bytes: Buffer;
  let contentId: string;

  before(async () => {
    // No regular sweep (an hour apart) and a clock that does not move: only the look taken
    // right after the close can count the response, end the ticket and free its slot.
    clock = new ManualClock(T0);
    h = await startHarness({ clock, sweepIntervalMs: 3_600_000, env: { TESSERA_DELIVERY_CONFIRM_MS: '5000' } });
    bytes = randomBytes(256 * 1024);
    contentId = await h.putReplica(bytes, 'closing.bin');
  });
  after(() => h.close());

  it('counts the response and frees the slot as soon as the client acknowledged our FIN', async () => {
    const { url, claims } = await h.issue(contentId);
    assert.equal(h.server.state.slots.taken, 1);
    const got = await send(url, { headers: { connection: 'close' } });
    assert.equal(got.status, 200);
    assert.equal(got.headers['connection'], 'close');
    assert.equal(sha256(got.body), sha256(bytes));
    // Freed at once; counted at once (TIME_WAIT shows every byte acknowledged) or, when the
    // connection is already gone, at the sweep after the confirmation delay.
    await waitFor(() => h.server.state.slots.taken === 0);
    if (!h.server.state.slots.isConsumed(claims.ticketId)) {
      clock.advance(5000);
      h.server.state.sweep();
    }
    await h.consumed(claims.ticketId);
    const completion = await h.reception.waitForCompletion(claims.ticketId);
    assert.equal(completion.outcome, 'completed');
    assert.equal(completion.bytesDelivered, bytes.length);
  });

  it('lets a client that vanished with bytes unread resume, although this side had closed in order', async () => {
    // 3 MiB: the server hands all of it to the kernel and closes before the client has read 1 MiB.
    const large = randomBytes(3 * MiB);
    const largeId = await h.putReplica(large, 'closing-large.bin');
    const { url, claims } = await h.issue(largeId);
    const first = await send(url, { headers: { connection: 'close' }, abortAfter: MiB + 5 });
    assert.equal(first.status, 200);
    // Long enough for the looks after the close (2, 25, 50 ms ...) to find the connection reset.
    await delay(300);
    assert.ok(!h.server.state.slots.isConsumed(claims.ticketId), 'a reset connection proves nothing before the confirmation delay');
    const rest = await send(url, { headers: { range: `bytes=${first.body.length}-`, connection: 'close' } });
    assert.equal(rest.status, 206);
    assert.equal(sha256(Buffer.concat([first.body, rest.body])), sha256(large));
    await h.consumed(claims.ticketId);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await delay(5);
  }
}

import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { freshPostgresSchema, requirePostgres } from '../../../test/support/services.js';
import { newId } from '../../core/ids.js';
import { activeEpoch } from '../../core/ticket/ticket-keys.js';
import type { ContentRecord, Persistence } from '../../ports/persistence.js';
import { openPersistence } from './open-persistence.js';

// One contract, every backend: the same cases run against a SQLite file in WAL mode and a
// PostgreSQL schema of its own. Each case gets a fresh, empty database.

interface FreshDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

interface Backend {
  readonly name: string;
  /** False when the server is absent outside CI (the test is then skipped, loudly). */
  available(t: TestContext): Promise<boolean>;
  fresh(): Promise<FreshDatabase>;
}

const backends: readonly Backend[] = [
  {
    name: 'sqlite',
    available: () => Promise.resolve(true),
    async fresh() {
      const dir = await mkdtemp(join(tmpdir(), 'tessera-sql-'));
      return { url: `sqlite:${join(dir, 'tessera.db')}`, drop: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  { name: 'postgres', available: (t) => requirePostgres(t), fresh: () => freshPostgresSchema() },
];

interface CaseContext {
  readonly url: string;
  /** Opens (and migrates) the case's database; everything opened is closed after the case. */
  open(): Promise<Persistence>;
}

const GiB = 2 ** 30;
const T0 = Date.UTC(2026, 0, 1);

function content(overrides: Partial<ContentRecord> = {}): ContentRecord {
  return {
    id: newId(),
    title: 'Concert 2026',
    fileName: 'concert.mp4',
    mimeType: 'video/mp4',
    size: 1234,
    sha256: 'ab'.repeat(32),
    createdAt: T0,
    ...overrides,
  };
}

async function withContent(db: Persistence): Promise<string> {
  const c = content();
  await db.catalogue.addContent(c);
  return c.id;
}

async function ticketedOrder(db: Persistence, contentId: string, ticketExpiresAt = T0 + 60_000) {
  const order = await db.orders.createOrder({ id: newId(), contentId, clientAddress: '203.0.113.7', createdAt: T0 });
  const ticketId = newId();
  const ticketed = await db.orders.markTicketed(order.id, { serverId: 'cs-1', ticketId, ticketNotBefore: T0, ticketExpiresAt, at: T0 + 10 });
  assert.ok(ticketed);
  return { id: order.id, ticketId };
}

const execFileAsync = promisify(execFile);

// Opens the database in a separate process, as a second reception starting at the same
// moment would.
const OPENER = `
const [moduleUrl, dbUrl, startAt] = process.argv.slice(1);
const { openPersistence } = await import(moduleUrl);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const p = await openPersistence(dbUrl);
await p.keys.ensureInitial(Date.now());
await p.close();
`;

const cases: Readonly<Record<string, (c: CaseContext) => Promise<void>>> = {
  async 'content round-trips exactly, with a 5 GiB size, the largest safe size and unicode names'(c) {
    const db = await c.open();
    const big = content({ size: 5 * GiB, title: 'Fête — 東京ライブ 🎤', fileName: 'ライブ 2026 (édition spéciale) 🎶.mkv' });
    const largest = content({ size: Number.MAX_SAFE_INTEGER, createdAt: T0 + 1 });
    const empty = content({ size: 0, createdAt: T0 + 2 });
    for (const item of [big, largest, empty]) await db.catalogue.addContent(item);

    assert.deepEqual(await db.catalogue.getContent(big.id), big);
    assert.equal((await db.catalogue.getContent(largest.id))?.size, Number.MAX_SAFE_INTEGER);
    assert.deepEqual(await db.catalogue.listContents(), [big, largest, empty]);
    assert.equal(await db.catalogue.getContent(newId()), undefined);
    await assert.rejects(db.catalogue.addContent(big), 'a duplicate id is refused');
    await assert.rejects(db.catalogue.addContent(content({ size: 1.5 })), TypeError);
    await assert.rejects(db.catalogue.addContent(content({ size: -1 })), TypeError);
    assert.equal((await db.catalogue.listContents()).length, 3);
  },

  async 'replicas are idempotent and need a known content'(c) {
    const db = await c.open();
    const id = await withContent(db);
    await db.catalogue.addReplica(id, 'cs-b', T0);
    await db.catalogue.addReplica(id, 'cs-a', T0);
    await db.catalogue.addReplica(id, 'cs-b', T0 + 5);
    assert.deepEqual(await db.catalogue.replicaServers(id), ['cs-a', 'cs-b']);
    assert.deepEqual(await db.catalogue.replicaServers(newId()), []);
    await assert.rejects(db.catalogue.addReplica(newId(), 'cs-a', T0), 'foreign key');
  },

  async 'an order goes received → ticketed → completed'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const id = newId();
    const received = await db.orders.createOrder({ id, contentId, clientAddress: '2001:db8::1', createdAt: T0 });
    assert.deepEqual(received, {
      id, contentId, state: 'received', clientAddress: '2001:db8::1', serverId: null, ticketId: null,
      ticketNotBefore: null, ticketExpiresAt: null, queueSeq: null, queueReturnBy: null, bytesDelivered: null, reason: null, ticketReplacements: 0, previousTicketId: null, createdAt: T0, updatedAt: T0,
    });
    const ticketId = newId();
    const ticketed = await db.orders.markTicketed(id, { serverId: 'cs-1', ticketId, ticketNotBefore: T0, ticketExpiresAt: T0 + 60_000, at: T0 + 5 });
    assert.deepEqual(ticketed, { ...received, state: 'ticketed', serverId: 'cs-1', ticketId, ticketNotBefore: T0, ticketExpiresAt: T0 + 60_000, updatedAt: T0 + 5 });
    const completed = await db.orders.markCompleted(id, ticketId, 6 * GiB, T0 + 9_000);
    assert.deepEqual(completed, { ...ticketed, state: 'completed', bytesDelivered: 6 * GiB, updatedAt: T0 + 9_000 });
    assert.deepEqual(await db.orders.getOrder(id), completed);
    assert.equal(await db.orders.getOrder(newId()), undefined);
    await assert.rejects(db.orders.createOrder({ id: newId(), contentId: newId(), clientAddress: null, createdAt: T0 }), 'foreign key');
  },

  async 'an order can be rejected, or expire once ticketed'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const order = await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 });
    assert.deepEqual(await db.orders.markRejected(order.id, 'all-servers-busy', T0 + 1), {
      ...order, state: 'rejected', reason: 'all-servers-busy', updatedAt: T0 + 1,
    });
    const a = await ticketedOrder(db, contentId);
    assert.equal((await db.orders.markExpired(a.id, a.ticketId, 'ticket-expired', 1024, T0 + 2))?.bytesDelivered, 1024);
    const b = await ticketedOrder(db, contentId);
    const swept = await db.orders.markExpired(b.id, null, 'swept', null, T0 + 3);
    assert.equal(swept?.state, 'expired');
    assert.equal(swept?.reason, 'swept');
  },

  async 'illegal transitions return undefined and change nothing'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const received = await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 });
    assert.equal(await db.orders.markCompleted(received.id, 'x', 1, T0 + 1), undefined);
    assert.equal(await db.orders.markExpired(received.id, null, 'r', null, T0 + 1), undefined);
    assert.deepEqual(await db.orders.getOrder(received.id), received);

    const t = await ticketedOrder(db, contentId);
    const before = await db.orders.getOrder(t.id);
    assert.equal(await db.orders.markTicketed(t.id, { serverId: 'cs-2', ticketId: newId(), ticketNotBefore: T0, ticketExpiresAt: T0, at: T0 + 1 }), undefined);
    assert.equal(await db.orders.markRejected(t.id, 'r', T0 + 1), undefined);
    assert.equal(await db.orders.markCompleted(t.id, newId(), 1, T0 + 1), undefined, 'another ticket cannot complete it');
    assert.equal(await db.orders.markExpired(t.id, newId(), 'r', null, T0 + 1), undefined, 'another ticket cannot expire it');
    assert.deepEqual(await db.orders.getOrder(t.id), before);

    const done = await db.orders.markCompleted(t.id, t.ticketId, 10, T0 + 2);
    for (const attempt of [
      db.orders.markTicketed(t.id, { serverId: 'cs-2', ticketId: newId(), ticketNotBefore: T0, ticketExpiresAt: T0, at: T0 + 3 }),
      db.orders.markRejected(t.id, 'r', T0 + 3),
      db.orders.markCompleted(t.id, t.ticketId, 20, T0 + 3),
      db.orders.markExpired(t.id, null, 'r', 20, T0 + 3),
    ]) assert.equal(await attempt, undefined);
    assert.deepEqual(await db.orders.getOrder(t.id), done);
    assert.equal(await db.orders.markRejected(newId(), 'r', T0), undefined, 'an unknown order');
  },

  async 'a ticketed order gets a replacement ticket, a bounded number of times, and only with its current ticket'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const t = await ticketedOrder(db, contentId);
    const issue = (at: number) => ({ serverId: 'cs-2', ticketId: newId(), ticketNotBefore: at, ticketExpiresAt: at + 60_000, at });
    const first = issue(T0 + 10);
    assert.equal(await db.orders.replaceTicket(t.id, newId(), first, 2), undefined, 'a ticket that is not the current one');
    const replaced = await db.orders.replaceTicket(t.id, t.ticketId, first, 2);
    assert.equal(replaced?.state, 'ticketed');
    assert.equal(replaced?.ticketId, first.ticketId);
    assert.equal(replaced?.serverId, 'cs-2');
    assert.equal(replaced?.ticketExpiresAt, first.ticketExpiresAt);
    assert.equal(replaced?.ticketReplacements, 1);
    assert.equal(replaced?.previousTicketId, t.ticketId);
    assert.equal(await db.orders.replaceTicket(t.id, t.ticketId, issue(T0 + 11), 2), undefined, 'the replaced ticket cannot replace again');
    assert.equal(await db.orders.markCompleted(t.id, t.ticketId, 1, T0 + 11), undefined, 'the replaced ticket cannot complete the order');
    const second = issue(T0 + 12);
    assert.equal((await db.orders.replaceTicket(t.id, first.ticketId, second, 2))?.ticketReplacements, 2);
    assert.equal(await db.orders.replaceTicket(t.id, second.ticketId, issue(T0 + 13), 2), undefined, 'the bound is reached');
    assert.equal((await db.orders.markCompleted(t.id, second.ticketId, 1234, T0 + 14))?.state, 'completed');
    assert.equal(await db.orders.replaceTicket(t.id, second.ticketId, issue(T0 + 15), 5), undefined, 'a completed order keeps its ticket');
    const racing = await ticketedOrder(db, contentId);
    const wins = await Promise.all([1, 2, 3].map((i) => db.orders.replaceTicket(racing.id, racing.ticketId, issue(T0 + 20 + i), 5)));
    assert.equal(wins.filter((w) => w !== undefined).length, 1, 'one of several concurrent replacements wins');
  },

  async 'markCompleted racing markExpired: exactly one wins'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    for (let i = 0; i < 20; i++) {
      const t = await ticketedOrder(db, contentId);
      const [completed, expired] = await Promise.all([
        db.orders.markCompleted(t.id, t.ticketId, 100, T0 + 1),
        db.orders.markExpired(t.id, t.ticketId, 'ticket-expired', 50, T0 + 1),
      ]);
      assert.equal(Number(completed !== undefined) + Number(expired !== undefined), 1);
      assert.deepEqual(await db.orders.getOrder(t.id), completed ?? expired);
    }
  },

  async 'a ticket ID belongs to one order only'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const t = await ticketedOrder(db, contentId);
    const other = await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 });
    await assert.rejects(db.orders.markTicketed(other.id, { serverId: 'cs-1', ticketId: t.ticketId, ticketNotBefore: T0, ticketExpiresAt: T0 + 1, at: T0 + 1 }));
    assert.deepEqual(await db.orders.getOrder(other.id), other);
  },

  async 'listStale finds expired tickets and old received orders, oldest first'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const oldReceived = await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 - 5_000 });
    await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 + 5_000 });
    const expired = await ticketedOrder(db, contentId, T0 - 1_000);
    await ticketedOrder(db, contentId, T0 + 60_000);
    const done = await ticketedOrder(db, contentId, T0 - 2_000);
    await db.orders.markCompleted(done.id, done.ticketId, 1, T0);
    const rejected = await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 - 9_000 });
    await db.orders.markRejected(rejected.id, 'r', T0 - 9_000);

    const stale = await db.orders.listStale(T0, 10);
    assert.deepEqual(stale.map((o) => o.id), [oldReceived.id, expired.id]);
    assert.deepEqual((await db.orders.listStale(T0, 1)).map((o) => o.id), [oldReceived.id]);
    assert.deepEqual(await db.orders.listStale(T0 - 10_000, 10), []);
    await assert.rejects(db.orders.listStale(T0, 0), TypeError);
  },

  async 'countByState counts each state'(c) {
    const db = await c.open();
    assert.deepEqual(await db.orders.countByState(), {});
    const contentId = await withContent(db);
    await ticketedOrder(db, contentId);
    await ticketedOrder(db, contentId);
    const done = await ticketedOrder(db, contentId);
    await db.orders.markCompleted(done.id, done.ticketId, 1, T0);
    await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 });
    assert.deepEqual(await db.orders.countByState(), { received: 1, ticketed: 2, completed: 1 });
  },

  async 'ensureInitial from 5 callers at once makes exactly one epoch'(c) {
    const callers = [];
    for (let i = 0; i < 5; i++) callers.push(await c.open());
    await Promise.all(callers.map((db, i) => db.keys.ensureInitial(T0 + i)));
    const epochs = await callers[0]!.keys.listEpochs();
    assert.equal(epochs.length, 1);
    assert.equal(epochs[0]?.kid, 1);
    assert.equal(epochs[0]?.supersededAt, null);
    assert.equal(epochs[0]?.retiresAt, null);
  },

  async 'rotate supersedes the active epoch atomically and refuses a stale or skipped kid'(c) {
    const db = await c.open();
    await db.keys.ensureInitial(T0);
    assert.equal(await db.keys.rotate(2, T0 + 1_000, T0 + 5_000), true);
    assert.deepEqual(await db.keys.listEpochs(), [
      { kid: 1, createdAt: T0, supersededAt: T0 + 1_000, retiresAt: T0 + 5_000 },
      { kid: 2, createdAt: T0 + 1_000, supersededAt: null, retiresAt: null },
    ]);
    const before = await db.keys.listEpochs();
    assert.equal(await db.keys.rotate(2, T0 + 2_000, T0 + 6_000), false, 'kid 2 is not new any more');
    await assert.rejects(db.keys.rotate(4, T0 + 2_000, T0 + 6_000), TypeError);
    await assert.rejects(db.keys.rotate(3, T0 + 2_000, T0 + 1_000), TypeError);
    assert.deepEqual(await db.keys.listEpochs(), before);

    const results = await Promise.all([db.keys.rotate(3, T0 + 3_000, T0 + 9_000), db.keys.rotate(3, T0 + 3_001, T0 + 9_001)]);
    assert.deepEqual([...results].sort(), [false, true]);
    const epochs = await db.keys.listEpochs();
    assert.deepEqual(epochs.map((e) => e.kid), [1, 2, 3]);
    assert.equal(activeEpoch(epochs)?.kid, 3);
    assert.equal(epochs.filter((e) => e.supersededAt === null).length, 1);
    assert.equal(epochs[0]?.retiresAt, T0 + 5_000, 'an epoch already superseded keeps its retirement');
  },

  async 'what was written survives close and reopen'(c) {
    const db = await c.open();
    const item = content({ size: 7 * GiB });
    await db.catalogue.addContent(item);
    await db.catalogue.addReplica(item.id, 'cs-1', T0);
    const t = await ticketedOrder(db, item.id);
    await db.keys.ensureInitial(T0);
    const order = await db.orders.getOrder(t.id);
    await db.close();
    await db.close();

    const again = await c.open();
    assert.deepEqual(await again.catalogue.getContent(item.id), item);
    assert.deepEqual(await again.catalogue.replicaServers(item.id), ['cs-1']);
    assert.deepEqual(await again.orders.getOrder(t.id), order);
    assert.equal((await again.keys.listEpochs()).length, 1);
    await again.ping();
  },

  async 'the waiting line keeps arrival order, positions, and drops clients who do not come back'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const o = await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 + i });
      const queued = await db.orders.markQueued(o.id, T0 + 10_000, T0 + i);
      assert.equal(queued?.state, 'queued');
      ids.push(o.id);
    }
    const seqs = (await db.orders.listQueued(T0, 10)).map((o) => o.queueSeq ?? -1);
    assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, 'listed in arrival order');
    assert.equal(new Set(seqs).size, 4, 'arrival numbers are unique');
    assert.deepEqual((await db.orders.listQueued(T0, 10)).map((o) => o.id), ids);
    assert.equal(await db.orders.queuePosition(ids[2] ?? '', T0), 3);
    assert.equal(await db.orders.markQueued(ids[0] ?? '', T0, T0), undefined, 'queued only once');

    // The second client comes back in time; the first does not.
    assert.ok(await db.orders.touchQueued(ids[1] ?? '', T0 + 30_000, T0 + 9_000));
    assert.ok(await db.orders.touchQueued(ids[2] ?? '', T0 + 30_000, T0 + 9_000));
    assert.ok(await db.orders.touchQueued(ids[3] ?? '', T0 + 30_000, T0 + 9_000));
    assert.equal(await db.orders.countQueued(T0 + 20_000), 3);
    assert.equal(await db.orders.queuePosition(ids[2] ?? '', T0 + 20_000), 2, 'the line moved up');
    const lapsed = await db.orders.expireLapsed(T0 + 20_000, 100);
    assert.deepEqual(lapsed.map((o) => [o.id, o.state, o.reason]), [[ids[0], 'expired', 'left-the-line']]);
    assert.equal(await db.orders.touchQueued(ids[0] ?? '', T0 + 40_000, T0 + 20_001), undefined, 'a lapsed place is gone');

    // Admission from the line.
    const admitted = await db.orders.markTicketed(ids[1] ?? '', { serverId: 'cs-1', ticketId: newId(), ticketNotBefore: T0, ticketExpiresAt: T0 + 60_000, at: T0 + 21_000 });
    assert.equal(admitted?.state, 'ticketed');
    assert.equal(await db.orders.queuePosition(ids[2] ?? '', T0 + 21_000), 1);
    assert.equal(await db.orders.queuePosition(ids[1] ?? '', T0 + 21_000), undefined);
  },

  async 'arrival numbers stay unique under concurrent queueing'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const orders = await Promise.all(Array.from({ length: 20 }, (_, i) => db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 + i })));
    const queued = await Promise.all(orders.map((o) => db.orders.markQueued(o.id, T0 + 60_000, T0 + 50)));
    assert.equal(new Set(queued.map((o) => o?.queueSeq)).size, 20);
  },

  async 'drains are kept until undrained, the first time wins, and a reopened database still has them'(c) {
    const db = await c.open();
    assert.deepEqual(await db.drains.list(), []);
    assert.deepEqual(await db.drains.drain('cs-2', T0), { serverId: 'cs-2', since: T0 });
    assert.deepEqual(await db.drains.drain('cs-2', T0 + 500), { serverId: 'cs-2', since: T0 }, 'draining again keeps the first time');
    await Promise.all([db.drains.drain('cs-1', T0 + 1), db.drains.drain('cs-1', T0 + 2)]);
    const again = await c.open();
    assert.deepEqual((await again.drains.list()).map((d) => d.serverId), ['cs-1', 'cs-2']);
    assert.equal(await again.drains.undrain('cs-2'), true);
    assert.equal(await again.drains.undrain('cs-2'), false, 'undraining twice changes nothing');
    const left = await db.drains.list();
    assert.equal(left.length, 1);
    assert.equal(left[0]?.serverId, 'cs-1');
    assert.ok(left[0]?.since === T0 + 1 || left[0]?.since === T0 + 2);
  },

  async 'the line reads page by page, after an arrival number, without lapsed or admitted places'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const other = await withContent(db);
    const queued: { orderId: string; contentId: string; queueSeq: number }[] = [];
    for (let i = 0; i < 7; i++) {
      const o = await db.orders.createOrder({ id: newId(), contentId: i === 3 ? other : contentId, clientAddress: null, createdAt: T0 + i });
      const q = await db.orders.markQueued(o.id, i === 5 ? T0 + 1_000 : T0 + 60_000, T0 + i);
      assert.ok(q?.queueSeq != null);
      queued.push({ orderId: q.id, contentId: q.contentId, queueSeq: q.queueSeq });
    }
    // Not in line: an order never queued, one admitted, one whose client did not come back (index 5, lapsed at T0 + 1 s).
    await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 });
    await db.orders.markTicketed(queued[1]!.orderId, { serverId: 'cs-1', ticketId: newId(), ticketNotBefore: T0, ticketExpiresAt: T0 + 60_000, at: T0 + 10 });
    const inLine = queued.filter((_, i) => i !== 1 && i !== 5);

    assert.deepEqual(await db.orders.listQueuePlaces(T0 + 2_000, -1, 100), inLine, 'the whole line, in arrival order');
    const pages = [];
    let after = -1;
    for (;;) {
      const page = await db.orders.listQueuePlaces(T0 + 2_000, after, 2);
      if (page.length === 0) break;
      assert.ok(page.length <= 2);
      pages.push(...page);
      after = page[page.length - 1]!.queueSeq;
    }
    assert.deepEqual(pages, inLine, 'pages of two join up to the same line');
    assert.deepEqual(await db.orders.listQueuePlaces(T0 + 2_000, inLine[2]!.queueSeq, 100), inLine.slice(3));
    assert.deepEqual((await db.orders.listQueuePlaces(T0, -1, 100)).length, 6, 'before it lapsed, index 5 was still in line');
    assert.deepEqual(await db.orders.listQueuePlaces(T0 + 2_000, inLine[inLine.length - 1]!.queueSeq, 100), []);
    assert.deepEqual((await db.orders.listQueued(T0 + 2_000, 100)).map((o) => o.id), inLine.map((p) => p.orderId), 'the same line as listQueued');
    await assert.rejects(db.orders.listQueuePlaces(T0, -1, 0), TypeError);
    await assert.rejects(db.orders.listQueuePlaces(T0, 0.5, 1), TypeError);
  },

  async 'places that lapsed while no reception ran are kept; those lapsed before are not'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    assert.equal(await db.orders.keepPlacesAfterOutage(T0 + 99_000, T0 + 90_000), 0, 'an empty line');
    const queue = async (returnBy: number, at: number) => {
      const o = await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: at });
      const q = await db.orders.markQueued(o.id, returnBy, at);
      assert.ok(q);
      return q;
    };
    // The line was last served at T0 + 10 s (the last answer touched `late`); then the reception stopped until T0 + 60 s.
    const before = await queue(T0 + 5_000, T0); // lapsed while the line was still served
    const during = await queue(T0 + 12_000, T0 + 1_000); // lapsed during the outage
    const late = await queue(T0 + 30_000, T0 + 1_000);
    assert.ok(await db.orders.touchQueued(late.id, T0 + 40_000, T0 + 10_000));
    const far = await queue(T0 + 90_000, T0 + 2_000); // still in time at restart
    assert.equal(await db.orders.keepPlacesAfterOutage(T0 + 62_000, T0 + 60_000), 2);
    const returnBy = async (id: string) => (await db.orders.getOrder(id))?.queueReturnBy;
    assert.equal(await returnBy(before.id), T0 + 5_000);
    assert.equal(await returnBy(during.id), T0 + 62_000);
    assert.equal(await returnBy(late.id), T0 + 62_000);
    assert.equal(await returnBy(far.id), T0 + 90_000, 'never shortened');
    assert.equal(await db.orders.countQueued(T0 + 61_000), 3);
    const ticketed = await ticketedOrder(db, contentId);
    assert.equal((await db.orders.getOrder(ticketed.id))?.queueReturnBy, null, 'orders not in line are left alone');
  },

  async 'a time that is not a whole millisecond is refused alike by every backend, and changes nothing'(c) {
    const db = await c.open();
    const contentId = await withContent(db);
    const o = await db.orders.createOrder({ id: newId(), contentId, clientAddress: null, createdAt: T0 });
    assert.ok(await db.orders.markQueued(o.id, T0 + 10_000, T0));
    await assert.rejects(db.orders.touchQueued(o.id, T0 + 30_000.5, T0 + 1_000), TypeError);
    await assert.rejects(async () => db.orders.markQueued(newId(), T0 + 0.25, T0), TypeError);
    await assert.rejects(db.orders.countQueued(T0 + 0.5), TypeError);
    assert.equal((await db.orders.getOrder(o.id))?.queueReturnBy, T0 + 10_000);
  },

  async 'several processes opening a new database at once all migrate it safely'(c) {
    const moduleUrl = new URL('./open-persistence.js', import.meta.url).href;
    const startAt = String(Date.now() + 500);
    await Promise.all(
      [1, 2, 3, 4].map(() => execFileAsync(process.execPath, ['--input-type=module', '-e', OPENER, moduleUrl, c.url, startAt], { timeout: 30_000 })),
    );
    const db = await c.open();
    assert.equal((await db.keys.listEpochs()).length, 1);
    assert.deepEqual(await db.orders.countByState(), {});
  },
};

for (const backend of backends) {
  test(`persistence contract: ${backend.name}`, async (t) => {
    if (!(await backend.available(t))) return;
    for (const [name, run] of Object.entries(cases)) {
      await t.test(name, async () => {
        const fresh = await backend.fresh();
        const opened: Persistence[] = [];
        try {
          await run({
            url: fresh.url,
            async open() {
              const db = await openPersistence(fresh.url);
              opened.push(db);
              return db;
            },
          });
        } finally {
          for (const db of opened) await db.close();
          await fresh.drop();
        }
      });
    }
  });
}

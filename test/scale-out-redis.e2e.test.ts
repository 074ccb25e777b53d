import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { dropRedisSpace, freshRedisPrefix } from '../src/adapters/redis/testing/redis-test-space.js';
import { NGINX_BINARY } from '../src/topology/nginx-entry.js';
import { freePort, startCluster, type Cluster } from './support/cluster.js';
import { freshPostgresSchema, REDIS_URL, requirePostgres, requireRedis } from './support/services.js';
import { haveRedisServer, kill9, startRedis } from './support/own-redis.js';
import { waitFor } from './support/wait.js';
import { sha256 } from './support/sha256.js';

// Scaling out with real processes (issue 5, docs/scale-out.md): two receptions behind the nginx
// entry and content servers sharing PostgreSQL and Redis (TESSERA_REDIS_URL). Load reports on
// the board, notices and completions on the Redis control channel, consumed tickets in the
// shared ledger, one waiting line for both receptions. Each cluster gets a fresh PostgreSQL
// schema and a Redis key prefix of its own, so it shares the machine's services with other
// test files; the Redis-restart case starts a redis-server of its own (the machine's is not
// ours to restart).

const haveNginx = existsSync(NGINX_BINARY);

function requireTools(t: TestContext, redisServer = false): boolean {
  const missing = [...(haveNginx ? [] : [`${NGINX_BINARY} (nginx-light)`]), ...(redisServer && !haveRedisServer ? ['redis-server'] : [])];
  if (missing.length === 0) return true;
  const message = `not installed: ${missing.join(', ')}`;
  if (process.env['CI'] === 'true') throw new Error(`${message}; under CI=true this test must run`);
  console.error(`\n!!! SKIPPING: ${message} !!!\n`);
  t.skip(message);
  return false;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function post(base: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function ticketOf(answer: Answer): { url: string; serverId: string } {
  return answer.body['ticket'] as { url: string; serverId: string };
}

function orderIdOf(answer: Answer): string {
  return answer.status === 201 ? (answer.body['order'] as { id: string }).id : String(answer.body['orderId']);
}

function curl(url: string, file: string): { code: string; stderr: string } {
  const result = spawnSync('curl', ['-sS', '-o', file, '-w', '%{http_code}', url], { encoding: 'utf8' });
  return { code: result.stdout, stderr: result.stderr };
}

async function orderStates(url: string, ids: readonly string[]): Promise<Map<string, { state: string; queueSeq: number | null; ticketId: string | null; reason: string | null }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; state: string; queue_seq: string | null; ticket_id: string | null; reason: string | null }>(
      'SELECT id, state, queue_seq, ticket_id, reason FROM orders WHERE id = ANY($1)',
      [ids],
    );
    return new Map(rows.map((r) => [r.id, { state: r.state, queueSeq: r.queue_seq === null ? null : Number(r.queue_seq), ticketId: r.ticket_id, reason: r.reason }]));
  } finally {
    await client.end();
  }
}

/**
 * Takes every slot (one per server: capacity 1) with orders nobody downloads, starting from free
 * slots (a previous case's downloads free theirs once delivered) and an empty line.
 */
async function takeEverySlot(c: Cluster, contentId: string, slots: number): Promise<Answer[]> {
  await waitFor('every slot free, as both receptions see it', async () => {
    for (const r of c.topology.receptions) {
      const response = await fetch(`http://127.0.0.1:${r.controlPort}/admin/servers`, { headers: { authorization: `Bearer ${c.admin.token}` } });
      const { servers } = (await response.json()) as { servers: { live: boolean; slotsTaken: number }[] };
      if (servers.length !== c.topology.contentServers.length || !servers.every((s) => s.live && s.slotsTaken === 0)) return undefined;
    }
    return true;
  }, 30_000);
  const held: Answer[] = [];
  for (let i = 0; i < slots; i++) {
    const answer = await post(c.receptionUrl, { contentId });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    held.push(answer);
  }
  return held;
}

function logsOf(cluster: Cluster, ...names: string[]): string {
  return names.map((n) => `--- ${n}\n${(cluster.logs.get(n) ?? []).slice(-15).join('\n')}`).join('\n');
}

describe('scale-out on PostgreSQL and Redis, real processes', { timeout: 300_000 }, () => {
  describe('two receptions, three content servers, nginx entry', () => {
    let cluster: Cluster | undefined;
    let schema: { url: string; drop: () => Promise<void> } | undefined;
    let prefix = '';
    let item: { id: string; sha256: string; size: number };
    let ready = false;

    before(async () => {
      if (!(await requirePostgres()) || !(await requireRedis()) || !haveNginx) return;
      schema = await freshPostgresSchema();
      prefix = freshRedisPrefix();
      cluster = await startCluster({
        receptions: 2,
        servers: 3,
        capacity: 2,
        databaseUrl: schema.url,
        redisUrl: REDIS_URL,
        env: { TESSERA_REDIS_PREFIX: prefix, TESSERA_NOTICE_MODE: 'optional' },
      });
      const bytes = randomBytes(256 * 1024);
      const path = join(cluster.dataDir, 'item.bin');
      writeFileSync(path, bytes);
      item = { ...(await cluster.addFile(path, 'Scale-out item')), sha256: sha256(bytes) };
      ready = true;
    });
    after(async () => {
      await cluster?.stop();
      await schema?.drop();
      if (prefix) await dropRedisSpace(REDIS_URL, prefix);
    });

    test('orders through the entry are served and end completed, with reports, notices and completions on Redis only', async (t) => {
      if (!(await requirePostgres(t)) || !(await requireRedis(t)) || !requireTools(t) || !ready || !cluster || !schema) return;
      const c = cluster;
      // Both receptions see every content server, though no server was given a reception's HTTP address to use.
      for (const r of c.topology.receptions) {
        await waitFor(`reception :${r.controlPort} to see 3 servers`, async () => {
          const response = await fetch(`http://127.0.0.1:${r.controlPort}/admin/servers`, { headers: { authorization: `Bearer ${c.admin.token}` } });
          const { servers } = (await response.json()) as { servers: { live: boolean }[] };
          return servers.filter((s) => s.live).length === 3 ? true : undefined;
        });
      }
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const answer = await post(c.receptionUrl, { contentId: item.id });
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
        const file = join(c.dataDir, `out-${i}.bin`);
        const got = curl(ticketOf(answer).url, file);
        assert.equal(got.code, '200', got.stderr);
        assert.equal(sha256(readFileSync(file)), item.sha256);
        ids.push(orderIdOf(answer));
      }
      const url = schema.url;
      await waitFor('every order completed in PostgreSQL', async () => {
        const states = await orderStates(url, ids);
        return [...states.values()].every((s) => s.state === 'completed') && states.size === ids.length ? true : undefined;
      });
      // The completions came over the Redis stream: no content server posted one over HTTP.
      for (let i = 1; i <= 3; i++) {
        assert.ok(!(c.logs.get(`cs-${i}`) ?? []).some((l) => l.includes('cannot report load to the reception')), logsOf(c, `cs-${i}`));
      }
      const redis = new Redis(REDIS_URL);
      try {
        assert.ok((await redis.xlen(`${prefix}ctl:completions`)) >= 0);
        assert.equal(await redis.exists(`${prefix}board:r:cs-1`), 1, 'cs-1 reports on the board');
      } finally {
        redis.disconnect();
      }
    });

    test('a ticket used up on a content server is refused by a second process of that server ID, and by the server after a restart (the shared ledger)', async (t) => {
      if (!(await requirePostgres(t)) || !(await requireRedis(t)) || !requireTools(t) || !ready || !cluster) return;
      const c = cluster;
      const answer = await post(c.receptionUrl, { contentId: item.id });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      const { url, serverId } = ticketOf(answer);
      const first = curl(url, join(c.dataDir, 'ledger-1.bin'));
      assert.equal(first.code, '200', first.stderr);
      // Used up where it was served.
      await waitFor('the ticket to be refused where it was used', async () => (curl(url, join(c.dataDir, 'ledger-x.bin')).code === '410' ? true : undefined));

      // A second process of the same server ID (notice mode optional: it has no notice for the
      // ticket, so only the ledger can tell it the ticket is used up).
      const twinPublic = await freePort();
      const twinControl = await freePort();
      await c.startLike(`${serverId}-twin`, serverId, { TESSERA_PUBLIC_PORT: String(twinPublic), TESSERA_CONTROL_PORT: String(twinControl) }, `http://127.0.0.1:${twinPublic}/healthz`);
      const original = new URL(url);
      const twinUrl = `http://127.0.0.1:${twinPublic}${original.pathname}`;
      try {
        // The twin gets its keys from a reception over the channel, then refuses the ticket.
        const code = await waitFor('the twin to judge the ticket', async () => {
          const got = curl(twinUrl, join(c.dataDir, 'ledger-twin.bin')).code;
          return got === '410' || got === '200' ? got : undefined;
        });
        assert.equal(code, '410', `a used ticket was served again by another process of ${serverId}\n${logsOf(c, `${serverId}-twin`)}`);
      } finally {
        await c.kill(`${serverId}-twin`);
      }

      // The server itself restarted: its own table is gone, the ledger still has the ticket.
      await c.restart(serverId);
      const code = await waitFor('the restarted server to judge the ticket', async () => {
        const got = curl(url, join(c.dataDir, 'ledger-restart.bin')).code;
        return got === '410' || got === '200' ? got : undefined;
      });
      assert.equal(code, '410', `a used ticket was served again after ${serverId} restarted\n${logsOf(c, serverId)}`);
    });

    test('a drain made through one reception reaches the content server over Redis, no reception undoes it, and an undrain brings it back', async (t) => {
      if (!(await requirePostgres(t)) || !(await requireRedis(t)) || !requireTools(t) || !ready || !cluster) return;
      const c = cluster;
      const healthOf = async (controlPort: number, id: string): Promise<string | undefined> => {
        const response = await fetch(`http://127.0.0.1:${controlPort}/admin/servers`, { headers: { authorization: `Bearer ${c.admin.token}` } });
        const { servers } = (await response.json()) as { servers: { serverId: string; health: string }[] };
        return servers.find((x) => x.serverId === id)?.health;
      };
      const everywhere = async (id: string, health: string): Promise<true | undefined> => {
        for (const r of c.topology.receptions) if ((await healthOf(r.controlPort, id)) !== health) return undefined;
        return true;
      };
      const drain = await fetch(`${c.admin.controlUrl}/admin/servers/cs-3/drain`, { method: 'PUT', headers: { authorization: `Bearer ${c.admin.token}` } });
      assert.equal(drain.status, 200, await drain.text());
      // "drained" needs the server itself to report that it applied the drain: it got it over the channel.
      await waitFor('cs-3 drained as both receptions see it', () => everywhere('cs-3', 'drained'));
      for (let i = 0; i < 6; i++) {
        const answer = await post(c.receptionUrl, { contentId: item.id });
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
        assert.notEqual(ticketOf(answer).serverId, 'cs-3', 'a drained server got a ticket');
        curl(ticketOf(answer).url, join(c.dataDir, 'drain.bin'));
      }
      assert.equal(await everywhere('cs-3', 'drained'), true, 'a reception undid the drain');
      const undrain = await fetch(`${c.admin.controlUrl}/admin/servers/cs-3/drain`, { method: 'DELETE', headers: { authorization: `Bearer ${c.admin.token}` } });
      assert.equal(undrain.status, 200, await undrain.text());
      await waitFor('cs-3 healthy again as both receptions see it', () => everywhere('cs-3', 'healthy'));
    });

    test("a ticket replaced after its content server died is refused by that server when it comes back (the reception's revocation in the ledger)", async (t) => {
      if (!(await requirePostgres(t)) || !(await requireRedis(t)) || !requireTools(t) || !ready || !cluster || !schema) return;
      const c = cluster;
      const answer = await post(c.receptionUrl, { contentId: item.id });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      const old = ticketOf(answer);
      await c.kill(old.serverId, 'SIGKILL');
      const response = await fetch(`${c.receptionUrl}/orders/${orderIdOf(answer)}/ticket`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ticket: old.url, failedServerId: old.serverId }),
      });
      const replaced = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 200, JSON.stringify(replaced));
      const fresh = ticketOf({ status: 200, body: replaced });
      assert.notEqual(fresh.serverId, old.serverId);
      const got = curl(fresh.url, join(c.dataDir, 'replaced.bin'));
      assert.equal(got.code, '200', got.stderr);
      assert.equal(sha256(readFileSync(join(c.dataDir, 'replaced.bin'))), item.sha256);
      // The old server comes back with nothing in memory (notice mode optional: it would serve
      // any valid ticket); only the ledger tells it the old ticket was revoked.
      await c.restart(old.serverId);
      const code = await waitFor('the restarted server to judge the replaced ticket', async () => {
        const status = curl(old.url, join(c.dataDir, 'revoked.bin')).code;
        return status === '410' || status === '200' ? status : undefined;
      });
      assert.equal(code, '410', `a replaced ticket was served by its server after a restart\n${logsOf(c, old.serverId)}`);
      await c.waitForServers(3);
    });
  });

  describe('two receptions sharing one waiting line', () => {
    let cluster: Cluster | undefined;
    let schema: { url: string; drop: () => Promise<void> } | undefined;
    let prefix = '';
    let item: { id: string; sha256: string; size: number };
    let ready = false;
    const receptionUrl = (i: number): string => `http://127.0.0.1:${(cluster?.topology.receptions[i] as { publicPort: number }).publicPort}`;

    before(async () => {
      if (!(await requirePostgres()) || !(await requireRedis()) || !haveNginx) return;
      schema = await freshPostgresSchema();
      prefix = freshRedisPrefix();
      cluster = await startCluster({
        receptions: 2,
        servers: 2,
        capacity: 1,
        databaseUrl: schema.url,
        redisUrl: REDIS_URL,
        // Slots held by clients who do not come for their tickets free after 6 s.
        env: { TESSERA_REDIS_PREFIX: prefix, TESSERA_HOLD_S: '6', TESSERA_ORDER_RATE_PER_S: '1000', TESSERA_ORDER_BURST: '1000' },
      });
      const bytes = randomBytes(64 * 1024);
      const path = join(cluster.dataDir, 'item.bin');
      writeFileSync(path, bytes);
      item = { ...(await cluster.addFile(path, 'Line item')), sha256: sha256(bytes) };
      ready = true;
    });
    after(async () => {
      await cluster?.stop();
      await schema?.drop();
      if (prefix) await dropRedisSpace(REDIS_URL, prefix);
    });

    /** Takes every slot with orders nobody downloads (their holds lapse after TESSERA_HOLD_S). */
    const fillSlots = (c: Cluster): Promise<Answer[]> => takeEverySlot(c, item.id, 2);

    /** Comes back with the token at `base` (long-polling) until admitted; throws on a lost place. */
    async function waitForTicket(base: string, first: Answer): Promise<Answer> {
      let answer = first;
      let token = answer.body['queueToken'];
      for (let i = 0; i < 200 && answer.status === 503; i++) {
        if (answer.body['code'] === 'unavailable' && token !== undefined) {
          // A dependency was briefly unavailable (on a loaded machine, a Redis command timing
          // out): as the waiting-line contract says, the client keeps its token and comes back
          // after Retry-After; its place must still be there.
          await new Promise((resolve) => setTimeout(resolve, Number(answer.body['retryAfterS'] ?? 1) * 1000));
        } else {
          token = answer.body['queueToken'];
          if (token === undefined) throw new Error(`no place in line: ${JSON.stringify(answer.body)}`);
        }
        answer = await post(base, { contentId: item.id, queueToken: String(token) }, { prefer: 'wait=5' });
      }
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      return answer;
    }

    test('both receptions admit from one line in arrival order, each order once, and a waiter learns of an admission made by the other reception', async (t) => {
      if (!(await requirePostgres(t)) || !(await requireRedis(t)) || !requireTools(t) || !ready || !cluster || !schema) return;
      const c = cluster;
      const held = await fillSlots(c);
      // Eight clients join the line, alternately through each reception.
      const joined: { at: number; answer: Answer }[] = [];
      for (let i = 0; i < 8; i++) {
        const answer = await post(receptionUrl(i % 2), { contentId: item.id });
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
        assert.equal(answer.body['code'], 'all-servers-busy');
        // The place counts the clients of both receptions.
        assert.equal(answer.body['position'], i + 1, JSON.stringify(answer.body));
        joined.push({ at: i % 2, answer });
      }
      // Each client waits at the reception it joined through; whichever reception holds the
      // admission turn admits it.
      const admitted = await Promise.all(joined.map(({ at, answer }) => waitForTicket(receptionUrl(at), answer)));
      const ids = admitted.map(orderIdOf);
      assert.deepEqual(ids, joined.map(({ answer }) => orderIdOf(answer)));
      const states = await orderStates(schema.url, ids);
      const client = new pg.Client({ connectionString: schema.url });
      await client.connect();
      let rows: { id: string; queue_seq: string; updated_at: string; ticket_replacements: number }[];
      try {
        rows = (await client.query<{ id: string; queue_seq: string; updated_at: string; ticket_replacements: number }>('SELECT id, queue_seq, updated_at, ticket_replacements FROM orders WHERE id = ANY($1) ORDER BY queue_seq', [ids])).rows;
      } finally {
        await client.end();
      }
      assert.equal(rows.length, 8);
      for (const id of ids) assert.equal(states.get(id)?.state, 'ticketed', id);
      // Arrival order: each was ticketed no earlier than the one before it in line.
      for (let i = 1; i < rows.length; i++) {
        assert.ok(Number(rows[i]?.updated_at) >= Number(rows[i - 1]?.updated_at), `order ${i + 1} in line was admitted before order ${i}`);
      }
      assert.deepEqual(rows.map((r) => r.id), ids, 'the database line is the order the clients joined in');
      // Each order got one ticket, and one slot: the tickets are distinct and none was replaced.
      assert.equal(new Set(admitted.map((a) => ticketOf(a).url)).size, 8);
      assert.ok(rows.every((r) => r.ticket_replacements === 0));
      for (const name of ['reception-1', 'reception-2']) {
        assert.ok(!(c.logs.get(name) ?? []).some((l) => l.includes('changed state while a ticket was being issued')), logsOf(c, name));
      }
      // Let the tickets go: download them so the next case starts from free slots.
      for (const a of [...held, ...admitted]) curl(ticketOf(a).url, join(c.dataDir, 'drop.bin'));
    });

    test('kill -9 of one reception during a rush: its orders are in the database and end completed or expired, and its waiters keep their places through the other', async (t) => {
      if (!(await requirePostgres(t)) || !(await requireRedis(t)) || !requireTools(t) || !ready || !cluster || !schema) return;
      const c = cluster;
      const held = await fillSlots(c);
      // A rush on reception-1: every client gets a place in line there.
      const rush = await Promise.all(Array.from({ length: 10 }, () => post(receptionUrl(0), { contentId: item.id })));
      for (const answer of rush) {
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
        assert.equal(answer.body['code'], 'all-servers-busy', `${JSON.stringify(answer.body)}\n${logsOf(c, 'reception-1')}`);
      }
      await c.kill('reception-1', 'SIGKILL');
      // Its clients come back through the entry (nginx takes the dead reception out) and keep
      // their places: nobody is told queue-place-lost; each is admitted in turn.
      const admitted: Answer[] = [];
      await Promise.all(
        rush.map(async (first) => {
          const answer = await waitForTicket(c.receptionUrl, first);
          const got = curl(ticketOf(answer).url, join(c.dataDir, `rush-${orderIdOf(answer)}.bin`));
          assert.equal(got.code, '200', got.stderr);
          admitted.push(answer);
        }),
      );
      assert.equal(admitted.length, rush.length);
      for (const a of held) curl(ticketOf(a).url, join(c.dataDir, 'held.bin'));
      // Every order reception-1 accepted is in the database and ends completed (or expired).
      const ids = [...rush, ...held].map(orderIdOf);
      const url = schema.url;
      const final = await waitFor(
        'every order of the dead reception to end',
        async () => {
          const states = await orderStates(url, ids);
          return states.size === ids.length && [...states.values()].every((s) => s.state === 'completed' || s.state === 'expired') ? states : undefined;
        },
        90_000,
      );
      for (const id of rush.map(orderIdOf)) assert.equal(final.get(id)?.state, 'completed', id);
    });
  });

  describe('Redis restarted live (a redis-server of our own)', () => {
    test('service resumes without manual steps, and a ticket used up before the restart stays refused, even by its server restarted after', async (t) => {
      if (!(await requirePostgres(t)) || !requireTools(t, true)) return;
      const port = await freePort();
      let redis = await startRedis(port);
      const schema = await freshPostgresSchema();
      const redisUrl = `redis://127.0.0.1:${port}`;
      let cluster: Cluster | undefined;
      try {
        cluster = await startCluster({
          receptions: 2,
          servers: 2,
          capacity: 1,
          databaseUrl: schema.url,
          redisUrl,
          env: { TESSERA_NOTICE_MODE: 'optional', TESSERA_HOLD_S: '6', TESSERA_ORDER_RATE_PER_S: '1000', TESSERA_ORDER_BURST: '1000' },
        });
        const c = cluster;
        const bytes = randomBytes(64 * 1024);
        const path = join(c.dataDir, 'item.bin');
        writeFileSync(path, bytes);
        const item = await c.addFile(path, 'Restart item');
        const before = await post(c.receptionUrl, { contentId: item.id });
        assert.equal(before.status, 201, JSON.stringify(before.body));
        const used = ticketOf(before);
        assert.equal(curl(used.url, join(c.dataDir, 'before.bin')).code, '200');
        await waitFor('the ticket to be used up', async () => (curl(used.url, join(c.dataDir, 'x.bin')).code === '410' ? true : undefined));

        // A ticket replaced (as after its server failed): the reception revokes the old one in
        // the shared ledger. The new one is used, so its slot is free again.
        const placed = await post(c.receptionUrl, { contentId: item.id });
        assert.equal(placed.status, 201, JSON.stringify(placed.body));
        const revoked = ticketOf(placed);
        const replacedAnswer = await fetch(`${c.receptionUrl}/orders/${orderIdOf(placed)}/ticket`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ticket: revoked.url, failedServerId: revoked.serverId }),
        });
        const replacement = (await replacedAnswer.json()) as { ticket: { url: string; serverId: string } };
        assert.equal(replacedAnswer.status, 200, JSON.stringify(replacement));
        assert.notEqual(replacement.ticket.serverId, revoked.serverId);
        assert.equal(curl(replacement.ticket.url, join(c.dataDir, 'replacement.bin')).code, '200');

        // Clients waiting in line across the restart: both slots held by orders nobody fetches
        // (released after TESSERA_HOLD_S), three clients in line.
        const receptionUrl = (i: number): string => `http://127.0.0.1:${(c.topology.receptions[i] as { publicPort: number }).publicPort}`;
        const held = await takeEverySlot(c, item.id, 2);
        const waiters: Answer[] = [];
        for (let i = 0; i < 3; i++) {
          const answer = await post(receptionUrl(i % 2), { contentId: item.id });
          assert.equal(answer.status, 503, JSON.stringify(answer.body));
          assert.equal(answer.body['position'], i + 1);
          waiters.push(answer);
        }

        await kill9(redis);
        redis = await startRedis(port);

        // The emptied line is rebuilt from the database: every waiter keeps its place and is
        // admitted in arrival order, through either reception.
        const admitted = await Promise.all(
          waiters.map(async (first, i) => {
            let answer = first;
            const deadline = Date.now() + 60_000;
            while (answer.status !== 201 && Date.now() < deadline) {
              const token = answer.body['queueToken'];
              answer = await post(receptionUrl((i + 1) % 2), { contentId: item.id, ...(token === undefined ? {} : { queueToken: String(token) }) }, { prefer: 'wait=5' });
              // A 503 without a token is Redis still coming back (unavailable): the client keeps its
              // token and comes back after Retry-After, as the waiting-line contract says.
              if (answer.status !== 201 && answer.body['queueToken'] === undefined) {
                assert.equal(answer.body['code'], 'unavailable', `a waiter lost its place across the Redis restart: ${JSON.stringify(answer.body)}`);
                await new Promise((resolve) => setTimeout(resolve, Number(answer.body['retryAfterS'] ?? 1) * 1000));
                answer = { status: answer.status, body: { ...answer.body, queueToken: token } };
              }
            }
            assert.equal(answer.status, 201, JSON.stringify(answer.body));
            return answer;
          }),
        );
        const seqs = await orderStates(schema.url, admitted.map(orderIdOf));
        assert.ok(admitted.every((a) => seqs.get(orderIdOf(a))?.state === 'ticketed'));
        const pgc = new pg.Client({ connectionString: schema.url });
        await pgc.connect();
        try {
          const { rows } = await pgc.query<{ updated_at: string }>('SELECT updated_at FROM orders WHERE id = ANY($1) ORDER BY queue_seq', [admitted.map(orderIdOf)]);
          for (let i = 1; i < rows.length; i++) assert.ok(Number(rows[i]?.updated_at) >= Number(rows[i - 1]?.updated_at), `waiter ${i + 1} was admitted before waiter ${i}`);
        } finally {
          await pgc.end();
        }
        // The line really was rebuilt from the database (not merely never lost).
        assert.ok(
          ['reception-1', 'reception-2'].some((n) => (c.logs.get(n) ?? []).some((l) => l.includes('shared waiting line rebuilt from the database'))),
          logsOf(c, 'reception-1', 'reception-2'),
        );
        for (const a of [...held, ...admitted]) curl(ticketOf(a).url, join(c.dataDir, 'line.bin'));

        // Service resumes by itself: orders are placed and served again.
        const after = await waitFor(
          'an order to be placed and served after the restart',
          async () => {
            const answer = await post(c.receptionUrl, { contentId: item.id });
            if (answer.status !== 201) return undefined;
            const got = curl(ticketOf(answer).url, join(c.dataDir, 'after.bin'));
            return got.code === '200' ? answer : undefined;
          },
          60_000,
        );
        assert.equal(sha256(readFileSync(join(c.dataDir, 'after.bin'))), sha256(bytes));
        const url = schema.url;
        await waitFor('the order after the restart to be completed', async () => ((await orderStates(url, [orderIdOf(after)])).get(orderIdOf(after))?.state === 'completed' ? true : undefined), 30_000);

        // The used ticket: refused where it was used, and — once its server refilled the
        // emptied ledger — by that server restarted, which only the ledger can tell.
        assert.equal(curl(used.url, join(c.dataDir, 'again.bin')).code, '410');
        await c.restart(used.serverId);
        const code = await waitFor('the restarted server to judge the old ticket', async () => {
          const got = curl(used.url, join(c.dataDir, 'restarted.bin')).code;
          return got === '410' || got === '200' ? got : undefined;
        });
        assert.equal(code, '410', `a ticket used before the Redis restart was served again\n${logsOf(c, used.serverId)}`);

        // The revoked ticket: its server, restarted, knows of the revocation only from the ledger,
        // which the reception that revoked it refilled after the loss.
        if (revoked.serverId !== used.serverId) await c.restart(revoked.serverId);
        const revokedCode = await waitFor('the restarted server to judge the revoked ticket', async () => {
          const got = curl(revoked.url, join(c.dataDir, 'revoked.bin')).code;
          return got === '200' || got.startsWith('4') ? got : undefined;
        });
        assert.notEqual(revokedCode, '200', `a ticket revoked before the Redis restart was served again\n${logsOf(c, 'reception-1', 'reception-2', revoked.serverId)}`);
        assert.ok(
          ['reception-1', 'reception-2'].some((n) => (c.logs.get(n) ?? []).some((l) => l.includes("revoked tickets back in the shared ledger"))),
          logsOf(c, 'reception-1', 'reception-2'),
        );
      } finally {
        await cluster?.stop();
        await kill9(redis);
        await schema.drop();
      }
    });
  });
});

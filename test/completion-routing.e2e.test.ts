import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dropRedisSpace, freshRedisPrefix } from '../src/adapters/redis/testing/redis-test-space.js';
import { startCluster, type Cluster } from './support/cluster.js';
import { nginxForTests } from './support/nginx.js';
import { freshPostgresSchema, REDIS_URL, requirePostgres, requireRedis } from './support/services.js';
import { sha256 } from './support/sha256.js';
import { waitFor } from './support/wait.js';

// Two receptions on one database, one content server that reports only every 20 s
// (TESSERA_REPORT_ON_CHANGE=false). A reception counts a slot taken from its own notice until it
// hears the slot is free; with reports that rare, only the ticket's completion can tell it.
// Otherwise the reception that did not hear it keeps counting the slot for the rest of the
// interval (and turns clients away while slots are free). Real processes, real HTTP.
// - Control over HTTP: the content server sends the completion to the reception that sent the
//   notice (issuedBy).
// - Control over Redis (PostgreSQL and TESSERA_REDIS_URL): one reception records the completion
//   from the stream's consumer group; every reception hears that the slot ended (the stream's
//   watchers, src/ports/control-channel.ts).

const haveNginx = nginxForTests();
const REPORT_INTERVAL_MS = 20_000;
/**
 * Orders placed at each reception. Over Redis the consumer group gives each completion to
 * whichever reception asks first, so with one order each, each might record its own by chance
 * and the test pass without the watchers; with 4 each, all 8 falling to their own reception is
 * unlikely (checked: the Redis case fails every time with the watch switched off).
 */
const ORDERS_EACH = 4;

interface ServerStatus {
  readonly serverId: string;
  readonly slotsCounted: number;
  readonly reportAgeMs: number;
}

async function statusSeenBy(controlPort: number, token: string): Promise<ServerStatus | undefined> {
  const response = await fetch(`http://127.0.0.1:${controlPort}/admin/servers`, { headers: { authorization: `Bearer ${token}` } });
  const { servers } = (await response.json()) as { servers: (ServerStatus & { live: boolean })[] };
  return servers.find((s) => s.serverId === 'cs-1' && s.live);
}

const reportEveryTwentySeconds = { TESSERA_REPORT_INTERVAL_MS: String(REPORT_INTERVAL_MS), TESSERA_REPORT_ON_CHANGE: 'false' };

describe('completions reach the reception that sent the notice, control over HTTP', { skip: !haveNginx }, () => {
  let cluster: Cluster;
  let item: { id: string; sha256: string };

  before(async () => {
    cluster = await startCluster({ receptions: 2, servers: 1, capacity: 8, env: reportEveryTwentySeconds });
    item = await addItem(cluster);
  });
  after(() => cluster?.stop());

  test('an order placed at each reception: each sees its slot free again before the next report', () => orderAtEach(cluster, item));
});

describe('completions reach the reception that sent the notice, control over Redis', { skip: !haveNginx }, () => {
  let cluster: Cluster | undefined;
  let schema: { url: string; drop: () => Promise<void> } | undefined;
  let prefix = '';
  let item: { id: string; sha256: string };

  before(async () => {
    if (!(await requirePostgres()) || !(await requireRedis())) return;
    schema = await freshPostgresSchema();
    prefix = freshRedisPrefix();
    cluster = await startCluster({
      receptions: 2,
      servers: 1,
      capacity: 8,
      databaseUrl: schema.url,
      redisUrl: REDIS_URL,
      env: { ...reportEveryTwentySeconds, TESSERA_REDIS_PREFIX: prefix },
    });
    item = await addItem(cluster);
  });
  after(async () => {
    await cluster?.stop();
    await schema?.drop();
    if (prefix) await dropRedisSpace(REDIS_URL, prefix);
  });

  test('an order placed at each reception: each sees its slot free again before the next report', async (t) => {
    if (!(await requirePostgres(t)) || !(await requireRedis(t)) || !cluster) return;
    await orderAtEach(cluster, item);
  });
});

async function addItem(cluster: Cluster): Promise<{ id: string; sha256: string }> {
  const bytes = randomBytes(64 * 1024);
  const path = join(cluster.dataDir, 'routing.bin');
  writeFileSync(path, bytes);
  const item = await cluster.addFile(path, 'Routing');
  assert.equal(item.sha256, sha256(bytes));
  return item;
}

async function orderAtEach(cluster: Cluster, item: { id: string; sha256: string }): Promise<void> {
  const token = cluster.admin.token;
  const receptions = cluster.topology.receptions.map((r, i) => ({ ...r, name: `reception ${i + 1}` }));
  for (const r of receptions) await waitFor(`cs-1 live at ${r.name}`, () => statusSeenBy(r.controlPort, token), 30_000);
  const placedAt = Date.now();
  await Promise.all(
    receptions.map(async (r) => {
      const urls: string[] = [];
      for (let i = 0; i < ORDERS_EACH; i++) {
        const response = await fetch(`http://127.0.0.1:${r.publicPort}/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ contentId: item.id }),
        });
        assert.equal(response.status, 201, await response.clone().text());
        urls.push(((await response.json()) as { ticket: { url: string } }).ticket.url);
      }
      assert.equal((await statusSeenBy(r.controlPort, token))?.slotsCounted, ORDERS_EACH, r.name);
      for (const url of urls) {
        const download = await fetch(url);
        assert.equal(download.status, 200);
        assert.equal(sha256(Buffer.from(await download.arrayBuffer())), item.sha256);
      }
    }),
  );
  for (const r of receptions) {
    const seen = await waitFor(
      `${r.name} to count the slot free`,
      async () => {
        const status = await statusSeenBy(r.controlPort, token);
        return status?.slotsCounted === 0 ? status : undefined;
      },
      REPORT_INTERVAL_MS,
      50,
    );
    // Learnt from the completion, not from a report: the last report is older than the orders.
    const sincePlaced = Date.now() - placedAt;
    assert.ok(seen.reportAgeMs > sincePlaced, `${r.name}: the last report is ${seen.reportAgeMs} ms old, the orders ${sincePlaced} ms`);
  }
}

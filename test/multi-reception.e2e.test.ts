import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCluster, type Cluster } from './support/cluster.js';
import { nginxForTests } from './support/nginx.js';
import { waitFor } from './support/wait.js';
import { sha256 } from './support/sha256.js';

// Two receptions behind the nginx entry that `tessera up` starts for a topology with several
// receptions, sharing one SQLite database; three content servers report to both. Real
// processes, real nginx, curl for the downloads.

const haveNginx = nginxForTests();

interface Placed {
  order: { id: string; state: string };
  ticket: { url: string; serverId: string };
}

async function order(url: string, contentId: string): Promise<Placed> {
  const response = await fetch(`${url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contentId }) });
  assert.equal(response.status, 201, await response.clone().text());
  return (await response.json()) as Placed;
}

function curlDownload(url: string, file: string): void {
  const result = spawnSync('curl', ['-sS', '-f', '-o', file, url], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
}

async function liveServersSeenBy(controlPort: number, token: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${controlPort}/admin/servers`, { headers: { authorization: `Bearer ${token}` } });
  const { servers } = (await response.json()) as { servers: { live: boolean }[] };
  return servers.filter((s) => s.live).length;
}

describe('several receptions behind the nginx entry', { skip: !haveNginx }, () => {
  let cluster: Cluster;
  let item: { id: string; sha256: string };
  let token: string;

  before(async () => {
    cluster = await startCluster({ receptions: 2, servers: 3, capacity: 4 });
    token = cluster.admin.token;
    const bytes = randomBytes(300_000);
    const path = join(cluster.dataDir, 'two-receptions.bin');
    writeFileSync(path, bytes);
    item = await cluster.addFile(path, 'Two receptions');
    assert.equal(item.sha256, sha256(bytes));
  });
  after(() => cluster?.stop());

  test('every content server reports to both receptions', async () => {
    for (const r of cluster.topology.receptions) {
      await waitFor(`3 live servers seen by the reception on ${r.controlPort}`, async () => ((await liveServersSeenBy(r.controlPort, token)) >= 3 ? true : undefined), 10_000);
      assert.equal(await liveServersSeenBy(r.controlPort, token), 3);
    }
  });

  test('orders through the entry are served whichever reception takes them, and each ends completed in the shared database', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const placed = await order(cluster.receptionUrl, item.id);
      const file = join(cluster.dataDir, `download-${i}.bin`);
      curlDownload(placed.ticket.url, file);
      assert.equal(sha256(readFileSync(file)), item.sha256);
      ids.push(placed.order.id);
    }
    // Any reception reads any order: ask each one directly for every order.
    for (const r of cluster.topology.receptions) {
      for (const id of ids) {
        let state = '';
        await waitFor(
          () => `order ${id} completed as seen by the reception on ${r.publicPort} (it is ${state})`,
          async () => {
            state = ((await (await fetch(`http://127.0.0.1:${r.publicPort}/orders/${id}`)).json()) as { state: string }).state;
            return state === 'completed' ? true : undefined;
          },
          10_000,
        );
      }
    }
  });

  test('with one reception killed (SIGKILL), the entry sends every new order to the other', async () => {
    await cluster.kill('reception-1');
    for (let i = 0; i < 4; i++) {
      const placed = await order(cluster.receptionUrl, item.id);
      const file = join(cluster.dataDir, `after-kill-${i}.bin`);
      curlDownload(placed.ticket.url, file);
      assert.equal(sha256(readFileSync(file)), item.sha256);
    }
    await cluster.restart('reception-1');
    const placed = await order(`http://127.0.0.1:${(cluster.topology.receptions[0] as { publicPort: number }).publicPort}`, item.id);
    assert.ok(placed.ticket.url.startsWith('http://'));
  });
});

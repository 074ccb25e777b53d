import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { startCluster } from './support/cluster.js';
import { freshPostgresSchema, requirePostgres } from './support/services.js';

// The same product on PostgreSQL: TESSERA_DATABASE_URL is the only difference.

test('on PostgreSQL: order, download with curl, order recorded as completed', { timeout: 120_000 }, async (t) => {
  if (!(await requirePostgres(t))) return;
  const schema = await freshPostgresSchema();
  const cluster = await startCluster({ servers: 2, env: { TESSERA_DATABASE_URL: schema.url } });
  try {
    const bytes = randomBytes(512 * 1024);
    const path = join(cluster.dataDir, 'item.bin');
    writeFileSync(path, bytes);
    const content = await cluster.addFile(path, 'Item');
    const response = await fetch(`${cluster.receptionUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contentId: content.id }),
    });
    assert.equal(response.status, 201);
    const placed = (await response.json()) as { order: { id: string }; ticket: { url: string } };
    const out = join(cluster.dataDir, 'out.bin');
    const curl = spawnSync('curl', ['-sS', '-o', out, '-w', '%{http_code}', placed.ticket.url], { encoding: 'utf8' });
    assert.equal(curl.stdout, '200', curl.stderr);
    assert.equal(createHash('sha256').update(readFileSync(out)).digest('hex'), content.sha256);

    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      const deadline = Date.now() + 10_000;
      let state = '';
      while (Date.now() < deadline) {
        const { rows } = await client.query<{ state: string }>('SELECT state FROM orders WHERE id = $1', [placed.order.id]);
        state = rows[0]?.state ?? '';
        if (state === 'completed') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(state, 'completed');
    } finally {
      await client.end();
    }
  } finally {
    await cluster.stop();
    await schema.drop();
  }
});

import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { freePort, startCluster, type Cluster } from './support/cluster.js';
import { waitFor } from './support/wait.js';

// Fault: PostgreSQL stops under a running reception. Orders are refused with 503 problem+json
// `unavailable` and a Retry-After, nothing is half-written, and once PostgreSQL is back orders
// succeed again without restarting the reception.
//
// The machine's own PostgreSQL serves other tests, so this test runs a PostgreSQL 15 instance
// of its own (initdb refuses root, so as the `postgres` user, in a temporary directory it owns,
// on a free loopback port, trust authentication) and stops that one.

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';

interface OwnPostgres {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  remove(): Promise<void>;
}

async function asPostgres(command: string, args: string[]): Promise<void> {
  await run('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args], { timeout: 60_000 });
}

async function ownPostgres(): Promise<OwnPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-pg-fault-'));
  await chmod(dir, 0o700);
  const { stdout } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  const data = join(dir, 'data');
  const port = await freePort();
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']),
    // Immediate: the postmaster and every backend end at once, as in a crash.
    stop: () => asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    async remove() {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly retryAfter: string | null;
  readonly body: Record<string, unknown>;
}

async function order(cluster: Cluster, contentId: string): Promise<Answer> {
  const response = await fetch(`${cluster.receptionUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ contentId }),
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as Record<string, unknown>,
  };
}

interface OrderRow {
  id: string;
  state: string;
  server_id: string | null;
  ticket_id: string | null;
  ticket_not_before: string | null;
  ticket_expires_at: string | null;
}

async function orderRows(url: string): Promise<OrderRow[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<OrderRow>('select id, state, server_id, ticket_id, ticket_not_before, ticket_expires_at from orders')).rows;
  } finally {
    await client.end();
  }
}

/** The invariants of the orders table that no failure may break. */
function assertConsistent(rows: readonly OrderRow[]): void {
  for (const row of rows) {
    const ticketFields = [row.server_id, row.ticket_id, row.ticket_not_before, row.ticket_expires_at];
    if (row.state === 'ticketed' || row.state === 'completed') {
      assert.ok(ticketFields.every((f) => f !== null), `order ${row.id} is ${row.state} without its whole ticket: ${JSON.stringify(row)}`);
    } else if (row.state === 'received' || row.state === 'queued' || row.state === 'rejected') {
      assert.ok(ticketFields.every((f) => f === null), `order ${row.id} is ${row.state} but holds part of a ticket: ${JSON.stringify(row)}`);
    }
  }
}

const available = existsSync(join(BIN, 'initdb')) && existsSync(join(BIN, 'pg_ctl'));

describe('PostgreSQL stopped under a running reception', { timeout: 240_000 }, () => {
  let postgres: OwnPostgres | undefined;
  let cluster: Cluster | undefined;
  let contentId = '';

  before(async () => {
    if (!available) {
      const message = `PostgreSQL 15 binaries are missing in ${BIN}`;
      if (process.env['CI'] === 'true') throw new Error(`${message}; under CI=true this test must run`);
      console.error(`\n!!! SKIPPING: ${message} !!!\n`);
      return;
    }
    postgres = await ownPostgres();
    await postgres.start();
    cluster = await startCluster({
      servers: 2,
      capacity: 100,
      databaseUrl: postgres.url,
      env: { TESSERA_ORDER_RATE_PER_S: '1000', TESSERA_ORDER_BURST: '1000' },
    });
    const source = join(cluster.dataDir, 'item.bin');
    await writeFile(source, randomBytes(64 * 1024));
    contentId = (await cluster.addFile(source, 'Item')).id;
  });
  after(async () => {
    await cluster?.stop();
    await postgres?.remove();
  });

  test('orders get 503 unavailable while it is down, nothing is half-written, and orders succeed when it is back', async (t) => {
    if (!postgres || !cluster) return t.skip('PostgreSQL 15 binaries are missing');
    const c = cluster;
    try {
      await outage(c, postgres, contentId);
    } catch (error) {
      console.error(`--- reception log\n${(c.logs.get('reception') ?? []).slice(-30).join('\n')}`);
      throw error;
    }
  });
});

async function outage(c: Cluster, postgres: OwnPostgres, contentId: string): Promise<void> {
  {
    const accepted = new Map<string, string>();
    const before = await order(c, contentId);
    assert.equal(before.status, 201, JSON.stringify(before.body));
    accepted.set(String((before.body['order'] as { id: string }).id), String((before.body['ticket'] as { serverId: string }).serverId));

    // Stop it in the middle of a burst of orders: each one is either accepted whole (201 with a
    // ticket that the database holds) or refused (503) — never half-written.
    const burst = Array.from({ length: 30 }, () => order(c, contentId));
    await postgres.stop();
    const answers = await Promise.all(burst);
    for (const answer of answers) {
      if (answer.status === 201) {
        accepted.set(String((answer.body['order'] as { id: string }).id), String((answer.body['ticket'] as { serverId: string }).serverId));
      } else {
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
        assert.equal(answer.body['code'], 'unavailable', JSON.stringify(answer.body));
      }
    }

    // Down: every order is refused the same clear way.
    for (let i = 0; i < 5; i++) {
      const answer = await order(c, contentId);
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.match(answer.contentType ?? '', /^application\/problem\+json/);
      assert.equal(answer.body['code'], 'unavailable');
      assert.equal(answer.body['status'], 503);
      assert.match(answer.retryAfter ?? '', /^\d+$/, 'Retry-After says when to try again');
    }
    const health = await fetch(`${c.receptionUrl}/healthz`);
    assert.equal(health.status, 503);
    const status = await fetch(`${c.receptionUrl}/orders/${[...accepted.keys()][0]}`);
    assert.equal(status.status, 503);
    assert.equal(((await status.json()) as { code: string }).code, 'unavailable');

    // Back: the same reception (never restarted) takes orders again.
    await postgres.start();
    const after = await waitForOrder(c, contentId);
    accepted.set(String((after.body['order'] as { id: string }).id), String((after.body['ticket'] as { serverId: string }).serverId));

    const rows = await orderRows(postgres.url);
    assertConsistent(rows);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const [id, serverId] of accepted) {
      const row = byId.get(id);
      assert.ok(row, `accepted order ${id} is not in the database`);
      assert.equal(row.state, 'ticketed', `accepted order ${id}`);
      assert.equal(row.server_id, serverId, `accepted order ${id} names the server its ticket is for`);
    }
    // Orders refused with 503 left at most a `received` row (the order was written, its ticket
    // was not), which holds no ticket and which the sweeper ends as placement-interrupted.
    for (const row of rows) {
      if (!accepted.has(row.id)) assert.ok(row.state === 'received' || row.state === 'rejected', `a refused order is ${row.state}: ${JSON.stringify(row)}`);
    }
    assert.equal((await fetch(`${c.receptionUrl}/healthz`)).status, 200);
  }
}

/** Orders until one is accepted: the pool reconnects on its own, within a deadline. */
async function waitForOrder(cluster: Cluster, contentId: string, timeoutMs = 60_000): Promise<Answer> {
  let last: Answer | undefined;
  return waitFor(
    () => `an order accepted after PostgreSQL came back: ${JSON.stringify(last?.body)}`,
    async () => {
      last = await order(cluster, contentId);
      if (last.status === 201) return last;
      assert.equal(last.status, 503, JSON.stringify(last.body));
      return undefined;
    },
    timeoutMs,
    200,
  );
}

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rotateKeys } from '../src/cli/admin-client.js';
import { CLI, startCluster, type Cluster } from './support/cluster.js';
import { sha256 } from './support/sha256.js';

// The whole product on loopback: a reception and three content servers as real processes,
// driven by curl, the tessera CLI and plain HTTP.

interface Placed {
  order: { id: string; state: string };
  ticket: { url: string; serverId: string; expiresAt: string; maxConnections: number };
  content: { id: string; sha256: string; size: number; fileName: string };
}

async function order(cluster: Cluster, contentId: string): Promise<Placed> {
  const response = await fetch(`${cluster.receptionUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ contentId }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return (await response.json()) as Placed;
}

function curl(args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('curl', ['-sS', ...args], { encoding: 'utf8' });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** GETs a URL with an optional Range, returning status, headers and body; can abort after `abortAfter` bytes. */
function get(url: string, headers: Record<string, string> = {}, abortAfter?: number): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let got = 0;
      res.on('data', (c: Buffer) => {
        if (abortAfter !== undefined && got + c.length >= abortAfter) {
          chunks.push(c.subarray(0, abortAfter - got));
          got = abortAfter;
          req.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          return;
        }
        got += c.length;
        chunks.push(c);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.once('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.end();
  });
}

async function waitForOrderState(cluster: Cluster, orderId: string, state: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const o = (await (await fetch(`${cluster.receptionUrl}/orders/${orderId}`)).json()) as Record<string, unknown>;
    if (o['state'] === state) return o;
    if (Date.now() > deadline) throw new Error(`order ${orderId} is ${String(o['state'])}, not ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('ticketed ordering and delivery, end to end', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let small: { id: string; sha256: string; size: number; fileName: string };
  let big: { id: string; sha256: string; size: number; fileName: string };
  let bigBytes: Buffer;

  before(async () => {
    cluster = await startCluster({ servers: 3, capacity: 8 });
    const smallPath = join(cluster.dataDir, 'hello world.txt');
    writeFileSync(smallPath, 'hello, tessera\n');
    small = await cluster.addFile(smallPath, 'Hello');
    bigBytes = randomBytes(3 * 1024 * 1024 + 17);
    const bigPath = join(cluster.dataDir, 'big.bin');
    writeFileSync(bigPath, bigBytes);
    big = await cluster.addFile(bigPath, 'Big');
  });

  after(async () => {
    await cluster?.stop();
  });

  test('the catalogue lists the items as JSON and as a page with order forms', async () => {
    const json = (await (await fetch(`${cluster.receptionUrl}/contents`)).json()) as { items: { id: string }[] };
    assert.deepEqual(new Set(json.items.map((i) => i.id)), new Set([small.id, big.id]));
    const page = await (await fetch(`${cluster.receptionUrl}/`)).text();
    assert.match(page, new RegExp(`name="contentId" value="${small.id}"`));
    assert.match(page, /<form method="post" action="\/orders">/);
  });

  test('order, then download with curl: same SHA-256, order completed, ticket consumed (410)', async () => {
    const placed = await order(cluster, big.id);
    assert.equal(placed.order.state, 'ticketed');
    assert.match(placed.ticket.url, new RegExp(`/t/[A-Za-z0-9_-]+/${big.id}/big\\.bin$`));
    assert.ok(placed.ticket.url.length < 2048);
    const out = join(cluster.dataDir, 'curl-out.bin');
    const first = curl(['-o', out, '-w', '%{http_code}', placed.ticket.url]);
    assert.equal(first.stdout, '200', first.stderr);
    assert.equal(sha256(readFileSync(out)), big.sha256);
    const done = await waitForOrderState(cluster, placed.order.id, 'completed');
    assert.equal(done['bytesDelivered'], big.size);
    const again = curl(['-o', '/dev/null', '-w', '%{http_code}', placed.ticket.url]);
    assert.equal(again.stdout, '410');
  });

  test('an interrupted download resumes with Range (curl -C -) and completes the order', async () => {
    const placed = await order(cluster, big.id);
    const partial = await get(placed.ticket.url, {}, 1024 * 1024 + 5);
    assert.equal(partial.status, 200);
    const out = join(cluster.dataDir, 'resumed.bin');
    writeFileSync(out, partial.body);
    const resumed = curl(['-C', '-', '-o', out, '-w', '%{http_code}', placed.ticket.url]);
    assert.equal(resumed.stdout, '206', resumed.stderr);
    assert.equal(sha256(readFileSync(out)), big.sha256);
    await waitForOrderState(cluster, placed.order.id, 'completed');
    assert.equal(curl(['-o', '/dev/null', '-w', '%{http_code}', placed.ticket.url]).stdout, '410');
  });

  test('two parallel ranges, then the rest: the ticket is consumed only when every byte is delivered', async () => {
    const placed = await order(cluster, big.id);
    const third = Math.floor(big.size / 3);
    const [a, b] = await Promise.all([
      get(placed.ticket.url, { range: `bytes=0-${third - 1}` }),
      get(placed.ticket.url, { range: `bytes=${third}-${2 * third - 1}` }),
    ]);
    assert.equal(a.status, 206);
    assert.equal(b.status, 206);
    assert.equal(a.headers['content-range'], `bytes 0-${third - 1}/${big.size}`);
    const rest = await get(placed.ticket.url, { range: `bytes=${2 * third}-` });
    assert.equal(rest.status, 206);
    assert.equal(sha256(Buffer.concat([a.body, b.body, rest.body])), big.sha256);
    await waitForOrderState(cluster, placed.order.id, 'completed');
    const replay = await get(placed.ticket.url, { range: 'bytes=0-0' });
    assert.equal(replay.status, 410);
    assert.equal(JSON.parse(replay.body.toString()).code, 'ticket-consumed');
  });

  test('tessera get downloads with the CLI and checks the SHA-256', () => {
    const out = join(cluster.dataDir, 'cli-out.bin');
    const result = spawnSync(process.execPath, [CLI, 'get', big.id, '-o', out, '--reception', cluster.receptionUrl], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(sha256(readFileSync(out)), big.sha256);
    const missing = spawnSync(process.execPath, [CLI, 'get', '00000000-0000-4000-8000-000000000000', '-o', out, '--reception', cluster.receptionUrl], { encoding: 'utf8' });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /content-not-found/);
  });

  test('a browser form gets a 303 to the ticket URL; a cross-site form is refused', async () => {
    const form = await fetch(`${cluster.receptionUrl}/orders`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: `contentId=${small.id}`,
    });
    assert.equal(form.status, 303);
    const location = form.headers.get('location') ?? '';
    assert.match(location, /\/t\/[A-Za-z0-9_-]+\//);
    const fetched = await get(location);
    assert.equal(fetched.body.toString(), 'hello, tessera\n');
    assert.match(String(fetched.headers['content-disposition']), /hello%20world\.txt/);

    const crossSite = await fetch(`${cluster.receptionUrl}/orders`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
      body: `contentId=${small.id}`,
    });
    assert.equal(crossSite.status, 400);
  });

  test('a ticket is refused by every other content server', async () => {
    const placed = await order(cluster, small.id);
    const chosen = cluster.topology.contentServers.find((s) => s.id === placed.ticket.serverId);
    if (!chosen) throw new Error('the chosen server is not in the topology');
    for (const other of cluster.topology.contentServers.filter((s) => s.id !== chosen.id)) {
      const url = placed.ticket.url.replace(`:${chosen.publicPort}/`, `:${other.publicPort}/`);
      const response = await get(url);
      assert.equal(response.status, 403);
      assert.equal(JSON.parse(response.body.toString()).code, 'ticket-wrong-server');
      assert.equal(response.headers['connection'], 'close');
    }
  });

  test('bad input gets problem+json with a stable code and stores nothing', async () => {
    const before = await (await fetch(`${cluster.receptionUrl}/metrics`)).text();
    const cases: [RequestInit, number, string][] = [
      [{ body: JSON.stringify({ contentId: '00000000-0000-4000-8000-000000000000' }) }, 404, 'content-not-found'],
      [{ body: '{"contentId": ' }, 400, 'invalid-json'],
      [{ body: JSON.stringify({ contentId: 'not-a-uuid' }) }, 400, 'invalid-id'],
      [{ body: JSON.stringify({ contentId: small.id, extra: 1 }) }, 400, 'validation-failed'],
      [{ body: JSON.stringify({ contentId: 'x'.repeat(100_000) }) }, 413, 'payload-too-large'],
    ];
    for (const [init, status, code] of cases) {
      const response = await fetch(`${cluster.receptionUrl}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, ...init });
      assert.equal(response.status, status, `${code}: ${await response.clone().text()}`);
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(((await response.json()) as { code: string }).code, code);
    }
    const badOrder = await fetch(`${cluster.receptionUrl}/orders/nope`);
    assert.equal(badOrder.status, 400);
    const after = await (await fetch(`${cluster.receptionUrl}/metrics`)).text();
    const ticketed = (text: string): string | undefined => /tessera_orders_total\{outcome="ticketed"[^}]*\} (\d+)/.exec(text)?.[1];
    assert.equal(ticketed(after), ticketed(before));

    const placed = await order(cluster, small.id);
    const base = placed.ticket.url.slice(0, placed.ticket.url.lastIndexOf(`/${small.id}/`));
    for (const path of [`/${small.id}/..%2F..%2Fsecret.key`, `/${small.id}/a/b`, '/../../etc/passwd', `/${small.id}/%2e%2e`]) {
      const response = await get(base + path);
      assert.ok(response.status === 400 || response.status === 403 || response.status === 404, `${path} → ${response.status}`);
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    }
  });

  test('key rotation: new tickets use the new key, old ones retire after the grace period', async () => {
    const old = await order(cluster, small.id);
    const rotated = await rotateKeys(cluster.admin, 0);
    assert.equal(rotated.status, 200);
    // Content servers pick the new key set up with their next load report.
    await new Promise((r) => setTimeout(r, 1500));
    const refused = await get(old.ticket.url);
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.body.toString()).code, 'ticket-key-retired');
    const fresh = await order(cluster, small.id);
    const ok = await get(fresh.ticket.url);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), 'hello, tessera\n');
  });

  test('no ticket, key or secret ever reaches a log line', async () => {
    const placed = await order(cluster, small.id);
    await get(placed.ticket.url);
    await get(placed.ticket.url + 'x');
    const ticket = placed.ticket.url.split('/t/')[1]?.split('/')[0] ?? '';
    assert.ok(ticket.length > 40);
    const secret = readFileSync(join(cluster.dataDir, 'secret.key'), 'utf8').trim();
    const allLogs = [...cluster.logs.values()].flat().join('\n');
    assert.ok(allLogs.length > 0, 'the servers logged something');
    assert.ok(!allLogs.includes(ticket), 'a ticket reached a log');
    assert.ok(!allLogs.includes(secret), 'the root secret reached a log');
    assert.ok(!allLogs.includes(cluster.admin.token), 'the admin token reached a log');
    assert.ok(!/"secret":"[A-Za-z0-9_-]{20,}"/.test(allLogs), 'a key reached a log');
    assert.ok(!/Bearer [A-Za-z0-9_.-]{20,}/.test(allLogs), 'a control token reached a log');
  });
});

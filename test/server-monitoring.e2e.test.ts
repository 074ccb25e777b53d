import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { ServerStatus, StatusSnapshot } from '../src/core/control/messages.js';
import { nginxForTests } from './support/nginx.js';
import { CLI, startCluster, type Cluster } from './support/cluster.js';
import { waitFor } from './support/wait.js';

// Load monitoring and drains with real processes (R2): a reception and two content servers on
// loopback; servers are killed, restarted, drained and undrained with the tessera CLI while a
// throttled download is in progress. Nothing here asserts on time: a bound is checked by what
// the reception says about each server at every look (health against report age), and waits
// have generous deadlines only so a broken build fails instead of hanging.

const execFileAsync = promisify(execFile);

interface Placed {
  ticket: { url: string; serverId: string };
  content: { sha256: string; size: number };
}

async function status(cluster: Cluster): Promise<StatusSnapshot> {
  const response = await fetch(`${cluster.admin.controlUrl}/admin/servers`, { headers: { authorization: `Bearer ${cluster.admin.token}` } });
  assert.equal(response.status, 200);
  return (await response.json()) as StatusSnapshot;
}

async function server(cluster: Cluster, id: string): Promise<ServerStatus> {
  const s = (await status(cluster)).servers.find((x) => x.serverId === id);
  assert.ok(s, `${id} is listed`);
  return s;
}

/** Polls the status until `done` holds for server `id`; every look must be consistent with the server's bound. */
async function waitForServer(cluster: Cluster, id: string, what: string, done: (s: ServerStatus) => boolean, timeoutMs = 20_000): Promise<ServerStatus> {
  let last: ServerStatus | undefined;
  return waitFor(
    () => `${id} to become ${what}: ${JSON.stringify(last)}`,
    async () => {
      last = await server(cluster, id);
      assertConsistent(last);
      return done(last) ? last : undefined;
    },
    timeoutMs,
    50,
  );
}

/** The bound holds at every look: a server silent past its bound is stale, and only then. */
function assertConsistent(s: ServerStatus): void {
  if (s.reportAgeMs > s.staleAfterMs) assert.equal(s.health, 'stale', `${s.serverId} silent ${s.reportAgeMs} ms > ${s.staleAfterMs} ms must be stale`);
  else assert.notEqual(s.health, 'stale', `${s.serverId} reported ${s.reportAgeMs} ms ago, within ${s.staleAfterMs} ms`);
  assert.equal(s.live, s.health !== 'stale');
}

async function order(cluster: Cluster, contentId: string): Promise<{ status: number; body: Record<string, unknown> & Partial<Placed> }> {
  const response = await fetch(`${cluster.receptionUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ contentId }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & Partial<Placed> };
}

async function ticketOn(cluster: Cluster, contentId: string): Promise<Placed> {
  const answer = await order(cluster, contentId);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body as unknown as Placed;
}

/** Metric value of tessera_notices_refused_total for a server, all reasons together. */
async function noticesRefused(cluster: Cluster, serverId: string): Promise<number> {
  const text = await (await fetch(`${cluster.receptionUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('tessera_notices_refused_total{') && line.includes(`server="${serverId}"`)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/** Starts a download and resolves `started` at its first bytes; `done` gives the SHA-256 and length. */
function download(url: string): { started: Promise<void>; done: Promise<{ status: number; sha256: string; bytes: number }> } {
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const done = new Promise<{ status: number; sha256: string; bytes: number }>((resolve, reject) => {
    const req = request(url, { agent: false });
    req.once('error', reject);
    req.once('response', (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        if (bytes === 0) markStarted();
        bytes += chunk.length;
        hash.update(chunk);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, sha256: hash.digest('hex'), bytes }));
      res.once('error', reject);
    });
    req.end();
  });
  return { started, done };
}

function cliEnv(cluster: Cluster, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, TESSERA_RECEPTION_CONTROL_URL: cluster.admin.controlUrl, TESSERA_ADMIN_TOKEN: cluster.admin.token, ...extra };
}

async function tessera(cluster: Cluster, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], { env: cliEnv(cluster, extra), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('a content server that stops reporting', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let dir: string;
  let contentId: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-monitor-'));
    // Reports every 200 ms, stale after 3 missed ones (600 ms; the floor lowered to let the
    // interval decide). No waiting line: a busy reception answers a plain 503.
    cluster = await startCluster({ servers: 2, capacity: 2, env: { TESSERA_STALE_MIN_MS: '300', TESSERA_QUEUE_MAX: '0', TESSERA_HOLD_S: '120' } });
    const file = join(dir, 'small.bin');
    await writeFile(file, randomBytes(4096));
    contentId = (await cluster.addFile(file, 'Small')).id;
  });

  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('tessera status redraws until interrupted', async () => {
    const child = spawn(process.execPath, [CLI, 'status', '--interval', '0.2'], { env: cliEnv(cluster), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if ((out.match(/^SERVER {2}HEALTH/gm) ?? []).length >= 3) resolve();
      });
    });
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /^cs-1\s+healthy\s/m);
  });

  test('is taken out of selection within three report intervals, and comes back when restarted', async () => {
    const before = await status(cluster);
    for (const s of before.servers) {
      assert.equal(s.reportIntervalMs, 200);
      assert.equal(s.staleAfterMs, 600, 'three missed 200 ms reports');
      assert.equal(s.health, 'healthy');
      assert.ok(s.reportSeq >= 1);
      assertConsistent(s);
    }

    await cluster.kill('cs-2');
    const stale = await waitForServer(cluster, 'cs-2', 'stale', (s) => s.health === 'stale');
    assert.ok(stale.reportAgeMs > stale.staleAfterMs);
    assert.equal(stale.slotsTaken, 0, 'its last report showed free slots');

    // Had the reception picked cs-2, its notice would have failed and been counted as refused.
    const a = await ticketOn(cluster, contentId);
    const b = await ticketOn(cluster, contentId);
    assert.deepEqual([a.ticket.serverId, b.ticket.serverId], ['cs-1', 'cs-1']);
    const busy = await order(cluster, contentId);
    assert.equal(busy.status, 503, 'cs-1 is full and cs-2, free by its last report, is not offered');
    assert.equal(await noticesRefused(cluster, 'cs-2'), 0, 'no notice was ever sent to the silent server');

    await cluster.restart('cs-2');
    const back = await waitForServer(cluster, 'cs-2', 'healthy again', (s) => s.health === 'healthy');
    assert.equal(back.reportSeq >= 1, true);
    const c = await ticketOn(cluster, contentId);
    assert.equal(c.ticket.serverId, 'cs-2', 'cs-1 is full, so a restarted cs-2 takes the order');
  });
});

describe('tessera drain and undrain', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let dir: string;
  let item: { id: string; sha256: string; size: number };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-drain-'));
    // 768 KiB at 192 KiB/s: a download that lasts about 4 s, long enough to drain under it.
    cluster = await startCluster({
      servers: 2,
      capacity: 2,
      env: { TESSERA_QUEUE_MAX: '0', TESSERA_HOLD_S: '120', TESSERA_TRANSFER_RATE_BPS: String(192 * 1024) },
    });
    const file = join(dir, 'slow.bin');
    await writeFile(file, randomBytes(768 * 1024));
    item = await cluster.addFile(file, 'Slow');
  });

  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('refuses unknown and malformed names and a wrong token, with stable codes', async () => {
    const unknown = await tessera(cluster, ['drain', 'cs-9']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no content server 'cs-9'.*known: cs-1, cs-2.*\(server-not-found\)/);
    const bad = await tessera(cluster, ['undrain', 'CS 1!']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /\(invalid-id\)/);
    const token = await tessera(cluster, ['drain', 'cs-1'], { TESSERA_ADMIN_TOKEN: 'not-the-token' });
    assert.equal(token.code, 1);
    assert.match(token.stderr, /\(unauthorized\)/);
    const usage = await tessera(cluster, ['drain']);
    assert.equal(usage.code, 2);
    const nowhere = await tessera(cluster, ['status', '--once'], { TESSERA_RECEPTION_CONTROL_URL: 'http://127.0.0.1:1' });
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /cannot reach the reception's control listener at http:\/\/127\.0\.0\.1:1/);

    const problem = await fetch(`${cluster.admin.controlUrl}/admin/servers/cs-9/drain`, { method: 'PUT', headers: { authorization: `Bearer ${cluster.admin.token}` } });
    assert.equal(problem.status, 404);
    assert.match(problem.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(((await problem.json()) as { code: string }).code, 'server-not-found');
    for (const s of (await status(cluster)).servers) assert.equal(s.drain, null, 'nothing was drained by the refused calls');
  });

  test('a drained server finishes its transfer and gets no new ones; the drain outlives a reception restart; undrain reverses it', async () => {
    const first = await ticketOn(cluster, item.id);
    const x = first.ticket.serverId;
    const y = x === 'cs-1' ? 'cs-2' : 'cs-1';
    const transfer = download(first.ticket.url);
    await transfer.started;

    const drained = await tessera(cluster, ['drain', x]);
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, new RegExp(`^${x} drained: it gets no new tickets and finishes 1 transfer`));
    // `drain --wait` returns once the transfer is over, as an operator about to stop it would use it.
    const waiting = spawn(process.execPath, [CLI, 'drain', x, '--wait'], { env: cliEnv(cluster), stdio: ['ignore', 'pipe', 'pipe'] });
    let waitOut = '';
    waiting.stdout.setEncoding('utf8').on('data', (d: string) => (waitOut += d));
    const waited = new Promise<number>((resolve) => waiting.once('exit', (code) => resolve(code ?? -1)));

    const during = await server(cluster, x);
    assert.equal(during.health, 'draining', JSON.stringify(during));
    assert.equal(during.drain?.by, 'operator');
    assert.ok(during.slotsTaken < during.capacity, 'the drained server still has a free slot');

    const b = await ticketOn(cluster, item.id);
    const c = await ticketOn(cluster, item.id);
    assert.deepEqual([b.ticket.serverId, c.ticket.serverId], [y, y], 'new tickets go to the other server');
    const refused = await order(cluster, item.id);
    assert.equal(refused.status, 503, `${y} is full and ${x}, drained, has a free slot that is not offered`);

    const result = await transfer.done;
    assert.equal(result.status, 200);
    assert.equal(result.bytes, item.size);
    assert.equal(result.sha256, item.sha256, 'the transfer in progress finished intact');
    assert.equal(await waited, 0);
    assert.match(waitOut, new RegExp(`${x} has finished its transfers: it can be stopped now`));

    const done = await waitForServer(cluster, x, 'drained, as the content server itself says', (s) => s.health === 'drained' && s.drain?.acknowledged === true);
    assert.equal(done.activeTransfers, 0);

    const table = await tessera(cluster, ['status', '--once']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^SERVER\s+HEALTH\s+DRAIN\s+LOAD\s+SLOTS\s+ACTIVE\s+THROUGHPUT\s+MEMORY\s+LAST REPORT$/m);
    assert.match(table.stdout, new RegExp(`^${x}\\s+drained\\s+operator \\S+ \\S+ ago\\s+0%\\s+0/2\\s+0\\s`, 'm'));
    assert.match(table.stdout, new RegExp(`^${y}\\s+healthy\\s+-\\s+100%\\s+2/2\\s+0\\s`, 'm'));
    const json = await tessera(cluster, ['status', '--once', '--json']);
    const parsed = JSON.parse(json.stdout) as StatusSnapshot;
    assert.deepEqual(parsed.servers.map((s) => [s.serverId, s.health]).sort(), [[x, 'drained'], [y, 'healthy']].sort());
    assert.doesNotMatch(json.stdout, /controlUrl|token|ticket/i, 'the status carries no control URL, token or ticket');

    await cluster.restart('reception');
    await cluster.waitForServers(2);
    const kept = await waitForServer(cluster, x, 'reported again after the restart', (s) => s.reportSeq > done.reportSeq);
    assert.equal(kept.drain?.by, 'operator', 'the drain was read back from the database');
    assert.equal(kept.health, 'drained');
    assert.equal((await order(cluster, item.id)).status, 503, `still no ticket for ${x} after the restart`);

    const undrained = await tessera(cluster, ['undrain', x]);
    assert.equal(undrained.code, 0, undrained.stderr);
    assert.match(undrained.stdout, new RegExp(`^${x} undrained: it takes new tickets again`));
    assert.match((await tessera(cluster, ['undrain', x])).stdout, /was not drained; nothing changed/);
    await waitForServer(cluster, x, 'healthy', (s) => s.health === 'healthy' && s.drain === null);
    const e = await ticketOn(cluster, item.id);
    assert.equal(e.ticket.serverId, x, `${y} is full, so the undrained ${x} takes the order`);
  });
});

describe('a drain with two receptions on one database', { skip: !nginxForTests(), timeout: 120_000 }, () => {
  let cluster: Cluster;
  let dir: string;
  let contentId: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-drain2-'));
    cluster = await startCluster({ receptions: 2, servers: 2, capacity: 2, env: { TESSERA_QUEUE_MAX: '0', TESSERA_HOLD_S: '120' } });
    const file = join(dir, 'small.bin');
    await writeFile(file, randomBytes(4096));
    contentId = (await cluster.addFile(file, 'Small')).id;
  });

  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('drained through one reception, no ticket for it through the other; undrained through the other, both offer it again', async () => {
    const [one, two] = cluster.topology.receptions.map((r) => ({
      control: { ...cluster, admin: { ...cluster.admin, controlUrl: `http://127.0.0.1:${r.controlPort}` } } as Cluster,
      publicUrl: `http://127.0.0.1:${r.publicPort}`,
    }));
    assert.ok(one && two);
    const drained = await tessera(one.control, ['drain', 'cs-1']);
    assert.equal(drained.code, 0, drained.stderr);
    // The second reception learns it from the shared database (or from cs-1's own report).
    await waitForServer(two.control, 'cs-1', 'drained as the second reception sees it', (s) => s.drain?.by === 'operator' && s.drain.acknowledged);
    const viaTwo = { ...two.control, receptionUrl: two.publicUrl } as Cluster;
    const a = await ticketOn(viaTwo, contentId);
    const b = await ticketOn(viaTwo, contentId);
    assert.deepEqual([a.ticket.serverId, b.ticket.serverId], ['cs-2', 'cs-2']);
    assert.equal((await order(viaTwo, contentId)).status, 503, 'cs-1 has free slots but is drained');

    const undrained = await tessera(two.control, ['undrain', 'cs-1']);
    assert.equal(undrained.code, 0, undrained.stderr);
    await waitForServer(one.control, 'cs-1', 'healthy as the first reception sees it', (s) => s.health === 'healthy');
    await waitForServer(two.control, 'cs-1', 'healthy as the second reception sees it', (s) => s.health === 'healthy');
    const viaOne = { ...one.control, receptionUrl: one.publicUrl } as Cluster;
    assert.equal((await ticketOn(viaOne, contentId)).ticket.serverId, 'cs-1', 'cs-2 is full, so the undrained cs-1 takes the order');
  });
});

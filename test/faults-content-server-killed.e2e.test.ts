import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { fetchContent, ReceptionClient, type FetchEvent } from '../src/client/index.js';
import { CLI, startCluster, type Cluster } from './support/cluster.js';
import { waitFor } from './support/wait.js';
import { sha256 } from './support/sha256.js';

// Fault: a content server is killed (SIGKILL) in the middle of a download. The client cannot
// reach it any more, asks the reception for a replacement ticket for the same order
// (POST /orders/{id}/ticket), gets one on another content server, resumes from its part file,
// and the SHA-256 matches. The old ticket is refused by every content server, the killed one
// included once it is back. Transfers are throttled so the kill lands mid-download.

const run = promisify(execFile);
const RATE_BPS = 384 * 1024;
const SIZE = 3 * 1024 * 1024 + 123;
const WAIT_MS = 60_000;

async function partBytes(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

/** The status curl gets for a ticket path on a content server's public port. */
async function curlStatus(url: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', url]);
  const lines = stdout.split('\n');
  const status = Number(lines.pop());
  return { status, body: lines.join('\n') };
}

function onServer(ticketUrl: string, port: number): string {
  const url = new URL(ticketUrl);
  url.port = String(port);
  return url.toString();
}

describe('a content server killed mid-download', { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let bytes: Buffer;
  let item: { id: string; sha256: string; size: number; fileName: string };

  before(async () => {
    cluster = await startCluster({
      servers: 3,
      capacity: 4,
      serverEnv: () => ({ TESSERA_TRANSFER_RATE_BPS: String(RATE_BPS) }),
    });
    bytes = randomBytes(SIZE);
    const source = join(cluster.dataDir, 'concert.bin');
    await writeFile(source, bytes);
    item = await cluster.addFile(source, 'Concert');
  });
  after(async () => {
    await cluster?.stop();
  });

  test('the client library gets a new ticket on another server, resumes, and the old ticket is refused everywhere', async () => {
    // Keep the ticket URLs the reception hands out (the library never shows them).
    const tickets: { url: string; serverId: string }[] = [];
    const client = new ReceptionClient({
      baseUrl: cluster.receptionUrl,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (response.ok && init?.method === 'POST') {
          const body = (await response.clone().json()) as { ticket: { url: string; serverId: string } };
          tickets.push(body.ticket);
        }
        return response;
      },
    });
    const out = join(cluster.dataDir, 'library-copy.bin');
    const events: FetchEvent[] = [];
    const download = fetchContent(client, item.id, { outputPath: out, maxResumes: 2, backoffMs: 100, onEvent: (e) => events.push(e) });
    download.catch(() => undefined);

    const first = await waitFor('the first ticket', () => tickets[0], WAIT_MS);
    await waitFor('a third of the item downloaded', async () => ((await partBytes(`${out}.part`)) > SIZE / 3 ? true : undefined), WAIT_MS);
    await cluster.kill(first.serverId, 'SIGKILL');
    const result = await download;

    assert.equal(result.sha256, item.sha256);
    assert.equal(sha256(await readFile(out)), sha256(bytes));
    assert.equal(result.orders, 1, 'no second order: the same order got a new ticket');
    assert.equal(result.serverSwitches, 1);
    assert.notEqual(result.serverId, first.serverId);
    const switched = events.find((e) => e.type === 'switching-server');
    assert.ok(switched?.type === 'switching-server' && switched.from === first.serverId && switched.to === result.serverId, JSON.stringify(events));
    assert.ok(switched.atByte > 0, 'resumed from the part file, not from byte 0');
    assert.equal(tickets.length, 2);
    assert.equal(tickets[1]?.serverId, result.serverId);

    // The old ticket: refused by the live servers now, and by the killed one once it is back.
    await cluster.restart(first.serverId);
    for (const server of cluster.topology.contentServers) {
      const answer = await curlStatus(onServer(first.url, server.publicPort));
      assert.ok(answer.status === 403 || answer.status === 410, `${server.id} answered ${answer.status} to the replaced ticket: ${answer.body.slice(0, 200)}`);
      assert.match(answer.body, /"code":"(ticket-[a-z-]+)"/);
    }
    // The new server counted the bytes the client already held (the notice's heldBytes), so the
    // rest of the item used the ticket up and the order ends completed, not expired.
    const state = await waitFor('the order completed after the switch', async () => {
      const order = (await (await fetch(`${cluster.receptionUrl}/orders/${result.orderId}`)).json()) as { state: string; serverId: string };
      return order.state === 'completed' ? order : undefined;
    }, 30_000);
    assert.equal(state.serverId, result.serverId);
    // Nothing is left to resume: the old ticket is not replaced again.
    const again = await fetch(`${cluster.receptionUrl}/orders/${result.orderId}/ticket`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ticket: tickets[0]?.url }),
    });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { code: string }).code, 'order-completed');
    await cluster.waitForServers(3, 30_000);
  });

  test('replacement is refused with a clear code for a foreign, older or malformed ticket, too many replacements, and a completed order', async () => {
    await cluster.waitForServers(3, 30_000);
    const place = async (contentId: string): Promise<{ orderId: string; url: string; serverId: string }> => {
      const response = await fetch(`${cluster.receptionUrl}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contentId }) });
      const body = (await response.json()) as { order: { id: string }; ticket: { url: string; serverId: string } };
      assert.equal(response.status, 201, JSON.stringify(body));
      return { orderId: body.order.id, url: body.ticket.url, serverId: body.ticket.serverId };
    };
    const replace = async (orderId: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown>; type: string | null }> => {
      const response = await fetch(`${cluster.receptionUrl}/orders/${orderId}/ticket`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown>, type: response.headers.get('content-type') };
    };
    const a = await place(item.id);
    const b = await place(item.id);
    const refused = async (orderId: string, body: Record<string, unknown>, status: number, code: string): Promise<void> => {
      const answer = await replace(orderId, body);
      assert.equal(answer.status, status, JSON.stringify(answer.body));
      assert.equal(answer.body['code'], code);
      assert.match(answer.type ?? '', /^application\/problem\+json/);
    };
    await refused(a.orderId, { ticket: b.url }, 403, 'ticket-not-this-order');
    await refused(a.orderId, { ticket: 'not a ticket' }, 403, 'ticket-malformed');
    const ticketPart = new URL(a.url).pathname.split('/')[2] ?? '';
    const at = ticketPart.length - 10; // inside the sealed conditions and tag, clear of the header
    const tampered = ticketPart.slice(0, at) + (ticketPart[at] === 'A' ? 'B' : 'A') + ticketPart.slice(at + 1);
    await refused(a.orderId, { ticket: tampered }, 403, 'ticket-invalid');
    await refused('not-a-uuid', { ticket: a.url }, 400, 'invalid-id');
    await refused(a.orderId, { ticket: a.url, extra: 1 }, 400, 'validation-failed');

    // Three replacements are allowed; each moves the order to the new ticket.
    const tickets = [a.url];
    for (let i = 0; i < 3; i++) {
      const answer = await replace(a.orderId, { ticket: tickets[tickets.length - 1] });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      tickets.push((answer.body['ticket'] as { url: string }).url);
      if (i === 0) {
        // A client whose answer was lost asks again with the ticket just replaced: it gets the
        // same replacement, never another one.
        const replay = await replace(a.orderId, { ticket: tickets[0] });
        assert.equal(replay.status, 200, JSON.stringify(replay.body));
        assert.equal((replay.body['ticket'] as { url: string }).url, tickets[1]);
      }
    }
    await refused(a.orderId, { ticket: tickets[3] }, 409, 'ticket-replacements-exhausted');
    await refused(a.orderId, { ticket: tickets[0] }, 409, 'ticket-superseded');
    // The replaced tickets are dead on their servers: their notices were withdrawn.
    for (const old of tickets.slice(0, 3)) {
      const answer = await curlStatus(old);
      assert.ok(answer.status === 403 || answer.status === 410, `a replaced ticket got ${answer.status}`);
    }

    // A completed order keeps its ticket: there is nothing left to resume.
    const source = join(cluster.dataDir, 'small.bin');
    await writeFile(source, randomBytes(2048));
    const small = await cluster.addFile(source, 'Small');
    const c = await place(small.id);
    assert.equal((await curlStatus(c.url)).status, 200);
    await waitFor('the order completed', async () => {
      const order = (await (await fetch(`${cluster.receptionUrl}/orders/${c.orderId}`)).json()) as { state: string };
      return order.state === 'completed' ? true : undefined;
    }, WAIT_MS);
    await refused(c.orderId, { ticket: c.url }, 409, 'order-completed');

    const openapi = (await (await fetch(`${cluster.receptionUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    assert.ok(openapi.paths['/orders/{id}/ticket']?.['post'], 'the route is in the OpenAPI document');
  });

  test('tessera get says it switches servers and saves the right file', async () => {
    const out = join(cluster.dataDir, 'cli-copy.bin');
    const child = spawn(process.execPath, [CLI, 'get', item.id, '-o', out, '--reception', cluster.receptionUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      const serving = await waitFor('the ordered line', () => /content server (cs-\d+)/.exec(stderr)?.[1], WAIT_MS);
      await waitFor('a third of the item downloaded', async () => ((await partBytes(`${out}.part`)) > SIZE / 3 ? true : undefined), WAIT_MS);
      await cluster.kill(serving, 'SIGKILL');
      const code = await exited;
      assert.equal(code, 0, stderr);
      assert.match(stderr, new RegExp(`content server ${serving} cannot be reached .*; switching to content server cs-\\d+ with a new ticket, resuming at`));
      assert.doesNotMatch(stderr + stdout, /\/t\//, 'the ticket is never printed');
      assert.match(stdout, /sha256 ok/);
      assert.equal(sha256(await readFile(out)), sha256(bytes));
      await cluster.restart(serving);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

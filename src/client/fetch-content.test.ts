import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { fetchContent, type FetchEvent } from './fetch-content.js';
import { ReceptionClient } from './reception-client.js';
import type { Content } from './reception-types.js';
import { ContractReception } from './testing/contract-reception.js';
import { rejectsWithCode } from './testing/rejects-with-code.js';
import { TicketFileServer } from './testing/ticket-file-server.js';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('fetchContent: order, download, verify', () => {
  let files: TicketFileServer;
  let reception: ContractReception;
  let client: ReceptionClient;
  let content: Content;
  let bytes: Buffer;
  let dir: string;
  let out: string;

  before(async () => {
    files = await TicketFileServer.start('cs-3');
    reception = await ContractReception.start(files);
    client = new ReceptionClient({ baseUrl: reception.baseUrl });
    bytes = randomBytes(2 * 1024 * 1024 + 7);
    content = reception.addContent('Test item', 'item.bin', bytes);
  });
  after(async () => {
    await reception.close();
    await files.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-fetch-'));
    out = join(dir, 'item.bin');
    files.requests.length = 0;
    reception.orders.clear();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('orders once and saves the verified file', async () => {
    const events: FetchEvent[] = [];
    const result = await fetchContent(client, content.id, { outputPath: out, onEvent: (e) => events.push(e) });
    assert.equal(result.orders, 1);
    assert.equal(result.serverId, 'cs-3');
    assert.equal(result.sha256, content.sha256);
    assert.deepEqual(await readFile(out), bytes);
    const ordered = events.find((e) => e.type === 'ordered');
    assert.ok(ordered && ordered.type === 'ordered' && ordered.serverId === 'cs-3' && !ordered.reorder);
    assert.doesNotMatch(JSON.stringify(events), /\/t\//, 'no event carries the ticket');
  });

  test('an expired ticket mid-download is replaced by a new order and the part continues', async () => {
    files.script({ kind: 'serve', cutAfter: 900_000 }, { kind: 'refuse', code: 'ticket-expired' });
    const events: FetchEvent[] = [];
    const result = await fetchContent(client, content.id, { outputPath: out, content, backoffMs: 1, onEvent: (e) => events.push(e) });
    assert.equal(result.orders, 2);
    assert.equal(reception.orders.size, 2);
    assert.deepEqual(await readFile(out), bytes);
    assert.deepEqual(files.requests.map((r) => [r.status, r.range]), [[200, undefined], [403, 'bytes=900000-'], [206, 'bytes=900000-']]);
    assert.notEqual(files.requests[2]?.ticket, files.requests[0]?.ticket, 'the resume used the new ticket');
    assert.ok(events.some((e) => e.type === 'reordering' && e.atByte === 900_000));
  });

  test('gives up after maxReorders expired tickets', async () => {
    files.script({ kind: 'refuse', code: 'ticket-expired' }, { kind: 'refuse', code: 'ticket-expired' });
    await rejectsWithCode(fetchContent(client, content.id, { outputPath: out, content, maxReorders: 1 }), 'ticket-expired');
    assert.equal(reception.orders.size, 2);
  });

  test('a consumed ticket is never answered with a second order', async () => {
    files.script({ kind: 'serve', cutAfter: 600_000 }, { kind: 'refuse', code: 'ticket-consumed' });
    const error = await rejectsWithCode(fetchContent(client, content.id, { outputPath: out, content, backoffMs: 1 }), 'ticket-consumed');
    assert.equal(reception.orders.size, 1);
    assert.equal(error.resume?.bytes, 600_000);
    assert.equal(await exists(out), false);
  });

  test('a whole part left by an earlier run is verified without ordering', async () => {
    await writeFile(`${out}.part`, bytes);
    const events: FetchEvent[] = [];
    const result = await fetchContent(client, content.id, { outputPath: out, onEvent: (e) => events.push(e) });
    assert.equal(result.orders, 0);
    assert.equal(result.orderId, undefined);
    assert.equal(reception.orders.size, 0);
    assert.deepEqual(events, [{ type: 'completed-from-part' }]);
    assert.deepEqual(await readFile(out), bytes);
  });

  test('a partial part left by an earlier run is continued under the new ticket', async () => {
    await writeFile(`${out}.part`, bytes.subarray(0, 1_000_000));
    const result = await fetchContent(client, content.id, { outputPath: out });
    assert.equal(result.orders, 1);
    assert.deepEqual(files.requests.map((r) => [r.status, r.range]), [[206, 'bytes=1000000-']]);
    assert.deepEqual(await readFile(out), bytes);
  });

  test('a corrupt whole part is thrown away and the item downloaded afresh', async () => {
    const corrupt = Buffer.from(bytes);
    corrupt[5] = (corrupt[5] ?? 0) ^ 1;
    await writeFile(`${out}.part`, corrupt);
    const result = await fetchContent(client, content.id, { outputPath: out });
    assert.equal(result.orders, 1);
    assert.deepEqual(await readFile(out), bytes);
  });

  test('by default a busy reception is waited out in line; whenBusy fail throws at once', async () => {
    reception.busy = { code: 'all-servers-busy', retryAfterS: 2 };
    try {
      const error = await rejectsWithCode(fetchContent(client, content.id, { outputPath: out, content, whenBusy: 'fail' }), 'all-servers-busy');
      assert.equal(error.retryAfterS, 2);
    } finally {
      reception.busy = undefined;
    }
    reception.scriptOrders({ kind: 'in-line', position: 2 }, { kind: 'in-line', position: 1 });
    const events: FetchEvent[] = [];
    const result = await fetchContent(client, content.id, { outputPath: out, content, onEvent: (e) => events.push(e) });
    assert.deepEqual(events.slice(0, 4).map((e) => e.type), ['waiting', 'waiting', 'admitted', 'ordered']);
    const first = events[0];
    assert.ok(first?.type === 'waiting' && first.orderId === result.orderId, 'the order that waited is the one admitted');
    assert.deepEqual(await readFile(out), bytes);
  });

  test('an unknown item fails before any order', async () => {
    await rejectsWithCode(fetchContent(client, '00000000-0000-4000-8000-000000000000', { outputPath: out }), 'content-not-found');
  });
});

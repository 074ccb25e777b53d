import * as assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ReceptionClient } from './reception-client.js';
import { ContractReception } from './testing/contract-reception.js';
import { rejectsWithCode } from './testing/rejects-with-code.js';
import { TicketFileServer } from './testing/ticket-file-server.js';

describe('ReceptionClient over real HTTP', () => {
  let files: TicketFileServer;
  let reception: ContractReception;
  let client: ReceptionClient;

  before(async () => {
    files = await TicketFileServer.start('cs-2');
    reception = await ContractReception.start(files);
    client = new ReceptionClient({ baseUrl: `${reception.baseUrl}/`, userAgent: 'client-test/1' });
  });
  after(async () => {
    await reception.close();
    await files.close();
  });

  test('lists and reads content items', async () => {
    const a = reception.addContent('A film', 'a.bin', randomBytes(100));
    const b = reception.addContent('A song', 'b.ogg', randomBytes(200));
    const items = await client.listContents();
    assert.deepEqual(
      items.filter((c) => c.id === a.id || c.id === b.id).map((c) => c.title),
      ['A film', 'A song'],
    );
    assert.deepEqual(await client.getContent(b.id), b);
  });

  test('a missing item is content-not-found with the whole problem body', async () => {
    const id = randomUUID();
    const error = await rejectsWithCode(client.getContent(id), 'content-not-found');
    assert.equal(error.status, 404);
    assert.equal(error.title, 'No such content item');
    assert.equal(error.detail, `no content ${id}`);
    assert.equal(error.problem?.['type'], 'https://tessera.invalid/problems/content-not-found');
    assert.equal(error.message, `no content ${id} (content-not-found)`);
  });

  test('an identifier is sent as one path segment, whatever it holds', async () => {
    await rejectsWithCode(client.getContent('../orders/x'), 'invalid-id');
  });

  test('places an order and reads it back', async () => {
    const c = reception.addContent('Ordered', 'o.bin', randomBytes(10));
    const placed = await client.placeOrder(c.id);
    assert.equal(placed.order.state, 'ticketed');
    assert.equal(placed.order.contentId, c.id);
    assert.equal(placed.ticket.serverId, 'cs-2');
    assert.match(placed.ticket.url, /^http:\/\/127\.0\.0\.1:\d+\/t\/[^/]+\/[0-9a-f-]{36}\/o\.bin$/);
    assert.deepEqual(placed.content, c);
    const status = await client.getOrder(placed.order.id);
    assert.equal(status.id, placed.order.id);
    assert.equal(status.serverId, 'cs-2');
    assert.equal(status.bytesDelivered, 0);
    await rejectsWithCode(client.getOrder(randomUUID()), 'order-not-found');
  });

  test('503 carries retryAfterS from the problem body', async () => {
    const c = reception.addContent('Busy', 'busy.bin', randomBytes(10));
    reception.busy = { code: 'all-servers-busy', retryAfterS: 7 };
    try {
      const error = await rejectsWithCode(client.placeOrder(c.id), 'all-servers-busy');
      assert.equal(error.status, 503);
      assert.equal(error.retryAfterS, 7);
    } finally {
      reception.busy = undefined;
    }
  });

  test('an unreachable reception is connection-failed', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const { port } = dead.address() as AddressInfo;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const error = await rejectsWithCode(new ReceptionClient({ baseUrl: `http://127.0.0.1:${port}` }).listContents(), 'connection-failed');
    assert.equal(error.status, 0);
    assert.match(error.message, /ECONNREFUSED/);
  });

  test('answers that break the contract are bad-response, and plain-text errors keep their status', async () => {
    const odd = createServer((req, res) => {
      if (req.url === '/contents') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ items: [{ id: 'x', title: 1 }] }));
      } else {
        res.writeHead(502, { 'content-type': 'text/plain', 'retry-after': '3' });
        res.end('bad gateway');
      }
    });
    await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
    try {
      const oddClient = new ReceptionClient({ baseUrl: `http://127.0.0.1:${(odd.address() as AddressInfo).port}` });
      const bad = await rejectsWithCode(oddClient.listContents(), 'bad-response');
      assert.match(bad.message, /^content list item 0: \w+ is not a string \(bad-response\)$/);
      const gateway = await rejectsWithCode(oddClient.getContent(randomUUID()), 'http-502');
      assert.equal(gateway.status, 502);
      assert.equal(gateway.retryAfterS, 3);
      assert.equal(gateway.problem, undefined);
    } finally {
      await new Promise<void>((resolve) => odd.close(() => resolve()));
    }
  });

  test('a reception that does not answer within timeoutMs is connection-failed; the caller\'s abort stays an abort', async () => {
    const silent = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const slow = new ReceptionClient({ baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` });
      const error = await rejectsWithCode(slow.listContents({ timeoutMs: 200 }), 'connection-failed');
      assert.match(error.message, /did not answer within 0\.2 s/);
      const reason = new Error('stop');
      await assert.rejects(slow.listContents({ timeoutMs: 5000, signal: AbortSignal.abort(reason) }), (e) => e === reason);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test('rejects a base URL that is not http(s) as a caller mistake', () => {
    assert.throws(() => new ReceptionClient({ baseUrl: 'ftp://x' }), TypeError);
    assert.throws(() => new ReceptionClient({ baseUrl: 'localhost:8080' }), TypeError);
  });
});

import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ReceptionPool } from './reception-pool.js';

// Real HTTP servers on loopback stand for the receptions; one address has nothing listening.

interface FakeReception {
  readonly url: string;
  readonly server: Server;
  readonly got: { path: string; body: unknown; authorization: string | undefined }[];
  status: number;
}

async function fakeReception(): Promise<FakeReception> {
  const got: FakeReception['got'] = [];
  const fake = { got, status: 200 } as { got: FakeReception['got']; status: number; url: string; server: Server };
  fake.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')), authorization: req.headers.authorization });
      res.writeHead(fake.status, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  return fake;
}

async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

describe('reception pool', () => {
  let a: FakeReception;
  let b: FakeReception;
  let dead: string;
  before(async () => {
    a = await fakeReception();
    b = await fakeReception();
    dead = await deadUrl();
  });
  after(() => {
    a.server.close();
    b.server.close();
  });

  it('sends a broadcast to every reception, with the token, and reports the one that is down', async () => {
    const pool = new ReceptionPool([a.url, dead, b.url], 'cs-1.token');
    try {
      const answers = await pool.broadcast('/control/load-reports', { seq: 1 }, 2000);
      assert.deepEqual(
        answers.map((x) => [x.url, x.reply?.status, x.error === undefined]),
        [
          [a.url, 200, true],
          [dead, undefined, false],
          [b.url, 200, true],
        ],
      );
      for (const fake of [a, b]) {
        const last = fake.got.at(-1);
        assert.deepEqual(last, { path: '/control/load-reports', body: { seq: 1 }, authorization: 'Bearer cs-1.token' });
      }
    } finally {
      pool.close();
    }
  });

  it('sends a completion to one reception, fails over when it is down or answers 503, and stays with the one that answered', async () => {
    const pool = new ReceptionPool([dead, a.url, b.url], 'cs-1.token');
    try {
      const before = { a: a.got.length, b: b.got.length };
      assert.equal((await pool.postJson('/control/completions', { n: 1 }, 2000)).status, 200);
      assert.equal(a.got.length, before.a + 1);
      assert.equal(b.got.length, before.b);
      a.status = 503;
      assert.equal((await pool.postJson('/control/completions', { n: 2 }, 2000)).status, 200);
      assert.equal(b.got.at(-1)?.body && (b.got.at(-1)?.body as { n: number }).n, 2);
      a.status = 200;
      // b answered last: it is asked first now.
      await pool.postJson('/control/completions', { n: 3 }, 2000);
      assert.equal((b.got.at(-1)?.body as { n: number }).n, 3);
      assert.equal(a.got.length, before.a + 2);
    } finally {
      a.status = 200;
      pool.close();
    }
  });

  it('rejects when no reception can be reached', async () => {
    const pool = new ReceptionPool([dead], 'cs-1.token');
    try {
      await assert.rejects(pool.postJson('/control/completions', {}, 2000));
    } finally {
      pool.close();
    }
  });
});

import * as assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { delay } from './content-test-harness.js';
import { connectionKey, readUnackedBytes, unackedBytesAvailable } from './unacked-bytes.js';

describe('unacknowledged bytes from /proc/net/tcp', { skip: !unackedBytesAvailable && 'no /proc/net/tcp here' }, () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`sees what a peer that stops reading has not acknowledged (${host})`, async (t) => {
      const accepted: Socket[] = [];
      const server = createServer((socket) => accepted.push(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, host, resolve);
        });
      } catch {
        t.skip(`${host} is not available`);
        return;
      }
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const client = createConnection({ host, port });
      await new Promise((resolve) => client.once('connect', resolve));
      client.pause();
      while (accepted.length === 0) await delay(5);
      const socket = accepted[0] as Socket;
      const key = connectionKey(socket);
      assert.ok(key);
      assert.equal(readUnackedBytes(new Set([key])).get(key), 0);
      // Far more than the socket buffers hold: some stays unacknowledged while the peer is paused.
      socket.write(Buffer.alloc(64 * 1024 * 1024));
      await delay(200);
      const stuck = readUnackedBytes(new Set([key])).get(key) ?? 0;
      assert.ok(stuck > 0, `unacknowledged: ${stuck}`);
      client.resume();
      client.on('data', () => undefined);
      const until = Date.now() + 5000;
      while ((readUnackedBytes(new Set([key])).get(key) ?? -1) !== 0 || socket.writableLength > 0) {
        if (Date.now() > until) throw new Error('never fully acknowledged');
        await delay(20);
      }
      client.destroy();
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
  }
});

import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../../test/support/cluster.js';
import { waitFor } from '../../../test/support/wait.js';
import { DOWNLINK_HEADER, UplinkShaper } from './uplink-shaper.js';

// The shaper relays real TCP on loopback. What is checked: the bytes arrive whole and in
// order both ways, a client's downlink header is read, and a client that closes after the
// whole response leaves the server a FIN, not a reset (a reset would make the content server
// keep the slot idle). How fast it sends is measured by the live bench, not asserted here.

describe('uplink shaper', () => {
  const payload = randomBytes(300_000);
  let target: Server;
  let shaper: UplinkShaper;
  let port: number;
  const serverSide: { requests: string[]; ends: number; resets: number } = { requests: [], ends: 0, resets: 0 };

  before(async () => {
    const targetPort = await freePort();
    port = await freePort();
    target = createServer((socket: Socket) => {
      let head = '';
      socket.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) {
          serverSide.requests.push(head);
          head = '';
          socket.write(payload);
        }
      });
      socket.on('end', () => {
        serverSide.ends++;
        socket.end();
      });
      socket.on('error', () => serverSide.resets++);
    });
    await new Promise<void>((r) => target.listen(targetPort, '127.0.0.1', () => r()));
    shaper = new UplinkShaper([{ listenPort: port, targetPort, uplinkBps: 20_000_000 }]);
    await shaper.start();
  });

  after(async () => {
    await shaper.stop();
    await new Promise<void>((r) => target.close(() => r()));
  });

  it('relays the request and the whole response in order, then lets the server see a clean close', async () => {
    const client = createConnection({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let received = 0;
    const done = new Promise<void>((resolve) => {
      client.on('data', (d: Buffer) => {
        chunks.push(d);
        received += d.length;
        if (received >= payload.length) {
          client.end();
          resolve();
        }
      });
    });
    client.write(`GET / HTTP/1.1\r\nhost: x\r\n${DOWNLINK_HEADER}: 5000000\r\n\r\n`);
    await done;
    assert.ok(Buffer.concat(chunks).equals(payload));
    assert.match(serverSide.requests[0] ?? '', new RegExp(`${DOWNLINK_HEADER}: 5000000`));
    await waitFor('the server to see the client side end', () => (serverSide.ends > 0 ? true : undefined));
    assert.equal(serverSide.ends, 1, 'the server saw the client side end');
    assert.equal(serverSide.resets, 0, 'and no reset');
    assert.deepEqual(shaper.sentBytes(), [payload.length]);
  });
});

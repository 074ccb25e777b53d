import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../../bench/harness/net.js';
import { nginxForTests } from '../../../test/support/nginx.js';
import { systemClock } from '../../core/clock.js';
import { NGINX_BINARY } from '../../topology/nginx-entry.js';
import { delay, problemCode, send, sha256, startHarness, type Harness } from './content-test-harness.js';

// Accel mode behind a real nginx: the content server checks the ticket and answers with
// X-Accel-Redirect; nginx serves the bytes from the same store directory and reports what it
// really sent through its access log (syslog over UDP). The nginx configuration written here is
// the one docs/content-server.md shows.

const NGINX = NGINX_BINARY;

function nginxAccelConfig(o: {
  prefix: string;
  listenPort: number;
  contentServer: string;
  storeDir: string;
  accelPrefix: string;
  deliveryLogPort: number | undefined;
}): string {
  const log =
    o.deliveryLogPort === undefined
      ? 'access_log off;'
      : `log_format tessera_delivery 'tessera-delivery $upstream_http_x_tessera_transfer $status $body_bytes_sent "$sent_http_content_range"';
  access_log syslog:server=127.0.0.1:${o.deliveryLogPort},tag=tessera,nohostname tessera_delivery;`;
  return `worker_processes 1;
daemon off;
pid ${o.prefix}/nginx.pid;
error_log ${o.prefix}/error.log warn;
events { worker_connections 256; }
http {
  client_body_temp_path ${o.prefix}/tmp/body;
  proxy_temp_path ${o.prefix}/tmp/proxy;
  fastcgi_temp_path ${o.prefix}/tmp/fastcgi;
  uwsgi_temp_path ${o.prefix}/tmp/uwsgi;
  scgi_temp_path ${o.prefix}/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  # One range per answer, as the content server does: a multi-range request gets the whole item.
  max_ranges 1;
  ${log}
  upstream tessera_content {
    server ${o.contentServer};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${o.listenPort};
    location /t/ {
      proxy_pass http://tessera_content;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Real-IP $remote_addr;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_buffering off;
    }
    location ${o.accelPrefix}/ {
      internal;
      alias ${o.storeDir}/;
      default_type application/octet-stream;
    }
  }
}
`;
}

interface Front {
  readonly url: string;
  readonly process: ChildProcess;
  readonly prefix: string;
}

async function startNginx(h: Harness, deliveryLogPort: number | undefined): Promise<Front> {
  const prefix = await mkdtemp(join(tmpdir(), 'tessera-nginx-'));
  await mkdir(join(prefix, 'tmp'), { recursive: true });
  // nginx workers may run as another user: let them read the store.
  await chmod(h.storeDir, 0o755);
  const listenPort = await freePort();
  const conf = nginxAccelConfig({
    prefix,
    listenPort,
    contentServer: new URL(h.publicUrl).host,
    storeDir: h.storeDir,
    accelPrefix: h.config.accelPrefix,
    deliveryLogPort,
  });
  await writeFile(join(prefix, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${listenPort}`;
  const until = Date.now() + 5000;
  for (;;) {
    try {
      await send(`${url}/nope`);
      break;
    } catch {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`nginx did not start: ${stderr}`);
      await delay(50);
    }
  }
  return { url, process: child, prefix };
}

async function stopNginx(front: Front): Promise<void> {
  if (front.process.exitCode === null) {
    const exited = new Promise((resolve) => front.process.once('exit', resolve));
    front.process.kill('SIGTERM');
    await exited;
  }
  await rm(front.prefix, { recursive: true, force: true });
}

const viaFront = (front: Front, ticketUrl: string): string => front.url + new URL(ticketUrl).pathname;

describe('accel mode behind nginx, with the delivery log', { skip: !nginxForTests() }, () => {
  let h: Harness;
  let front: Front;
  let bytes: Buffer;
  let contentId: string;

  before(async () => {
    h = await startHarness({ clock: systemClock, env: { TESSERA_DELIVERY_MODE: 'accel', TESSERA_ACCEL_LOG_PORT: '0' } });
    front = await startNginx(h, h.server.state.snapshot().accelLogPort);
    bytes = randomBytes(48 * 1024 * 1024);
    contentId = await h.putReplica(bytes, 'film.mp4', 'video/mp4');
  });
  after(async () => {
    await stopNginx(front);
    await h.close();
  });

  it('serves the whole item through nginx, learns it was delivered, and then refuses the ticket', async () => {
    const { url, claims } = await h.issue(contentId);
    const got = await send(viaFront(front, url));
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(bytes));
    assert.equal(got.headers['content-type'], 'video/mp4');
    assert.equal(got.headers['content-disposition'], `attachment; filename="film.mp4"; filename*=UTF-8''film.mp4`);
    assert.equal(got.headers['cache-control'], 'no-store');
    assert.equal(got.headers['x-accel-redirect'], undefined);
    assert.equal(got.headers['x-tessera-transfer'], undefined);
    const completion = await h.reception.waitForCompletion(claims.ticketId);
    assert.equal(completion.outcome, 'completed');
    assert.equal(completion.bytesDelivered, bytes.length);
    const again = await send(viaFront(front, url));
    assert.equal(again.status, 410);
    assert.equal(problemCode(again), 'ticket-consumed');
  });

  it('counts ranges nginx sent, and resumes an aborted download', async () => {
    const { url, claims } = await h.issue(contentId);
    const head = await send(viaFront(front, url), { headers: { range: 'bytes=0-999' } });
    assert.equal(head.status, 206);
    assert.deepEqual(head.body, bytes.subarray(0, 1000));
    const cut = await send(viaFront(front, url), { headers: { range: 'bytes=1000-' }, abortAfter: 2 * 1024 * 1024 });
    assert.equal(cut.status, 206);
    const have = 1000 + cut.body.length;
    // nginx logs the aborted request when it notices; the ticket is still open.
    await delay(300);
    assert.ok(!h.server.state.slots.isConsumed(claims.ticketId));
    const rest = await send(viaFront(front, url), { headers: { range: `bytes=${have}-` } });
    assert.equal(rest.status, 206);
    assert.equal(sha256(Buffer.concat([head.body, cut.body, rest.body])), sha256(bytes));
    assert.equal((await h.reception.waitForCompletion(claims.ticketId)).outcome, 'completed');
    await delay(100);
    assert.equal(h.reception.completions.filter((c) => c.ticketId === claims.ticketId).length, 1);
  });

  it('passes refusals through as problem+json', async () => {
    const { url, ticket } = await h.issue(contentId);
    const tampered = url.replace(ticket, ticket.slice(0, -4) + (ticket.endsWith('AAAA') ? 'BBBB' : 'AAAA'));
    const refused = await send(viaFront(front, tampered));
    assert.equal(refused.status, 403);
    assert.equal(problemCode(refused), 'ticket-invalid');
  });

  it('checks an address-bound ticket against the client nginx saw (X-Real-IP)', async () => {
    const ok = await h.issue(contentId, { client: { mode: 'exact', address: '127.0.0.1' } });
    assert.equal((await send(viaFront(front, ok.url), { headers: { range: 'bytes=0-9' } })).status, 206);
    const other = await h.issue(contentId, { client: { mode: 'exact', address: '192.0.2.1' } });
    assert.equal(problemCode(await send(viaFront(front, other.url))), 'ticket-wrong-client');
  });
});

describe('accel mode behind nginx, without a delivery log', { skip: !nginxForTests() }, () => {
  it('counts the authorised range as delivered when it hands the request to nginx', async () => {
    const h = await startHarness({ clock: systemClock, env: { TESSERA_DELIVERY_MODE: 'accel' } });
    const front = await startNginx(h, undefined);
    try {
      const bytes = randomBytes(100_000);
      const contentId = await h.putReplica(bytes, 'doc.pdf', 'application/pdf');
      const { url, claims } = await h.issue(contentId);
      const part = await send(viaFront(front, url), { headers: { range: 'bytes=0-99' } });
      assert.equal(part.status, 206);
      assert.deepEqual(part.body, bytes.subarray(0, 100));
      const whole = await send(viaFront(front, url));
      assert.equal(sha256(whole.body), sha256(bytes));
      assert.equal((await h.reception.waitForCompletion(claims.ticketId)).outcome, 'completed');
      assert.equal((await send(viaFront(front, url))).status, 410);
      assert.match(await readFile(join(front.prefix, 'error.log'), 'utf8').catch(() => ''), /^(?![\s\S]*\[emerg\])/);
    } finally {
      await stopNginx(front);
      await h.close();
    }
  });
});

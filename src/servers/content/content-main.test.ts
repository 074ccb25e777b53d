import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { freePort } from '../../../bench/harness/net.js';
import { REDIS_URL, requireRedis } from '../../../test/support/services.js';
import { RedisLoadReportBoard } from '../../adapters/redis/redis-load-report-board.js';
import { receptionSeal } from '../../adapters/redis/seal-from-control-token.js';
import { dropRedisSpace, freshRedisPrefix } from '../../adapters/redis/testing/redis-test-space.js';
import { systemClock } from '../../core/clock.js';
import { controlToken } from '../../core/ticket/ticket-keys.js';
import { delay, send, startFakeReception } from './content-test-harness.js';

// `tessera serve content` as a real process: it starts from the environment, reports to the
// reception and gets its keys, and stops cleanly on SIGTERM; a bad setting stops it at start.

const CLI = fileURLToPath(new URL('../../cli/tessera.js', import.meta.url));

function run(env: Record<string, string>): { exit: Promise<number | null>; output: () => string; kill: (signal: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [CLI, 'serve', 'content'], {
    env: { PATH: process.env['PATH'] ?? '', TESSERA_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { exit, output: () => output, kill: (signal) => child.kill(signal) };
}

describe('tessera serve content', () => {
  it('serves, gets its keys from the reception, and stops cleanly on SIGTERM', async () => {
    const root = randomBytes(32);
    const serverId = 'cs-main';
    const reception = await startFakeReception(root, serverId, systemClock);
    const storeDir = await mkdtemp(join(tmpdir(), 'tessera-main-'));
    const [publicPort, controlPort] = [await freePort(), await freePort()];
    const token = controlToken(root, serverId);
    const child = run({
      TESSERA_SERVER_ID: serverId,
      TESSERA_PUBLIC_PORT: String(publicPort),
      TESSERA_CONTROL_PORT: String(controlPort),
      TESSERA_RECEPTION_CONTROL_URL: reception.url,
      TESSERA_CONTROL_TOKEN: token,
      TESSERA_STORE_DIR: storeDir,
    });
    try {
      let health: Record<string, unknown> | undefined;
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        try {
          health = JSON.parse((await send(`http://127.0.0.1:${publicPort}/healthz`)).body.toString()) as Record<string, unknown>;
          if (health['keys'] === 1) break;
        } catch {
          // not listening yet
        }
        await delay(50);
      }
      assert.deepEqual(health, { status: 'ok', serverId, keys: 1 });
      assert.ok(reception.reports.length >= 1);
      assert.equal(reception.reports[0]?.publicUrl, `http://127.0.0.1:${publicPort}`);
      child.kill('SIGTERM');
      assert.equal(await child.exit, 0, child.output());
      assert.ok(reception.reports.some((r) => r.draining), 'the last report says it is draining');
      assert.ok(!child.output().includes(token), 'the token is not logged');
      assert.ok(!child.output().includes(token.slice(token.indexOf('.') + 1)), 'nor its MAC');
    } finally {
      child.kill('SIGKILL');
      await reception.close();
      await rm(storeDir, { recursive: true, force: true });
    }
  });

  it('with Redis and no reception URL, starts and posts its load reports on the board', async (t) => {
    if (!(await requireRedis(t))) return;
    const root = randomBytes(32);
    const serverId = 'cs-redis';
    const prefix = freshRedisPrefix();
    const storeDir = await mkdtemp(join(tmpdir(), 'tessera-main-'));
    const [publicPort, controlPort] = [await freePort(), await freePort()];
    const board = new RedisLoadReportBoard({ url: REDIS_URL, prefix, clock: systemClock, seal: receptionSeal(root) });
    const child = run({
      TESSERA_SERVER_ID: serverId,
      TESSERA_PUBLIC_PORT: String(publicPort),
      TESSERA_CONTROL_PORT: String(controlPort),
      TESSERA_CONTROL_TOKEN: controlToken(root, serverId),
      TESSERA_STORE_DIR: storeDir,
      TESSERA_REDIS_URL: REDIS_URL,
      TESSERA_REDIS_PREFIX: prefix,
    });
    try {
      let posted = await board.get(serverId);
      const until = Date.now() + 10_000;
      while (posted === undefined && Date.now() < until) {
        await delay(50);
        posted = await board.get(serverId);
      }
      assert.equal(posted?.report.publicUrl, `http://127.0.0.1:${publicPort}`, child.output());
      child.kill('SIGTERM');
      assert.equal(await child.exit, 0, child.output());
    } finally {
      child.kill('SIGKILL');
      await board.close();
      await dropRedisSpace(REDIS_URL, prefix);
      await rm(storeDir, { recursive: true, force: true });
    }
  });

  it('refuses to start with a bad setting, naming it', async () => {
    const child = run({
      TESSERA_SERVER_ID: 'cs-main',
      TESSERA_PUBLIC_PORT: 'eighty',
      TESSERA_CONTROL_PORT: '0',
      TESSERA_RECEPTION_CONTROL_URL: 'http://127.0.0.1:1',
      TESSERA_CONTROL_TOKEN: 'cs-main.abcdefghijklmnopqrstuvwxyz',
      TESSERA_STORE_DIR: join(tmpdir(), 'never-created'),
    });
    const code = await child.exit;
    assert.notEqual(code, 0);
    assert.match(child.output(), /TESSERA_PUBLIC_PORT must be an integer 0\.\.65535/);
  });
});

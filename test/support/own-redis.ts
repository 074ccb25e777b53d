import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';

// A redis-server of a test's own, for the cases that kill and restart Redis: the machine's
// shared Redis is not ours to restart (other test files use it at the same time).

export const haveRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

/** True when redis-server is installed; under CI=true its absence fails the test, elsewhere it skips loudly. */
export function requireRedisServer(t: TestContext): boolean {
  if (haveRedisServer) return true;
  const message = 'redis-server is not installed (Debian package redis-server)';
  if (process.env['CI'] === 'true') throw new Error(`${message}; under CI=true this test must run`);
  console.error(`\n!!! SKIPPING: ${message} !!!\n`);
  t.skip(message);
  return false;
}

/**
 * Starts redis-server on `port` and resolves once it answers PING. Without `appendOnlyDir` it
 * keeps nothing (like the machine's); with it, it writes an append-only file there and fsyncs
 * every write, so what it held survives a SIGKILL.
 */
export async function startRedis(port: number, appendOnlyDir?: string): Promise<ChildProcess> {
  const persistence = appendOnlyDir === undefined ? ['--appendonly', 'no'] : ['--dir', appendOnlyDir, '--appendonly', 'yes', '--appendfsync', 'always'];
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 20, maxRetriesPerRequest: null });
  probe.on('error', () => undefined);
  try {
    await probe.connect().catch(() => undefined);
    assert.equal(await probe.ping(), 'PONG');
  } finally {
    probe.disconnect(false);
  }
  return child;
}

export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureRootSecretFile } from '../src/config/secret.js';
import { controlToken } from '../src/core/ticket/ticket-keys.js';
import { freePorts } from '../bench/harness/net.js';
import { CLI } from './support/cluster.js';

// A server that cannot take one of its ports must stop, not linger half-started: it used to
// print the EADDRINUSE and then stay up for ever, its other listener still bound and SIGTERM
// ignored (found by a benchmark's leftover reception that `timeout` could not stop).

/** Holds a port the way another program would. */
function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** True when `port` can be bound again (the server that failed let go of it). */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Runs `tessera serve <role>`; resolves with its exit code and output, or kills it after `boundMs` (a bound, not an expectation). */
function serve(role: 'reception' | 'content', env: Record<string, string>, boundMs = 60_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', role], {
    env: { PATH: process.env['PATH'] ?? '', TESSERA_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

describe('tessera serve, when a port is taken', () => {
  it('a reception whose public port is taken exits 1, saying so, and frees its control port', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-serve-fail-'));
    const [publicPort, controlPort] = (await freePorts(2)) as [number, number];
    const squatter = await occupy(publicPort);
    try {
      ensureRootSecretFile(join(dataDir, 'secret.key'));
      const { code, output } = await serve('reception', {
        TESSERA_DATA_DIR: dataDir,
        TESSERA_PUBLIC_PORT: String(publicPort),
        TESSERA_CONTROL_PORT: String(controlPort),
      });
      assert.equal(code, 1, output);
      assert.match(output, /EADDRINUSE/);
      assert.ok(await isFree(controlPort), 'the control port is let go');
    } finally {
      squatter.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('a content server whose public port is taken exits 1, saying so, and frees its control port', async () => {
    const storeDir = await mkdtemp(join(tmpdir(), 'tessera-serve-fail-'));
    const [publicPort, controlPort, receptionPort] = (await freePorts(3)) as [number, number, number];
    const squatter = await occupy(publicPort);
    try {
      const { code, output } = await serve('content', {
        TESSERA_SERVER_ID: 'cs-taken',
        TESSERA_PUBLIC_PORT: String(publicPort),
        TESSERA_CONTROL_PORT: String(controlPort),
        TESSERA_RECEPTION_CONTROL_URL: `http://127.0.0.1:${receptionPort}`,
        TESSERA_CONTROL_TOKEN: controlToken(randomBytes(32), 'cs-taken'),
        TESSERA_STORE_DIR: storeDir,
      });
      assert.equal(code, 1, output);
      assert.match(output, /EADDRINUSE/);
      assert.ok(await isFree(controlPort), 'the control port is let go');
    } finally {
      squatter.close();
      await rm(storeDir, { recursive: true, force: true });
    }
  });
});

import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureRootSecretFile } from '../src/config/secret.js';
import { controlToken } from '../src/core/ticket/ticket-keys.js';
import { freePorts, holdPort } from '../bench/harness/net.js';
import { CLI } from './support/cluster.js';

// A server that cannot take one of its ports must stop, not linger half-started: it used to
// print the EADDRINUSE and then stay up for ever, its other listener still bound and SIGTERM
// ignored (found by a benchmark's leftover reception that `timeout` could not stop).

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

/**
 * Starts `tessera serve <role>` with its public port held by someone else, and checks that it
 * exits 1 naming EADDRINUSE and lets its control port go.
 */
async function assertStopsOnTakenPublicPort(role: 'reception' | 'content', envOf: (ports: { publicPort: number; controlPort: number; sparePort: number; dir: string }) => Record<string, string>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-serve-fail-'));
  const [publicPort, controlPort, sparePort] = (await freePorts(3)) as [number, number, number];
  const squatter = await holdPort(publicPort);
  assert.ok(squatter, 'the public port could be held');
  try {
    const { code, output } = await serve(role, envOf({ publicPort, controlPort, sparePort, dir }));
    assert.equal(code, 1, output);
    assert.match(output, /EADDRINUSE/);
    const again = await holdPort(controlPort);
    assert.ok(again, 'the control port is let go');
    again.close();
  } finally {
    squatter.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('tessera serve, when a port is taken', () => {
  it('a reception whose public port is taken exits 1, saying so, and frees its control port', () =>
    assertStopsOnTakenPublicPort('reception', ({ publicPort, controlPort, dir }) => {
      ensureRootSecretFile(join(dir, 'secret.key'));
      return { TESSERA_DATA_DIR: dir, TESSERA_PUBLIC_PORT: String(publicPort), TESSERA_CONTROL_PORT: String(controlPort) };
    }));

  it('a content server whose public port is taken exits 1, saying so, and frees its control port', () =>
    assertStopsOnTakenPublicPort('content', ({ publicPort, controlPort, sparePort, dir }) => ({
      TESSERA_SERVER_ID: 'cs-taken',
      TESSERA_PUBLIC_PORT: String(publicPort),
      TESSERA_CONTROL_PORT: String(controlPort),
      // Nobody listens there: the content server starts anyway and retries its reports.
      TESSERA_RECEPTION_CONTROL_URL: `http://127.0.0.1:${sparePort}`,
      TESSERA_CONTROL_TOKEN: controlToken(randomBytes(32), 'cs-taken'),
      TESSERA_STORE_DIR: dir,
    })));
});

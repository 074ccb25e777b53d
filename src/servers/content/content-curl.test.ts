import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sha256, startHarness, type Harness } from './content-test-harness.js';

// The content server against a real client: curl, including `curl -C -` resuming a download
// that was cut off.

interface CurlResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

function curl(args: string[], cwd?: string): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', args, { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      const exitCode = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ exitCode, stdout, stderr });
    });
  });
}

describe('content server with curl', () => {
  let h: Harness;
  let dir: string;
  let bytes: Buffer;
  let contentId: string;

  before(async () => {
    h = await startHarness();
    dir = await mkdtemp(join(tmpdir(), 'tessera-curl-'));
    bytes = randomBytes(6 * 1024 * 1024 + 321);
    contentId = await h.putReplica(bytes, 'release-notes.bin');
  });
  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads the whole item, then gets 410 for the used ticket', async () => {
    const { url, claims } = await h.issue(contentId);
    const out = join(dir, 'whole.bin');
    const first = await curl(['-sS', '-o', out, '-w', '%{http_code}', url]);
    assert.equal(first.exitCode, 0, first.stderr);
    assert.equal(first.stdout, '200');
    assert.equal(sha256(await readFile(out)), sha256(bytes));
    assert.equal((await h.reception.waitForCompletion(claims.ticketId)).outcome, 'completed');
    const again = await curl(['-sS', '-o', join(dir, 'again.json'), '-w', '%{http_code}', url]);
    assert.equal(again.stdout, '410');
    assert.match(await readFile(join(dir, 'again.json'), 'utf8'), /"code":"ticket-consumed"/);
  });

  it('resumes a cut-off download with curl -C - and completes the ticket once', async () => {
    // Larger than the loopback socket buffers, so the server cannot have flushed it all when
    // curl gives up (see "What counts as delivered" in docs/content-server.md).
    const large = randomBytes(48 * 1024 * 1024);
    const largeId = await h.putReplica(large, 'large.bin');
    const { url, claims } = await h.issue(largeId);
    const out = join(dir, 'resumed.bin');
    // Slow and time-limited: curl gives up part way (exit 28) and leaves a partial file.
    const cut = await curl(['-sS', '--limit-rate', '4M', '--max-time', '1', '-o', out, '-w', '%{http_code}', url]);
    assert.equal(cut.exitCode, 28, cut.stderr);
    const partial = (await stat(out)).size;
    assert.ok(partial > 0 && partial < large.length, `partial size ${partial}`);
    const resumed = await curl(['-sS', '-C', '-', '-o', out, '-w', '%{http_code}', url]);
    assert.equal(resumed.exitCode, 0, resumed.stderr);
    assert.equal(resumed.stdout, '206');
    assert.equal(sha256(await readFile(out)), sha256(large));
    await h.reception.waitForCompletion(claims.ticketId);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(h.reception.completions.filter((c) => c.ticketId === claims.ticketId).length, 1);
    const replay = await curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', url]);
    assert.equal(replay.stdout, '410');
  });

  it('names the file from Content-Disposition with curl -OJ and serves a range with curl -r', async () => {
    const { url } = await h.issue(contentId, { fileName: 'ignored-name.bin' });
    const ranged = await curl(['-sS', '-r', '10-19', '-o', join(dir, 'range.bin'), '-w', '%{http_code}', url]);
    assert.equal(ranged.stdout, '206');
    assert.deepEqual(await readFile(join(dir, 'range.bin')), bytes.subarray(10, 20));
    const named = await curl(['-sS', '-O', '-J', '-w', '%{http_code}', url], dir);
    assert.equal(named.stdout, '200', named.stderr);
    assert.equal(sha256(await readFile(join(dir, 'release-notes.bin'))), sha256(bytes));
  });
});

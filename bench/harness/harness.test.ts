import * as assert from 'node:assert/strict';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BEGIN, END, writeResults } from './docs-writer.js';
import { stopAll } from './managed-process.js';
import { freePort, httpCall, LOOPBACK } from './net.js';
import { NGINX, nginxHasSecureLink, startNginx } from './nginx.js';
import { secureLinkPath } from './secure-link.js';
import { runWrk, WRK, writeWrkScript } from './wrk.js';

// The parts of the bench that must be right for its numbers to mean anything: nginx really
// checks the secure links the bench generates, every wrk request really uses a path of its
// own, and a re-run keeps the hand-written analysis around the generated tables. No timing is
// asserted anywhere.

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-test-'));
  dirs.push(dir);
  return dir;
}

after(async () => {
  await stopAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

describe('docs writer', () => {
  it('replaces only the generated block and keeps the text around it', () => {
    const file = join(tempDir(), 'benchmarks.md');
    writeFileSync(file, `# Title\n\nbefore\n\n${BEGIN}\nold table\n${END}\n\nanalysis after\n`);
    writeResults(file, '| new | table |');
    const text = readFileSync(file, 'utf8');
    assert.equal(text, `# Title\n\nbefore\n\n${BEGIN}\n| new | table |\n${END}\n\nanalysis after\n`);
  });

  it('creates the file with a skeleton when it is missing', () => {
    const file = join(tempDir(), 'new.md');
    writeResults(file, 'results');
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^# Benchmarks/);
    assert.ok(text.includes(`${BEGIN}\nresults\n${END}`));
  });
});

describe('nginx secure_link', { skip: !executable(NGINX) || !nginxHasSecureLink() ? 'nginx with secure_link is not installed' : false }, () => {
  it('accepts the links the bench generates and refuses tampered or expired ones', async () => {
    const dir = tempDir();
    // nginx workers may run as an unprivileged user: they must reach the files.
    chmodSync(dir, 0o755);
    const root = join(dir, 'files');
    mkdirSync(root);
    writeFileSync(join(root, 'small.bin'), 'hello, nginx');
    const secret = 'test-secret';
    const nginx = await startNginx({ label: 'nginx-test', dir: join(dir, 'nginx'), port: await freePort(), workers: 1, site: { kind: 'secure-link', root, secret } });
    const base = `http://${LOOPBACK}:${nginx.port}`;
    const future = Math.floor(Date.now() / 1000) + 600;

    const good = await httpCall(base + secureLinkPath('/s/small.bin', future, LOOPBACK, secret));
    assert.equal(good.status, 200);
    assert.equal(good.body.toString(), 'hello, nginx');

    const wrongSecret = await httpCall(base + secureLinkPath('/s/small.bin', future, LOOPBACK, 'other'));
    assert.equal(wrongSecret.status, 403);

    const expired = await httpCall(base + secureLinkPath('/s/small.bin', Math.floor(Date.now() / 1000) - 10, LOOPBACK, secret));
    assert.equal(expired.status, 410);

    await nginx.process.stop();
  });
});

describe('wrk paths script', { skip: !executable(WRK) ? 'wrk is not installed' : false }, () => {
  it('sends every path at most once across threads while paths last', async () => {
    const dir = tempDir();
    const seen = new Map<string, number>();
    const server = createServer((req, res) => {
      const url = req.url ?? '';
      seen.set(url, (seen.get(url) ?? 0) + 1);
      res.writeHead(200, { 'content-length': '2' });
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      // Far more paths than a one-second run can use, so none should repeat.
      const count = 500_000;
      const pathsFile = join(dir, 'paths.txt');
      writeFileSync(pathsFile, `${Array.from({ length: count }, (_, i) => `/p/${i}`).join('\n')}\n`);
      const result = await runWrk({
        script: writeWrkScript(dir),
        baseUrl: `http://${LOOPBACK}:${port}`,
        pathsFile,
        threads: 2,
        connections: 8,
        seconds: 1,
        cpus: undefined,
      });
      assert.ok(result.requests > 0, 'wrk made no request');
      assert.ok(result.requests < count, 'the run used every path: the test cannot tell reuse');
      assert.equal(result.errors, 0);
      const repeated = [...seen.entries()].filter(([path, n]) => path.startsWith('/p/') && n > 1);
      assert.deepEqual(repeated, []);
      assert.ok(seen.size >= result.requests, 'every counted request reached the server on its own path');
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});

import * as assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { completeFromPart, downloadTicket, type DownloadEvent } from './download-ticket.js';
import type { DownloadProgress } from './progress-meter.js';
import { rejectsWithCode } from './testing/rejects-with-code.js';
import { TicketFileServer, type ServedContent } from './testing/ticket-file-server.js';

const SIZE = 3 * 1024 * 1024 + 12345;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('downloadTicket against a real HTTP content server', () => {
  let server: TicketFileServer;
  let content: ServedContent;
  let dir: string;
  let file: string;

  before(async () => {
    server = await TicketFileServer.start('cs-1');
    content = server.addContent(randomUUID(), 'film.bin', randomBytes(SIZE));
  });
  after(async () => {
    await server.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-download-'));
    file = join(dir, 'film.bin');
    server.requests.length = 0;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const expected = () => ({ file, expectedSha256: content.sha256, expectedSize: content.bytes.length, backoffMs: 5 });

  test('downloads the whole file, checks its SHA-256 and renames the part', async () => {
    const { url } = server.issueTicket(content.id);
    const readings: DownloadProgress[] = [];
    const result = await downloadTicket(url, { ...expected(), onProgress: (p) => readings.push(p), progressIntervalMs: 0 });
    assert.equal(result.sha256, content.sha256);
    assert.equal(result.size, SIZE);
    assert.equal(result.resumes, 0);
    assert.equal(result.etag, content.etag);
    assert.deepEqual(await readFile(file), content.bytes);
    assert.equal(await exists(`${file}.part`), false);
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]?.range, undefined);
    const last = readings.at(-1);
    assert.equal(last?.bytesDone, SIZE);
    assert.equal(last?.total, SIZE);
    assert.equal(last?.etaS, 0);
    for (let i = 1; i < readings.length; i += 1) assert.ok((readings[i]?.bytesDone ?? 0) >= (readings[i - 1]?.bytesDone ?? 0));
  });

  test('an empty file is still fetched once and saved', async () => {
    const empty = server.addContent(randomUUID(), 'empty.txt', Buffer.alloc(0));
    const { url } = server.issueTicket(empty.id);
    const result = await downloadTicket(url, { file, expectedSize: 0, expectedSha256: empty.sha256 });
    assert.equal(result.size, 0);
    assert.equal(server.requests.length, 1);
    assert.equal((await readFile(file)).length, 0);
  });

  test('works without knowing size or hash in advance', async () => {
    const { url } = server.issueTicket(content.id);
    const result = await downloadTicket(url, { file });
    assert.equal(result.sha256, content.sha256);
    assert.deepEqual(await readFile(file), content.bytes);
  });

  test('resumes with Range and If-Range after several cut connections', async () => {
    const { url } = server.issueTicket(content.id);
    server.script({ kind: 'serve', cutAfter: 700_000 }, { kind: 'serve', cutAfter: 1 }, { kind: 'serve', cutAfter: 1_000_000 });
    const events: DownloadEvent[] = [];
    const result = await downloadTicket(url, { ...expected(), onEvent: (e) => events.push(e) });
    assert.equal(result.resumes, 3);
    assert.deepEqual(await readFile(file), content.bytes);
    assert.deepEqual(
      server.requests.map((r) => [r.status, r.range, r.ifRange]),
      [
        [200, undefined, undefined],
        [206, 'bytes=700000-', content.etag],
        [206, 'bytes=700001-', content.etag],
        [206, 'bytes=1700001-', content.etag],
      ],
    );
    assert.deepEqual(
      events.map((e) => (e.type === 'resuming' ? e.atByte : e.type)),
      [700_000, 700_001, 1_700_001],
    );
  });

  test('starts over when the server answers a Range request with 200', async () => {
    const { url } = server.issueTicket(content.id);
    server.script({ kind: 'serve', cutAfter: 500_000 }, { kind: 'serve', ignoreRange: true });
    const events: DownloadEvent[] = [];
    const result = await downloadTicket(url, { ...expected(), onEvent: (e) => events.push(e) });
    assert.equal(result.sha256, content.sha256);
    assert.deepEqual(await readFile(file), content.bytes);
    assert.deepEqual(server.requests.map((r) => [r.status, r.range]), [[200, undefined], [200, 'bytes=500000-']]);
    assert.ok(events.some((e) => e.type === 'restarting'));
  });

  test('starts over when If-Range no longer matches (the representation changed)', async () => {
    const { url } = server.issueTicket(content.id);
    server.script({ kind: 'serve', cutAfter: 400_000, etag: '"old-version"' });
    const result = await downloadTicket(url, expected());
    assert.equal(result.sha256, content.sha256);
    assert.deepEqual(server.requests.map((r) => [r.status, r.range, r.ifRange]), [[200, undefined, undefined], [200, 'bytes=400000-', '"old-version"']]);
  });

  test('a corrupt byte fails the SHA-256 check and leaves neither the file nor the part', async () => {
    const { url } = server.issueTicket(content.id);
    server.script({ kind: 'serve', corruptAt: 1_234_567 });
    const error = await rejectsWithCode(downloadTicket(url, expected()), 'sha256-mismatch');
    assert.equal(error.status, 0);
    assert.equal(error.resume, undefined);
    assert.equal(await exists(file), false);
    assert.equal(await exists(`${file}.part`), false);
  });

  test('a size that disagrees with the catalogue is refused before the body is kept', async () => {
    const { url } = server.issueTicket(content.id);
    await rejectsWithCode(downloadTicket(url, { ...expected(), expectedSize: SIZE - 1 }), 'size-mismatch');
    assert.equal(await exists(file), false);
    assert.equal(await exists(`${file}.part`), false);
  });

  test('a 403 problem becomes a TesseraClientError with its code, without retrying', async () => {
    const { url } = server.issueTicket(content.id);
    const forged = url.replace(/\/t\/[^/]+\//, '/t/forged-ticket/');
    const error = await rejectsWithCode(downloadTicket(forged, expected()), 'ticket-invalid');
    assert.equal(error.status, 403);
    assert.equal(error.problem?.['code'], 'ticket-invalid');
    assert.equal(error.title, 'The permission ticket failed authentication');
    assert.equal(server.requests.length, 1);
    assert.doesNotMatch(error.message, /forged-ticket|\/t\//, 'the ticket never appears in an error message');
    assert.equal(error.resume?.bytes, 0);
  });

  test('410 on a resume is thrown with the part kept and its resume state', async () => {
    const { url } = server.issueTicket(content.id);
    server.script({ kind: 'serve', cutAfter: 300_000 }, { kind: 'refuse', code: 'ticket-consumed' });
    const error = await rejectsWithCode(downloadTicket(url, expected()), 'ticket-consumed');
    assert.equal(error.status, 410);
    assert.deepEqual(error.resume, { partFile: `${file}.part`, bytes: 300_000, etag: content.etag });
    assert.deepEqual(await readFile(`${file}.part`), content.bytes.subarray(0, 300_000));
    assert.equal(await exists(file), false);
  });

  test('after ticket-expired, a fresh ticket continues from the same part (resumeFrom)', async () => {
    const first = server.issueTicket(content.id);
    server.script({ kind: 'serve', cutAfter: 1_100_000 });
    // Let the cut land, then the ticket's window closes before the resume.
    const events: DownloadEvent[] = [];
    const onEvent = (e: DownloadEvent): void => {
      events.push(e);
      if (e.type === 'resuming') server.expireTicket(first.ticket);
    };
    const error = await rejectsWithCode(downloadTicket(first.url, { ...expected(), onEvent }), 'ticket-expired');
    assert.equal(error.status, 403);
    const resume = error.resume;
    if (resume === undefined) assert.fail('a download error carries its resume state');
    assert.equal(resume.bytes, 1_100_000);

    const second = server.issueTicket(content.id);
    server.requests.length = 0;
    const result = await downloadTicket(second.url, { ...expected(), resumeFrom: resume });
    assert.equal(result.sha256, content.sha256, 'the hash covers the bytes fetched under the first ticket too');
    assert.deepEqual(await readFile(file), content.bytes);
    assert.deepEqual(server.requests.map((r) => [r.ticket, r.status, r.range, r.ifRange]), [[second.ticket, 206, 'bytes=1100000-', content.etag]]);
  });

  test("resumeFrom 'existing-part' continues a part left by an earlier process", async () => {
    await writeFile(`${file}.part`, content.bytes.subarray(0, 2_000_000));
    const { url } = server.issueTicket(content.id);
    const events: DownloadEvent[] = [];
    const result = await downloadTicket(url, { ...expected(), resumeFrom: 'existing-part', onEvent: (e) => events.push(e) });
    assert.equal(result.sha256, content.sha256);
    assert.deepEqual(events[0], { type: 'continuing-part', bytes: 2_000_000 });
    assert.deepEqual(server.requests.map((r) => [r.status, r.range, r.ifRange]), [[206, 'bytes=2000000-', undefined]]);
  });

  test("an 'existing-part' that is already whole is answered 416 and only verified", async () => {
    await writeFile(`${file}.part`, content.bytes);
    const { url } = server.issueTicket(content.id);
    // No expected size: the client must ask, and learns from 416 that it has everything.
    const result = await downloadTicket(url, { file, expectedSha256: content.sha256, resumeFrom: 'existing-part' });
    assert.equal(result.size, SIZE);
    assert.deepEqual(server.requests.map((r) => [r.status, r.range]), [[416, `bytes=${SIZE}-`]]);
    assert.deepEqual(await readFile(file), content.bytes);
  });

  test('a part longer than the file is dropped and the download starts over', async () => {
    await writeFile(`${file}.part`, Buffer.concat([content.bytes, Buffer.from('junk')]));
    const { url } = server.issueTicket(content.id);
    const result = await downloadTicket(url, { file, expectedSha256: content.sha256, resumeFrom: 'existing-part', backoffMs: 5 });
    assert.equal(result.sha256, content.sha256);
    assert.deepEqual(server.requests.map((r) => r.status), [416, 200]);
  });

  test('429 (a stale connection still counted) is retried after its Retry-After', async () => {
    const { url } = server.issueTicket(content.id);
    server.script({ kind: 'serve', cutAfter: 100_000 }, { kind: 'refuse', code: 'ticket-too-many-connections', retryAfterS: 0 });
    const result = await downloadTicket(url, expected());
    assert.equal(result.sha256, content.sha256);
    assert.deepEqual(server.requests.map((r) => r.status), [200, 429, 206]);
  });

  test('429 with no retries left is thrown with its code', async () => {
    const { url } = server.issueTicket(content.id);
    server.script({ kind: 'refuse', code: 'ticket-too-many-connections', retryAfterS: 1 });
    const error = await rejectsWithCode(downloadTicket(url, { ...expected(), maxResumes: 0 }), 'ticket-too-many-connections');
    assert.equal(error.status, 429);
    assert.equal(error.retryAfterS, 1);
  });

  test('gives up after maxResumes fruitless attempts in a row, keeping the part', async () => {
    const { url } = server.issueTicket(content.id);
    server.script({ kind: 'serve', cutAfter: 50_000 }, { kind: 'hang-up' }, { kind: 'hang-up' }, { kind: 'hang-up' });
    const error = await rejectsWithCode(downloadTicket(url, { ...expected(), maxResumes: 2 }), 'connection-failed');
    assert.equal(server.requests.length, 4);
    assert.equal(error.resume?.bytes, 50_000);
    assert.equal((await stat(`${file}.part`)).size, 50_000);
  });

  test('an unreachable content server is a connection-failed error', async () => {
    const closed = await TicketFileServer.start();
    const { url } = (closed.addContent(content.id, 'x.bin', Buffer.from('x')), closed.issueTicket(content.id));
    await closed.close();
    await rejectsWithCode(downloadTicket(url, { file, maxResumes: 1, backoffMs: 1 }), 'connection-failed');
  });

  test('abort stops the download, keeps the part and rejects with the abort reason', async () => {
    const { url } = server.issueTicket(content.id);
    const controller = new AbortController();
    let aborted = false;
    const promise = downloadTicket(url, {
      ...expected(),
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: (p) => {
        if (!aborted && p.bytesDone > 0) {
          aborted = true;
          controller.abort(new Error('user pressed ^C'));
        }
      },
    });
    await assert.rejects(promise, /user pressed \^C/);
    assert.equal(await exists(file), false);
    assert.ok(await exists(`${file}.part`));
  });

  test('completeFromPart verifies a whole part without any request', async () => {
    await writeFile(`${file}.part`, content.bytes);
    const result = await completeFromPart({ file, expectedSize: SIZE, expectedSha256: content.sha256 });
    assert.equal(result?.sha256, content.sha256);
    assert.deepEqual(await readFile(file), content.bytes);
    assert.equal(await completeFromPart({ file: join(dir, 'none'), expectedSize: 1, expectedSha256: content.sha256 }), undefined);
  });
});

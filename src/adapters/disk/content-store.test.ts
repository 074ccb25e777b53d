import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { TesseraError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { DiskContentStore } from './content-store.js';

function expectedFor(bytes: Buffer, fileName = 'a.bin', mimeType = 'application/octet-stream') {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, fileName, mimeType };
}

function chunks(bytes: Buffer, size = 7000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof TesseraError && error.code === code);
}

describe('DiskContentStore', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-store-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('stores verified bytes and metadata, and finds them again after reopening', async () => {
    const store = await DiskContentStore.open(join(dir, 'one'));
    const bytes = randomBytes(100_000);
    const id = newId();
    const { item, created } = await store.put(id, chunks(bytes), expectedFor(bytes, 'Ünïcode name.bin', 'video/mp4'));
    assert.equal(created, true);
    assert.deepEqual(await readFile(item.path), bytes);
    assert.equal(item.etag, `"${item.sha256}"`);
    const again = await DiskContentStore.open(join(dir, 'one'));
    assert.deepEqual(again.get(id), item);
    assert.deepEqual((await readdir(join(dir, 'one'))).sort(), [id, `${id}.json`].sort());
  });

  it('refuses a wrong hash, a short or long body, and leaves nothing behind', async () => {
    const store = await DiskContentStore.open(join(dir, 'two'));
    const bytes = randomBytes(5000);
    const id = newId();
    const flipped = Buffer.from(bytes);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    await rejectsWith(store.put(id, chunks(flipped), expectedFor(bytes)), 'ingest-failed');
    await rejectsWith(store.put(id, chunks(bytes.subarray(1)), expectedFor(bytes)), 'ingest-failed');
    await rejectsWith(store.put(id, chunks(Buffer.concat([bytes, Buffer.from('x')])), expectedFor(bytes)), 'ingest-failed');
    await rejectsWith(store.put('../etc', chunks(bytes), expectedFor(bytes)), 'invalid-id');
    await rejectsWith(store.put(id, chunks(bytes), { ...expectedFor(bytes), fileName: '../x' }), 'validation-failed');
    await rejectsWith(store.put(id, chunks(bytes), { ...expectedFor(bytes), mimeType: 'text/plain\r\nx: y' }), 'validation-failed');
    await rejectsWith(store.put(id, chunks(bytes), { ...expectedFor(bytes), sha256: 'ABC' }), 'validation-failed');
    assert.equal(store.get(id), undefined);
    assert.deepEqual(await readdir(join(dir, 'two')), []);
  });

  it('accepts the same bytes again without rewriting them, and refuses different ones', async () => {
    const store = await DiskContentStore.open(join(dir, 'three'));
    const bytes = randomBytes(1000);
    const id = newId();
    await store.put(id, chunks(bytes), expectedFor(bytes));
    const same = await store.put(id, chunks(bytes), expectedFor(bytes));
    assert.equal(same.created, false);
    const renamed = await store.put(id, chunks(bytes), expectedFor(bytes, 'b.bin', 'text/plain'));
    assert.equal(renamed.created, false);
    assert.equal(renamed.item.fileName, 'b.bin');
    assert.equal((await DiskContentStore.open(join(dir, 'three'))).get(id)?.mimeType, 'text/plain');
    const other = randomBytes(1000);
    await rejectsWith(store.put(id, chunks(other), expectedFor(other)), 'ingest-failed');
    // Two puts of one ID at once: both land on the same item.
    const fresh = newId();
    const results = await Promise.all([store.put(fresh, chunks(bytes), expectedFor(bytes)), store.put(fresh, chunks(bytes), expectedFor(bytes))]);
    assert.deepEqual(results.map((r) => r.created).sort(), [false, true]);
  });

  it('cleans up interrupted writes and skips damaged metadata at open', async () => {
    const path = join(dir, 'four');
    const store = await DiskContentStore.open(path);
    const bytes = randomBytes(300);
    const good = newId();
    await store.put(good, chunks(bytes), expectedFor(bytes));
    const orphan = newId();
    const damaged = newId();
    await writeFile(join(path, '.tmp-leftover'), 'x');
    await writeFile(join(path, orphan), 'bytes without metadata');
    await writeFile(join(path, damaged), 'abc');
    await writeFile(join(path, `${damaged}.json`), JSON.stringify({ ...expectedFor(Buffer.from('abcd')), contentId: damaged }));
    const skipped: string[] = [];
    const reopened = await DiskContentStore.open(path, { onSkipped: (file) => skipped.push(file) });
    assert.deepEqual(reopened.list().map((i) => i.contentId), [good]);
    assert.deepEqual(skipped, [`${damaged}.json`]);
    const names = await readdir(path);
    assert.ok(!names.includes('.tmp-leftover'));
    assert.ok(!names.includes(orphan));
  });
});

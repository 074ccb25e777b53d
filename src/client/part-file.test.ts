import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { test } from 'node:test';
import { PartFile } from './part-file.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

test('counts every accepted byte exactly once while batches are written behind it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-part-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(5 * 1024 * 1024 + 99);
  const part = await PartFile.create(join(dir, 'a.part'));
  try {
    let accepted = 0;
    for (let at = 0; at < data.length; at += 65_536) {
      const chunk = data.subarray(at, Math.min(data.length, at + 65_536));
      await part.append(chunk);
      accepted += chunk.length;
      assert.equal(part.bytesAccepted, accepted);
      // Let a write in flight complete between chunks, as a slow network would.
      await tick();
      assert.equal(part.bytesAccepted, accepted);
      assert.ok(part.bytes <= accepted);
    }
    assert.equal(await part.finish(), sha256(data));
    assert.equal(part.bytes, data.length);
  } finally {
    await part.close();
  }
  assert.deepEqual(await readFile(join(dir, 'a.part')), data);
});

test('reopen keeps at most the bytes asked for and re-hashes them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-part-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(3 * 1024 * 1024);
  const path = join(dir, 'b.part');
  await writeFile(path, data);
  const part = await PartFile.reopen(path, 2_000_000);
  try {
    assert.equal(part.bytes, 2_000_000);
    await part.append(data.subarray(2_000_000));
    assert.equal(await part.finish(), sha256(data));
  } finally {
    await part.close();
  }
  const missing = await PartFile.reopen(join(dir, 'none.part'), undefined);
  assert.equal(missing.bytes, 0);
  await missing.close();
});

test('restart drops everything, including a batch being written', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-part-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const part = await PartFile.create(join(dir, 'c.part'));
  try {
    await part.append(randomBytes(1024 * 1024 + 1));
    await part.append(Buffer.from('x'));
    await part.restart();
    assert.equal(part.bytesAccepted, 0);
    await part.append(Buffer.from('fresh'));
    assert.equal(await part.finish(), sha256(Buffer.from('fresh')));
  } finally {
    await part.close();
  }
  assert.equal(await readFile(join(dir, 'c.part'), 'utf8'), 'fresh');
});

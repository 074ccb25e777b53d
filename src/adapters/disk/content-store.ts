import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError } from '../../core/errors.js';
import { isUuid } from '../../core/ids.js';
import type { ContentStore, ExpectedContent, PutResult, StoredContent } from '../../ports/content-store.js';

// One directory per content server. Each item is two files:
//   <contentId>        the bytes, exactly (nginx accel mode serves this file directly)
//   <contentId>.json   { contentId, fileName, mimeType, size, sha256, etag, storedAt }
// A replica is written to a temporary file, hashed while it is written, fsynced, checked
// against the claimed size and SHA-256, and only then renamed into place, bytes first and
// metadata second: an item exists once its metadata does, so a crash at any point leaves
// either the old state or the new one (plus litter that the next open removes).

const SHA256_HEX = /^[0-9a-f]{64}$/;
// RFC 9110 media type with optional parameters; it ends up in a header, so no CR/LF can pass.
const MEDIA_TYPE =
  /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}(?:[ \t]*;[ \t]*[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|"[^"\\\r\n]*"))*$/;
const FILE_NAME = /^[^/\\\0\r\n]{1,255}$/;
const TEMP_PREFIX = '.tmp-';

export interface DiskContentStoreOptions {
  /** Called for every file the store could not load at open; the store skips it. */
  readonly onSkipped?: (file: string, reason: string) => void;
}

export class DiskContentStore implements ContentStore {
  readonly dir: string;
  readonly #items = new Map<string, StoredContent>();
  readonly #commits = new Map<string, Promise<unknown>>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens (creating if needed) a store directory and loads its index. */
  static async open(dir: string, options: DiskContentStoreOptions = {}): Promise<DiskContentStore> {
    await mkdir(dir, { recursive: true });
    const store = new DiskContentStore(dir);
    await store.#load(options.onSkipped ?? (() => undefined));
    return store;
  }

  get(contentId: string): StoredContent | undefined {
    return this.#items.get(contentId);
  }

  list(): readonly StoredContent[] {
    return [...this.#items.values()];
  }

  async put(contentId: string, body: AsyncIterable<Uint8Array>, expected: ExpectedContent): Promise<PutResult> {
    if (!isUuid(contentId)) throw new TesseraError('invalid-id', 'content id is not a lowercase UUID');
    checkExpected(expected);
    const held = this.#items.get(contentId);
    if (held && held.sha256 !== expected.sha256) {
      throw new TesseraError('ingest-failed', 'a different item is already held under this content id');
    }
    const temp = join(this.dir, `${TEMP_PREFIX}${contentId}-${randomBytes(6).toString('hex')}`);
    let committed = false;
    try {
      await writeVerified(temp, body, expected);
      const result = await this.#serialized(contentId, () => this.#commit(contentId, temp, expected));
      committed = true;
      return result;
    } finally {
      if (!committed) await rm(temp, { force: true });
    }
  }

  // Commits for one content ID run one after another, so the check of what is held and the
  // renames that change it cannot interleave with another put of the same ID.
  async #serialized<T>(contentId: string, task: () => Promise<T>): Promise<T> {
    const before = this.#commits.get(contentId) ?? Promise.resolve();
    const run = before.then(task, task);
    const settled = run.catch(() => undefined);
    this.#commits.set(contentId, settled);
    try {
      return await run;
    } finally {
      if (this.#commits.get(contentId) === settled) this.#commits.delete(contentId);
    }
  }

  async #commit(contentId: string, temp: string, expected: ExpectedContent): Promise<PutResult> {
    const held = this.#items.get(contentId);
    if (held && held.sha256 !== expected.sha256) {
      throw new TesseraError('ingest-failed', 'a different item is already held under this content id');
    }
    const item: StoredContent = {
      contentId,
      fileName: expected.fileName,
      mimeType: expected.mimeType,
      size: expected.size,
      sha256: expected.sha256,
      etag: `"${expected.sha256}"`,
      path: join(this.dir, contentId),
    };
    if (held) {
      // Same bytes: keep the file, refresh the metadata if it changed.
      await rm(temp, { force: true });
      if (held.fileName !== item.fileName || held.mimeType !== item.mimeType) {
        await this.#writeMetadata(item);
        this.#items.set(contentId, item);
        return { item, created: false };
      }
      return { item: held, created: false };
    }
    await rename(temp, item.path);
    await this.#writeMetadata(item);
    this.#items.set(contentId, item);
    return { item, created: true };
  }

  async #writeMetadata(item: StoredContent): Promise<void> {
    const temp = join(this.dir, `${TEMP_PREFIX}${item.contentId}-${randomBytes(6).toString('hex')}.json`);
    const { path: _path, ...rest } = item;
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(JSON.stringify({ ...rest, storedAt: new Date().toISOString() }) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(this.dir, `${item.contentId}.json`));
    await syncDirectory(this.dir);
  }

  async #load(onSkipped: (file: string, reason: string) => void): Promise<void> {
    const names = await readdir(this.dir);
    const present = new Set(names);
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) {
        await rm(join(this.dir, name), { force: true });
        continue;
      }
      if (isContentId(name)) {
        // Bytes whose metadata never landed: an interrupted put.
        if (!present.has(`${name}.json`)) await rm(join(this.dir, name), { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const contentId = name.slice(0, -'.json'.length);
      if (!isContentId(contentId)) {
        onSkipped(name, 'not a content metadata file');
        continue;
      }
      try {
        const item = parseMetadata(contentId, await readFile(join(this.dir, name), 'utf8'), join(this.dir, contentId));
        const info = await stat(item.path);
        if (!info.isFile() || info.size !== item.size) throw new Error(`bytes file has ${info.size} bytes, metadata says ${item.size}`);
        this.#items.set(contentId, item);
      } catch (error) {
        onSkipped(name, error instanceof Error ? error.message : String(error));
      }
    }
  }
}

function checkExpected(expected: ExpectedContent): void {
  if (!SHA256_HEX.test(expected.sha256)) throw new TesseraError('validation-failed', 'sha256 must be 64 lowercase hex digits');
  if (!Number.isSafeInteger(expected.size) || expected.size < 0) throw new TesseraError('validation-failed', 'size must be a non-negative integer');
  if (!isPlainFileName(expected.fileName)) throw new TesseraError('validation-failed', 'file name must be a plain name');
  if (!MEDIA_TYPE.test(expected.mimeType)) throw new TesseraError('validation-failed', 'mime type is not a media type');
}

// A boolean rather than a type guard: names are already strings, and a guard would narrow the
// other branch to never.
function isContentId(name: string): boolean {
  return isUuid(name);
}

export function isPlainFileName(name: string): boolean {
  return FILE_NAME.test(name) && name !== '.' && name !== '..';
}

async function writeVerified(temp: string, body: AsyncIterable<Uint8Array>, expected: ExpectedContent): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const handle = await open(temp, 'wx');
  try {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > expected.size) throw new TesseraError('ingest-failed', `more than the declared ${expected.size} bytes`);
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (size !== expected.size) throw new TesseraError('ingest-failed', `received ${size} bytes, declared ${expected.size}`);
  const sha256 = hash.digest('hex');
  if (sha256 !== expected.sha256) throw new TesseraError('ingest-failed', 'SHA-256 of the received bytes does not match');
}

function parseMetadata(contentId: string, text: string, path: string): StoredContent {
  const raw: unknown = JSON.parse(text);
  if (typeof raw !== 'object' || raw === null) throw new Error('metadata is not an object');
  const record = raw as Record<string, unknown>;
  const { fileName, mimeType, size, sha256 } = record;
  if (record['contentId'] !== contentId) throw new Error('metadata names another content id');
  if (typeof fileName !== 'string' || typeof mimeType !== 'string' || typeof size !== 'number' || typeof sha256 !== 'string') {
    throw new Error('metadata is missing fields');
  }
  const expected: ExpectedContent = { fileName, mimeType, size, sha256 };
  checkExpected(expected);
  return { contentId, ...expected, etag: `"${sha256}"`, path };
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

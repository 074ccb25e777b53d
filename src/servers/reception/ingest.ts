import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Clock } from '../../core/clock.js';
import { TesseraError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { ContentRecord } from '../../ports/persistence.js';

// The reception keeps the original of every catalogue item under <dataDir>/catalogue, so it
// can place replicas on content servers that join later (R11).

const MIME_BY_EXTENSION: Readonly<Record<string, string>> = {
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.pdf': 'application/pdf',
  '.epub': 'application/epub+zip',
  '.zip': 'application/zip',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav',
  '.flac': 'audio/flac',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mkv': 'video/x-matroska',
  '.iso': 'application/x-iso9660-image',
  '.bin': 'application/octet-stream',
};

export function guessMimeType(fileName: string): string {
  return MIME_BY_EXTENSION[extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

const FILE_NAME = /^[^/\\\0\r\n]{1,255}$/;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*(;\s*[a-z0-9_-]+=[a-z0-9_.-]+)?$/i;

export interface IngestRequest {
  readonly fileName: string;
  readonly title: string | undefined;
  readonly mimeType: string | undefined;
  readonly body: Readable;
  readonly maxBytes: number;
}

export class CatalogueFiles {
  readonly #dir: string;
  readonly #clock: Clock;

  constructor(dataDir: string, clock: Clock) {
    this.#dir = join(dataDir, 'catalogue');
    this.#clock = clock;
  }

  pathOf(contentId: string): string {
    return join(this.#dir, contentId);
  }

  /** Streams an upload to disk, hashing as it goes; returns the record to put in the catalogue. */
  async receive(request: IngestRequest): Promise<ContentRecord> {
    if (!FILE_NAME.test(request.fileName) || request.fileName === '.' || request.fileName === '..') {
      throw new TesseraError('validation-failed', 'the file name must be a plain name of 1..255 characters');
    }
    const mimeType = request.mimeType ?? guessMimeType(request.fileName);
    if (!MIME.test(mimeType)) throw new TesseraError('validation-failed', 'the MIME type is not valid');
    const title = (request.title ?? request.fileName).trim().slice(0, 200) || request.fileName;
    await mkdir(this.#dir, { recursive: true });
    const id = newId();
    const temp = join(this.#dir, `.${id}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > request.maxBytes) {
          done(new TesseraError('payload-too-large', `uploads are limited to ${request.maxBytes} bytes`));
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(request.body, meter, createWriteStream(temp, { flags: 'wx' }));
      await rename(temp, this.pathOf(id));
    } catch (error) {
      await rm(temp, { force: true });
      if (error instanceof TesseraError) throw error;
      throw new TesseraError('ingest-failed', 'the upload did not complete');
    }
    const written = await stat(this.pathOf(id));
    if (written.size !== size) throw new TesseraError('ingest-failed', 'size mismatch after writing');
    return { id, title, fileName: request.fileName, mimeType, size, sha256: hash.digest('hex'), createdAt: this.#clock.now() };
  }

  async discard(contentId: string): Promise<void> {
    await rm(this.pathOf(contentId), { force: true });
  }
}

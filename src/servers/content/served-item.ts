import { readFile } from 'node:fs/promises';
import type { ByteRange } from '../../core/byte-ranges.js';
import type { StoredContent } from '../../ports/content-store.js';

// What the data plane needs to answer for one content item, computed once per item rather than
// once per request: the response headers (as the flat array writeHead takes without copying),
// and, for small items, the bytes themselves, so a small GET costs no file system call.

export const SMALL_ITEM_BYTES = 64 * 1024;
const SMALL_ITEMS_TOTAL_BYTES = 64 * 1024 * 1024;

export interface ServedItem {
  readonly item: StoredContent;
  // Mutable array types only because writeHead's signature wants them; never modified.
  /** Headers of a 200 for the whole item, Content-Length included. */
  readonly wholeHeaders: string[];
  /** Headers shared by every answer; a 206 appends Content-Range and Content-Length. */
  readonly baseHeaders: string[];
  /** Headers of an accel answer: nginx adds its own length, ranges and validators. */
  readonly accelHeaders: string[];
  /** The bytes, for items of at most SMALL_ITEM_BYTES. */
  readonly body: Buffer | undefined;
}

export class ServedItems {
  readonly #keepSmallBodies: boolean;
  readonly #items = new Map<string, ServedItem>();
  readonly #loading = new Map<string, Promise<ServedItem>>();
  #smallBytes = 0;

  /** `keepSmallBodies`: false when something else (nginx, in accel mode) sends the bytes. */
  constructor(keepSmallBodies = true) {
    this.#keepSmallBodies = keepSmallBodies;
  }

  /** The served form of `item`, from the cache when it describes the same bytes and names. */
  get(item: StoredContent): ServedItem | Promise<ServedItem> {
    const cached = this.#items.get(item.contentId);
    if (cached !== undefined && cached.item === item) return cached;
    const loading = this.#loading.get(item.contentId);
    if (loading) return loading;
    const promise = this.#build(item).finally(() => this.#loading.delete(item.contentId));
    this.#loading.set(item.contentId, promise);
    return promise;
  }

  async #build(item: StoredContent): Promise<ServedItem> {
    const disposition = contentDisposition(item.fileName);
    const baseHeaders = [
      'content-type', item.mimeType,
      'content-disposition', disposition,
      'etag', item.etag,
      'accept-ranges', 'bytes',
      'cache-control', 'no-store',
    ];
    let body: Buffer | undefined;
    if (this.#keepSmallBodies && item.size <= SMALL_ITEM_BYTES && this.#smallBytes + item.size <= SMALL_ITEMS_TOTAL_BYTES) {
      body = await readFile(item.path);
      if (body.length !== item.size) throw new Error(`content ${item.contentId} changed size on disk`);
    }
    const previous = this.#items.get(item.contentId);
    if (previous?.body) this.#smallBytes -= previous.body.length;
    if (body) this.#smallBytes += body.length;
    const served: ServedItem = {
      item,
      baseHeaders,
      wholeHeaders: [...baseHeaders, 'content-length', String(item.size)],
      accelHeaders: ['content-type', item.mimeType, 'content-disposition', disposition, 'cache-control', 'no-store'],
      body,
    };
    this.#items.set(item.contentId, served);
    return served;
  }
}

/** Headers of a 206 for `range` of the item. */
export function rangeHeaders(served: ServedItem, range: ByteRange): string[] {
  return [
    ...served.baseHeaders,
    'content-range', `bytes ${range.start}-${range.end - 1}/${served.item.size}`,
    'content-length', String(range.end - range.start),
  ];
}

/** attachment; filename="<ASCII fallback>"; filename*=UTF-8''<RFC 8187 encoding>. */
export function contentDisposition(fileName: string): string {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc8187(fileName)}`;
}

// attr-char of RFC 8187 §3.2.1; everything else is percent-encoded from UTF-8.
const ATTR_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

function encodeRfc8187(value: string): string {
  let out = '';
  for (const ch of value) {
    if (ATTR_CHAR.test(ch)) {
      out += ch;
    } else {
      for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

// Content storage on a content server: immutable items, each written once under its content
// ID after its bytes were verified. The embedded adapter is a local directory
// (src/adapters/disk/content-store.ts); an object-store adapter would implement the same port.

export interface StoredContent {
  readonly contentId: string;
  readonly fileName: string;
  readonly mimeType: string;
  readonly size: number;
  /** Lowercase hex SHA-256 of the bytes. */
  readonly sha256: string;
  /** Strong entity tag, quotes included, derived from sha256. */
  readonly etag: string;
  /** A local file holding exactly the bytes (capability of local stores: streaming, nginx accel). */
  readonly path: string;
}

/** What the writer of a replica claims; `put` refuses bytes that do not match. */
export interface ExpectedContent {
  readonly sha256: string;
  readonly size: number;
  readonly fileName: string;
  readonly mimeType: string;
}

export interface PutResult {
  readonly item: StoredContent;
  /** False when the same bytes were already held (metadata may have been refreshed). */
  readonly created: boolean;
}

export interface ContentStore {
  get(contentId: string): StoredContent | undefined;
  list(): readonly StoredContent[];
  put(contentId: string, body: AsyncIterable<Uint8Array>, expected: ExpectedContent): Promise<PutResult>;
}

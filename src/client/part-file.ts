import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

// The `.part` file a download writes into, with the SHA-256 of exactly the bytes on disk.
// Writes are batched (one writev per ~1 MiB) because a syscall per 64 KiB socket chunk costs
// measurable throughput, and one batch is written while the next one is received, so the
// network and the disk work at the same time. The hash is only advanced for bytes that reached
// the file, so after any failure `bytes` and the hash still describe the file exactly.

const BATCH_BYTES = 1 << 20;

export class PartFile {
  readonly path: string;
  readonly #fh: FileHandle;
  #hash: Hash;
  #bytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The batch being written, and its length. */
  #inflight: Promise<void> | undefined;
  #inflightBytes = 0;
  #writeError: unknown;

  private constructor(path: string, fh: FileHandle, hash: Hash, bytes: number) {
    this.path = path;
    this.#fh = fh;
    this.#hash = hash;
    this.#bytes = bytes;
  }

  /** A new, empty part file (an existing one is truncated). */
  static async create(path: string): Promise<PartFile> {
    const fh = await open(path, 'w');
    return new PartFile(path, fh, createHash('sha256'), 0);
  }

  /**
   * Reopens an existing part file to continue it: keeps at most `keep` bytes (all when
   * undefined) and re-hashes them, so the final digest covers the whole file even though
   * earlier bytes came from another process or another ticket. Creates the file if missing.
   */
  static async reopen(path: string, keep: number | undefined): Promise<PartFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return PartFile.create(path);
      throw error;
    }
    try {
      const size = (await fh.stat()).size;
      const bytes = keep === undefined ? size : Math.min(size, keep);
      if (bytes !== size) await fh.truncate(bytes);
      const hash = createHash('sha256');
      const buffer = Buffer.allocUnsafe(BATCH_BYTES);
      for (let position = 0; position < bytes; ) {
        const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, bytes - position), position);
        if (bytesRead === 0) throw new Error(`part file shrank while it was read: ${path}`);
        hash.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
      return new PartFile(path, fh, hash, bytes);
    } catch (error) {
      await fh.close();
      throw error;
    }
  }

  /** Bytes written to the file (and hashed), not counting what is still batched. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes accepted so far, including those not yet written. */
  get bytesAccepted(): number {
    return this.#bytes + this.#inflightBytes + this.#pendingBytes;
  }

  /** Takes a chunk; waits only when a whole batch is already being written (backpressure). */
  async append(chunk: Buffer): Promise<void> {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes < BATCH_BYTES) return;
    await this.#settle();
    this.#startWrite();
  }

  /** Writes everything accepted so far. */
  async flush(): Promise<void> {
    await this.#settle();
    this.#startWrite();
    await this.#settle();
  }

  #startWrite(): void {
    if (this.#pendingBytes === 0) return;
    const chunks = this.#pending;
    const length = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#inflightBytes = length;
    this.#inflight = this.#write(chunks, length).catch((error: unknown) => {
      this.#writeError = error;
    });
  }

  async #write(chunks: Buffer[], length: number): Promise<void> {
    let written = 0;
    // writev may write less than asked (rare, but allowed); carry on from where it stopped.
    while (written < length) {
      const rest = written === 0 ? chunks : [Buffer.concat(chunks).subarray(written)];
      const { bytesWritten } = await this.#fh.writev(rest, this.#bytes + written);
      written += bytesWritten;
    }
    for (const chunk of chunks) this.#hash.update(chunk);
    // Both at once, so bytesAccepted never counts this batch twice.
    this.#bytes += length;
    this.#inflightBytes = 0;
  }

  /** Waits for the batch being written; a failed write fails every later call. */
  async #settle(): Promise<void> {
    if (this.#inflight !== undefined) {
      await this.#inflight;
      this.#inflight = undefined;
    }
    if (this.#writeError !== undefined) throw this.#writeError;
  }

  /** Drops every byte: the server sent the whole representation again. */
  async restart(): Promise<void> {
    await this.#settle();
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#fh.truncate(0);
    this.#hash = createHash('sha256');
    this.#bytes = 0;
  }

  /** Writes what is batched, forces it to disk and returns the hex SHA-256 of the file. */
  async finish(): Promise<string> {
    await this.flush();
    await this.#fh.sync();
    return this.#hash.copy().digest('hex');
  }

  async close(): Promise<void> {
    // Never close under a write still in flight; its error, if any, was already reported.
    await this.#inflight;
    await this.#fh.close();
  }
}

import { createReadStream, type ReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ByteRange } from '../../core/byte-ranges.js';
import type { ContentServerContext } from './context.js';
import { logRequest } from './request-log.js';
import { rangeHeaders, type ServedItem } from './served-item.js';
import type { TicketRecord } from './slot-table.js';

// Sends one range of an item under a ticket and counts, into the ticket's RangeSet, exactly
// the bytes that were flushed to the socket: a write counts when its callback reports success,
// so an aborted response contributes the prefix it really handed to the kernel and nothing
// more. (Bytes in the kernel's send buffer when a client vanishes are counted although the
// client may never read them; docs/content-server.md discusses the consequence.)

export function startTransfer(
  ctx: ContentServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: TicketRecord,
  served: ServedItem,
  range: ByteRange,
  partial: boolean,
): void {
  ctx.metrics.stats.activeTransfers++;
  if (ctx.config.deliveryMode === 'accel') return accelTransfer(ctx, req, res, record, served, range);
  const transfer = new Transfer(ctx, req, res, record, range);
  res.writeHead(partial ? 206 : 200, partial ? rangeHeaders(served, range) : served.wholeHeaders);
  if (served.body !== undefined) {
    transfer.sendBuffer(partial ? served.body.subarray(range.start, range.end) : served.body);
  } else {
    transfer.streamFile(served.item.path);
  }
}

class Transfer {
  readonly #ctx: ContentServerContext;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #record: TicketRecord;
  readonly #range: ByteRange;
  /** Offset of the next byte whose flush is awaited. */
  #flushedTo: number;
  /** Lengths of written chunks whose flush is awaited, in write order. */
  readonly #pending: number[] = [];
  #stream: ReadStream | undefined;

  constructor(ctx: ContentServerContext, req: IncomingMessage, res: ServerResponse, record: TicketRecord, range: ByteRange) {
    this.#ctx = ctx;
    this.#req = req;
    this.#res = res;
    this.#record = record;
    this.#range = range;
    this.#flushedTo = range.start;
    res.once('close', this.#onClose);
  }

  sendBuffer(bytes: Buffer): void {
    // One write, headers included; 'finish' means it was all handed to the kernel.
    this.#res.once('finish', () => this.#flushed(bytes.length));
    this.#res.end(bytes);
  }

  streamFile(path: string): void {
    const stream = createReadStream(path, {
      start: this.#range.start,
      end: this.#range.end - 1,
      highWaterMark: this.#ctx.config.readChunkBytes,
    });
    this.#stream = stream;
    const res = this.#res;
    stream.on('data', (chunk: Buffer | string) => {
      const bytes = chunk as Buffer;
      this.#pending.push(bytes.length);
      if (!res.write(bytes, this.#onWritten)) stream.pause();
    });
    res.on('drain', () => stream.resume());
    stream.once('end', () => res.end());
    stream.once('error', (error) => {
      this.#ctx.logger.error({ err: error, contentId: this.#record.contentId }, 'cannot read content file');
      res.destroy(error);
    });
  }

  readonly #onWritten = (error?: Error | null): void => {
    const length = this.#pending.shift() ?? 0;
    if (error) return;
    this.#flushed(length);
  };

  #flushed(length: number): void {
    if (length === 0) return;
    const start = this.#flushedTo;
    this.#flushedTo += length;
    this.#ctx.metrics.stats.bytesServed += length;
    const completion = this.#ctx.slots.recordDelivered(this.#record, start, this.#flushedTo, this.#ctx.clock.now());
    if (completion) this.#ctx.ended(completion);
  }

  readonly #onClose = (): void => {
    this.#stream?.destroy();
    this.#ctx.metrics.stats.activeTransfers--;
    const completion = this.#ctx.slots.endTransfer(this.#record, this.#ctx.clock.now());
    if (completion) this.#ctx.ended(completion);
    if (!this.#record.ended) this.#ctx.slotsChanged();
    logRequest(this.#ctx, this.#req, this.#res.statusCode, this.#flushedTo - this.#range.start);
  };
}

// Accel mode: this server has checked the ticket; nginx, in front, serves the bytes from the
// same store directory (X-Accel-Redirect to an internal location). The content server cannot
// see what nginx flushes, so the authorised range counts as delivered when it is handed over.
function accelTransfer(
  ctx: ContentServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: TicketRecord,
  served: ServedItem,
  range: ByteRange,
): void {
  res.writeHead(200, [...served.baseHeaders, 'x-accel-redirect', `${ctx.config.accelPrefix}/${served.item.contentId}`, 'content-length', '0']);
  res.end();
  const now = ctx.clock.now();
  ctx.metrics.stats.bytesServed += range.end - range.start;
  const delivered = ctx.slots.recordDelivered(record, range.start, range.end, now);
  if (delivered) ctx.ended(delivered);
  ctx.metrics.stats.activeTransfers--;
  const closed = ctx.slots.endTransfer(record, now);
  if (closed) ctx.ended(closed);
  ctx.slotsChanged();
  logRequest(ctx, req, 200, 0);
}

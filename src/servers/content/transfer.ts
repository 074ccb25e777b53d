import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ByteRange } from '../../core/byte-ranges.js';
import type { ContentServerContext } from './context.js';
import { FilePump } from './file-pump.js';
import { logRequest } from './request-log.js';
import { rangeHeaders, type ServedItem } from './served-item.js';
import type { TentativeRange, TicketRecord } from './slot-table.js';

// Sends one range of an item under a ticket. What it flushes (a write counts when its callback
// reports the bytes handed to the kernel) goes into a tentative range of the ticket; it counts
// as delivered when the client shows it has it (delivery-evidence.ts), so an aborted response
// contributes what the client really got, and a client that vanished can resume.

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
  // Under a bandwidth limit even a small item is paced, so it goes through the pump (from the
  // page cache) rather than in one write.
  if (served.body !== undefined && ctx.pacing === undefined) {
    transfer.sendBuffer(partial ? served.body.subarray(range.start, range.end) : served.body);
  } else {
    transfer.pumpFile(served.item.path);
  }
}

// Small answers are written together at the end of the event loop's turn (setImmediate, after
// every request that arrived in this poll has been handled), not one by one as each is ready.
// Each write to a loopback or LAN socket wakes the client; written back to back, one wake-up
// serves many, and the kernel's share of a 1 KiB answer fell by about half (measured with wrk,
// 64 connections, a fresh ticket per request: server CPU per request 75 → 50 µs). The cost is
// latency of at most one turn of the loop, which at light load is nothing.
const endingThisTurn: { readonly res: ServerResponse; readonly bytes: Buffer }[] = [];

function endThisTurn(res: ServerResponse, bytes: Buffer): void {
  if (endingThisTurn.push({ res, bytes }) === 1) setImmediate(endAll);
}

function endAll(): void {
  for (const { res, bytes } of endingThisTurn.splice(0)) {
    // The client may have gone meanwhile: its 'close' has then counted nothing for this answer.
    if (!res.destroyed) res.end(bytes);
  }
}

class Transfer {
  readonly #ctx: ContentServerContext;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #record: TicketRecord;
  readonly #range: ByteRange;
  /** The bytes this response flushed, until the client confirms them. */
  readonly #tentative: TentativeRange;
  #pump: FilePump | undefined;
  /** This connection's share of the ticket's bandwidth budget, under a limit. */
  #budget: { release(): void } | undefined;
  /** Length of the in-memory body, which is flushed in one write. */
  #bufferLength = 0;

  constructor(ctx: ContentServerContext, req: IncomingMessage, res: ServerResponse, record: TicketRecord, range: ByteRange) {
    this.#ctx = ctx;
    this.#req = req;
    this.#res = res;
    this.#record = record;
    this.#range = range;
    this.#tentative = ctx.slots.openTentative(record, range.start);
    res.once('finish', this.#onFinish);
    res.once('close', this.#onClose);
  }

  sendBuffer(bytes: Buffer): void {
    // One write, headers included; 'finish' means it was all handed to the kernel.
    this.#bufferLength = bytes.length;
    endThisTurn(this.#res, bytes);
  }

  pumpFile(path: string): void {
    const res = this.#res;
    const budget = this.#ctx.pacing?.acquire(this.#record.ticketId);
    this.#budget = budget;
    this.#pump = new FilePump(
      res,
      {
        flushed: (length) => this.#flushed(length),
        failed: (error) => {
          this.#ctx.logger.error({ err: error, contentId: this.#record.contentId }, 'cannot read content file');
          res.destroy(error);
        },
      },
      this.#range,
      this.#ctx.config.readChunkBytes,
      2,
      budget?.pacer,
    );
    this.#pump.start(path);
  }

  #flushed(length: number): void {
    if (length === 0) return;
    this.#tentative.end += length;
    this.#ctx.metrics.stats.bytesServed += length;
    this.#ctx.slots.recordFlushed(this.#record, length);
  }

  readonly #onFinish = (): void => {
    if (this.#bufferLength > 0) this.#flushed(this.#bufferLength);
    this.#ctx.evidence.responseComplete(this.#req.socket, this.#record, this.#tentative);
  };

  readonly #onClose = (): void => {
    this.#pump?.stop();
    this.#budget?.release();
    this.#ctx.metrics.stats.activeTransfers--;
    const completion = this.#ctx.slots.endTransfer(this.#record, this.#ctx.clock.now());
    if (completion) this.#ctx.ended(completion);
    if (!this.#record.ended) {
      this.#ctx.slotsChanged();
      // Everything may have been sent on a connection the client keeps open: free the slot as
      // soon as the client's side has acknowledged it (delivery-evidence.ts, slot release).
      if (this.#record.slot === 'idle') this.#ctx.evidence.transferIdle(this.#record);
    }
    logRequest(this.#ctx, this.#req, this.#res.statusCode, this.#tentative.end - this.#range.start);
  };
}

// Accel mode: this server has checked the ticket; nginx, in front, serves the bytes from the
// same store directory (X-Accel-Redirect to an internal location), and decides Range and
// If-Range itself with its own validators. With the delivery log (accel-deliveries.ts) the
// transfer stays open until nginx reports what it flushed. Without it the content server
// cannot see what nginx sends, so the range it authorised counts as delivered at once.
function accelTransfer(
  ctx: ContentServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: TicketRecord,
  served: ServedItem,
  range: ByteRange,
): void {
  const headers = [...served.accelHeaders, 'x-accel-redirect', `${ctx.config.accelPrefix}/${served.item.contentId}`];
  // nginx paces this response itself; its limit is per connection, not per ticket.
  if (ctx.config.transferRateBps > 0) headers.push('x-accel-limit-rate', String(ctx.config.transferRateBps));
  if (ctx.accel) headers.push('x-tessera-transfer', ctx.accel.begin(record));
  headers.push('content-length', '0');
  res.writeHead(200, headers);
  res.end();
  logRequest(ctx, req, 200, 0);
  ctx.slotsChanged();
  if (ctx.accel) return;
  const now = ctx.clock.now();
  ctx.metrics.stats.bytesServed += range.end - range.start;
  const delivered = ctx.slots.recordDelivered(record, range.start, range.end, now);
  if (delivered) ctx.ended(delivered);
  ctx.metrics.stats.activeTransfers--;
  const closed = ctx.slots.endTransfer(record, now);
  if (closed) ctx.ended(closed);
}

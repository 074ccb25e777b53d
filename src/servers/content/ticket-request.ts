import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseRange, type ByteRange } from '../../core/byte-ranges.js';
import { parseContentLocation } from '../../core/content-location.js';
import { TesseraError, type ProblemCode } from '../../core/errors.js';
import { checkClientAddress, type TicketClaims } from '../../core/ticket/ticket.js';
import { sendProblem } from '../../http/problem.js';
import type { ContentServerContext } from './context.js';
import { rangeHeaders, type ServedItem } from './served-item.js';
import { logRequest } from './request-log.js';
import type { TicketRecord } from './slot-table.js';
import { startTransfer } from './transfer.js';

// GET|HEAD /t/<ticket>/<contentId>/<fileName> — the second access of seed 001.
//
// The checks run cheapest first, and every refusal is problem+json on a connection that is
// then dropped (R7):
//   1. method GET or HEAD                                   method-not-allowed
//   2. the path is exactly three plain segments, no query   bad-content-location
//      (the location is checked before the ticket: it costs a regex, and a URL whose shape
//      is wrong is refused without spending an AES-GCM open on it)
//   3. the ticket: form, audience, key, authenticity, window  ticket-* (verifyTicket)
//   4. the ticket's content ID equals the path's            ticket-wrong-content
//   5. the client address, when the ticket binds it         ticket-wrong-client
//   6. not used up                                          ticket-consumed (410)
//   7. a notice was received (mode required)                ticket-no-notice
//   8. the item is held here                                content-not-found
//   9. Range / If-Range                                     range-not-satisfiable (416, kept open)
//  10. parallel connections, then a slot if it was released ticket-too-many-connections (429),
//                                                          all-servers-busy (503 + Retry-After)
// HEAD runs 1–9 and answers with headers only; it takes no slot and counts nothing.

const ALLOW = { allow: 'GET, HEAD' };

export function handleTicketRequest(ctx: ContentServerContext, req: IncomingMessage, res: ServerResponse, url: string): void {
  const method = req.method;
  const head = method === 'HEAD';
  if (method !== 'GET' && !head) return refuse(ctx, req, res, 'method-not-allowed', undefined, ALLOW);

  // url starts with "/t/"; exactly three non-empty segments follow.
  const ticketEnd = url.indexOf('/', 3);
  const idEnd = ticketEnd < 0 ? -1 : url.indexOf('/', ticketEnd + 1);
  if (idEnd < 0 || url.indexOf('/', idEnd + 1) >= 0 || url.indexOf('?') >= 0) {
    return refuse(ctx, req, res, 'bad-content-location', 'expected /t/<ticket>/<content id>/<file name> and nothing else');
  }
  const ticket = url.slice(3, ticketEnd);
  let claims: TicketClaims;
  let record: TicketRecord | undefined;
  const now = ctx.clock.now();
  try {
    const location = parseContentLocation([url.slice(ticketEnd + 1, idEnd), url.slice(idEnd + 1)]);
    claims = ctx.verifier.verify(ticket, now);
    if (claims.contentId !== location.contentId) throw new TesseraError('ticket-wrong-content');
    checkClientAddress(claims, clientAddress(ctx, req));
    if (ctx.slots.isConsumed(claims.ticketId)) throw new TesseraError('ticket-consumed');
    record = ctx.slots.get(claims.ticketId);
    if (record === undefined) {
      if (ctx.config.noticeMode === 'required') throw new TesseraError('ticket-no-notice');
    } else if (record.contentId !== claims.contentId || record.orderId !== claims.orderId) {
      throw new TesseraError('ticket-no-notice', 'the notice received names another order or content');
    }
  } catch (error) {
    if (error instanceof TesseraError) return refuse(ctx, req, res, error.code, error.message);
    throw error;
  }

  // With shared state, on a ticket's first use here (no slot record, or one with no transfer
  // running: held, or released before a resumption), ask the ledger too: it knows what other
  // processes of this server ID, this server before a restart, and the receptions' revocations
  // made of the ticket (docs/scale-out.md). `unknown` (the ledger is being refilled) or no
  // answer: the local table, checked above, decides.
  const ledger = ctx.ledger;
  if (ledger !== undefined && (record === undefined || (record.openTransfers === 0 && (record.slot === 'held' || record.slot === 'released')))) {
    const checked = claims;
    const known = record;
    ledger.check(checked.ticketId).then(
      (answer) => {
        // (Used up here too while the ledger answered: another request under it finished.)
        if (answer === 'consumed' || ctx.slots.isConsumed(checked.ticketId)) return refuse(ctx, req, res, 'ticket-consumed');
        serveItem(ctx, req, res, head, checked, known);
      },
      (error: unknown) => {
        ctx.logger.warn({ reason: error instanceof Error ? error.message : String(error) }, 'the shared ledger did not answer; the local table decides');
        serveItem(ctx, req, res, head, checked, known);
      },
    );
    return;
  }
  serveItem(ctx, req, res, head, claims, record);
}

function serveItem(
  ctx: ContentServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  head: boolean,
  claims: TicketClaims,
  record: TicketRecord | undefined,
): void {
  if (res.destroyed) return;
  const item = ctx.store.get(claims.contentId);
  if (item === undefined) return refuse(ctx, req, res, 'content-not-found', 'this content server does not hold the item');
  const served = ctx.served.get(item);
  if (served instanceof Promise) {
    served.then(
      (ready) => respond(ctx, req, res, head, claims, record, ready),
      (error: unknown) => {
        ctx.logger.error({ err: error, contentId: item.contentId }, 'cannot prepare content item');
        if (!res.headersSent) sendProblem(res, 'internal', { close: true });
      },
    );
  } else {
    respond(ctx, req, res, head, claims, record, served);
  }
}

function respond(
  ctx: ContentServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  head: boolean,
  claims: TicketClaims,
  known: TicketRecord | undefined,
  served: ServedItem,
): void {
  const size = served.item.size;
  let request = parseRange(req.headers.range, size);
  // If-Range (RFC 9110 §13.1.5): the range stands only if the client's copy is this exact
  // representation (strong comparison); a date or any other tag means "send it all".
  if (request.kind !== 'whole') {
    const ifRange = req.headers['if-range'];
    if (ifRange !== undefined && ifRange !== served.item.etag) request = { kind: 'whole' };
  }
  if (request.kind === 'unsatisfiable') {
    sendProblem(res, 'range-not-satisfiable', {
      headers: { 'content-range': `bytes */${size}`, 'accept-ranges': 'bytes', etag: served.item.etag },
    });
    logRequest(ctx, req, 416, 0);
    return;
  }
  const range: ByteRange = request.kind === 'range' ? request.range : { start: 0, end: size };
  const partial = request.kind === 'range';

  if (head) {
    res.writeHead(partial ? 206 : 200, partial ? rangeHeaders(served, range) : served.wholeHeaders);
    res.end();
    logRequest(ctx, req, res.statusCode, 0);
    return;
  }

  let record = known;
  if (record === undefined) {
    // Notice mode optional: the first GET of an un-noticed ticket takes a slot like a notice would.
    record = ctx.slots.admitUnnoticed(
      {
        ticketId: claims.ticketId,
        orderId: claims.orderId,
        contentId: claims.contentId,
        expiresAtS: claims.expiresAt,
        maxConnections: claims.maxConnections,
      },
      size,
    );
    if (record === undefined) return refuseBusy(ctx, req, res);
  }
  if (range.start > 0) {
    // Continuing from an offset: the client has what it was sent before it.
    const completion = ctx.slots.confirmUpTo(record, range.start, ctx.clock.now());
    if (completion) {
      ctx.ended(completion);
      return refuse(ctx, req, res, 'ticket-consumed');
    }
  }
  const wasActive = record.slot === 'active';
  const outcome = ctx.slots.beginTransfer(record, ctx.clock.now());
  if (outcome === 'too-many-connections') return refuse(ctx, req, res, 'ticket-too-many-connections');
  if (outcome === 'no-slot') return refuseBusy(ctx, req, res);
  if (outcome === 'ended') return refuse(ctx, req, res, 'ticket-consumed');
  if (!wasActive) ctx.slotsChanged();
  ctx.metrics.stats.ticketsAccepted++;
  startTransfer(ctx, req, res, record, served, range, partial);
}

function refuseBusy(ctx: ContentServerContext, req: IncomingMessage, res: ServerResponse): void {
  // The ticket is still valid, but its slot was released (hold lapsed or the client vanished)
  // and none is free now. 503 + Retry-After: the same URL works once a slot frees.
  // The soonest a held or idle slot is due back; transfers in progress give no date.
  const releaseAt = ctx.slots.nextReleaseAt();
  const retryAfterS = releaseAt === undefined ? 5 : Math.min(3600, Math.max(1, Math.ceil((releaseAt - ctx.clock.now()) / 1000)));
  refuse(ctx, req, res, 'all-servers-busy', 'this content server has no free slot for the ticket right now', {
    'retry-after': String(retryAfterS),
  }, { retryAfterS });
}

export function refuse(
  ctx: ContentServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  code: ProblemCode,
  detail?: string,
  headers?: Record<string, string>,
  extra?: Record<string, unknown>,
): void {
  ctx.metrics.refused(code);
  const options: Parameters<typeof sendProblem>[2] = { close: true };
  if (detail !== undefined) options.detail = detail;
  if (headers !== undefined) options.headers = headers;
  if (extra !== undefined) options.extra = extra;
  sendProblem(res, code, options);
  logRequest(ctx, req, res.statusCode, 0, code);
}

/** The client's address: the socket's peer, or X-Real-IP when a trusted proxy sits in front. */
function clientAddress(ctx: ContentServerContext, req: IncomingMessage): string | undefined {
  if (ctx.config.trustProxy) {
    const forwarded = req.headers['x-real-ip'];
    if (typeof forwarded === 'string' && forwarded !== '') return forwarded.trim();
  }
  return req.socket.remoteAddress;
}

import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RECEPTION_ID_PATTERN, type Notice, type NoticeAccepted } from '../../core/control/messages.js';
import { TesseraError } from '../../core/errors.js';
import { isUuid } from '../../core/ids.js';
import { sendProblem } from '../../http/problem.js';
import type { ExpectedContent, StoredContent } from '../../ports/content-store.js';
import type { ContentServerContext } from './context.js';

// The control listener (the "dedicated network" of seed 000 claim 3): loopback only, its own
// port, and every request carries `Authorization: Bearer <control token>`.
//
//   POST   /control/notices               Notice → 201 NoticeAccepted | 409 slots-full,
//                                          content-missing, notice-conflict | 400
//   DELETE /control/notices/:ticketId     withdraw a notice → 204 | 404
//   PUT    /control/replicas/:contentId   body = the bytes; x-tessera-sha256, x-tessera-size,
//                                          x-tessera-file-name (percent-encoded), content-type
//                                          → 201 stored | 200 already held | 422 ingest-failed
//   GET    /control/replicas[/:contentId] what this server holds
//   GET    /control/state                 a JSON snapshot, for tests and status pages

const MAX_NOTICE_BYTES = 4096;

export interface ControlPlane {
  handle(req: IncomingMessage, res: ServerResponse): void;
}

export function createControlPlane(ctx: ContentServerContext, snapshot: () => unknown): ControlPlane {
  const expected = Buffer.from(`Bearer ${ctx.config.controlToken}`);

  function authorized(req: IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (url === '/control/notices') {
      if (method !== 'POST') return notAllowed(res, 'POST');
      return postNotice(ctx, req, res);
    }
    if (url.startsWith('/control/notices/')) {
      if (method !== 'DELETE') return notAllowed(res, 'DELETE');
      return deleteNotice(ctx, url.slice('/control/notices/'.length), res);
    }
    if (url === '/control/replicas') {
      if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
      return sendJson(res, 200, { items: ctx.store.list().map(describe) });
    }
    if (url.startsWith('/control/replicas/')) {
      const contentId = url.slice('/control/replicas/'.length);
      if (method === 'PUT') return putReplica(ctx, contentId, req, res);
      if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, 'GET, HEAD, PUT');
      if (!isUuid(contentId)) throw new TesseraError('invalid-id', 'content id is not a lowercase UUID');
      const item = ctx.store.get(contentId);
      if (!item) throw new TesseraError('content-not-found');
      return sendJson(res, 200, describe(item));
    }
    if (url === '/control/state') {
      if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
      return sendJson(res, 200, snapshot());
    }
    throw new TesseraError('not-found');
  }

  return {
    handle(req, res) {
      if (!authorized(req)) {
        sendProblem(res, 'unauthorized', { headers: { 'www-authenticate': 'Bearer' }, close: true });
        req.resume();
        return;
      }
      route(req, res).catch((error: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        // A refusal that leaves a request body unread closes the connection.
        const close = !req.complete;
        if (error instanceof TesseraError) {
          sendProblem(res, error.code, { detail: error.message, extra: { ...error.extra }, close });
        } else {
          ctx.logger.error({ err: error, url: req.url }, 'control request failed');
          sendProblem(res, 'internal', { close });
        }
        if (close) req.resume();
      });
    },
  };
}

async function postNotice(ctx: ContentServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const notice = parseNotice(await readJson(req, MAX_NOTICE_BYTES));
  sendJson(res, 201, acceptNotice(ctx, notice));
}

/**
 * The allocation check for one notice, whichever channel brought it (HTTP here, Redis in
 * build-content-server.ts): takes a slot or throws TesseraError (slots-full, content-missing,
 * notice-conflict, validation-failed).
 */
export function acceptNotice(ctx: ContentServerContext, notice: Notice): NoticeAccepted {
  // From here to the answer nothing awaits: checking for a free slot and taking it is one step
  // in Node's single thread, so two notices can never both take the last slot.
  const now = ctx.clock.now();
  if (notice.expiresAt + ctx.config.clockToleranceS * 1000 <= now) {
    throw new TesseraError('validation-failed', "the notice's ticket has already expired");
  }
  for (const completion of ctx.slots.sweepIfFull(now, 20)) ctx.ended(completion);
  if (ctx.draining) throw new TesseraError('slots-full', 'this content server is draining');
  const item = ctx.store.get(notice.contentId);
  if (!item) throw new TesseraError('content-missing');
  const outcome = ctx.slots.offerNotice(notice, item.size);
  if (outcome === 'notice-conflict') throw new TesseraError('notice-conflict');
  if (outcome === 'slots-full') {
    throw new TesseraError('slots-full', undefined, { capacity: ctx.slots.capacity, slotsTaken: ctx.slots.taken });
  }
  const record = ctx.slots.get(notice.ticketId);
  ctx.slotsChanged();
  const accepted: NoticeAccepted = { ticketId: notice.ticketId, holdUntil: record?.holdUntil ?? notice.holdUntil };
  return accepted;
}

function deleteNotice(ctx: ContentServerContext, ticketId: string, res: ServerResponse): void {
  if (!isUuid(ticketId)) throw new TesseraError('invalid-id', 'ticket id is not a lowercase UUID');
  if (!ctx.slots.withdrawNotice(ticketId)) throw new TesseraError('not-found', 'no notice for this ticket');
  ctx.slotsChanged();
  res.writeHead(204, { 'cache-control': 'no-store' });
  res.end();
}

async function putReplica(ctx: ContentServerContext, contentId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isUuid(contentId)) throw new TesseraError('invalid-id', 'content id is not a lowercase UUID');
  const expected = replicaHeaders(req);
  const held = ctx.store.get(contentId);
  if (
    held &&
    held.sha256 === expected.sha256 &&
    held.size === expected.size &&
    held.fileName === expected.fileName &&
    held.mimeType === expected.mimeType
  ) {
    // Already held, byte for byte (it was verified when stored): skip the upload.
    sendJson(res, 200, describe(held), !req.complete);
    req.resume();
    return;
  }
  const result = await ctx.store.put(contentId, req, expected);
  ctx.logger.info({ contentId, size: result.item.size, created: result.created }, 'replica stored');
  sendJson(res, result.created ? 201 : 200, describe(result.item));
}

function replicaHeaders(req: IncomingMessage): ExpectedContent {
  const sha256 = req.headers['x-tessera-sha256'];
  const sizeText = req.headers['x-tessera-size'];
  const rawName = req.headers['x-tessera-file-name'];
  if (typeof sha256 !== 'string' || typeof sizeText !== 'string' || typeof rawName !== 'string') {
    throw new TesseraError('validation-failed', 'x-tessera-sha256, x-tessera-size and x-tessera-file-name are required');
  }
  if (!/^\d{1,16}$/.test(sizeText)) throw new TesseraError('validation-failed', 'x-tessera-size must be a decimal byte count');
  const size = Number(sizeText);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) !== size) {
    throw new TesseraError('validation-failed', 'content-length differs from x-tessera-size');
  }
  let fileName: string;
  try {
    fileName = decodeURIComponent(rawName);
  } catch {
    throw new TesseraError('validation-failed', 'x-tessera-file-name is not valid percent-encoding');
  }
  const mimeType = (req.headers['content-type'] ?? 'application/octet-stream').trim();
  return { sha256: sha256.toLowerCase(), size, fileName, mimeType };
}

function describe(item: StoredContent): Omit<StoredContent, 'path'> {
  return {
    contentId: item.contentId,
    fileName: item.fileName,
    mimeType: item.mimeType,
    size: item.size,
    sha256: item.sha256,
    etag: item.etag,
  };
}

export function parseNotice(value: unknown): Notice {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TesseraError('validation-failed', 'a notice is a JSON object');
  }
  const v = value as Record<string, unknown>;
  for (const field of ['ticketId', 'orderId', 'contentId'] as const) {
    if (!isUuid(v[field])) throw new TesseraError('validation-failed', `${field} must be a lowercase UUID`);
  }
  for (const field of ['notBefore', 'expiresAt', 'holdUntil'] as const) {
    const t = v[field];
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
      throw new TesseraError('validation-failed', `${field} must be Unix milliseconds`);
    }
  }
  const maxConnections = v['maxConnections'];
  if (typeof maxConnections !== 'number' || !Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > 255) {
    throw new TesseraError('validation-failed', 'maxConnections must be an integer 1..255');
  }
  const heldBytes = v['heldBytes'];
  if (heldBytes !== undefined && (typeof heldBytes !== 'number' || !Number.isSafeInteger(heldBytes) || heldBytes < 0)) {
    throw new TesseraError('validation-failed', 'heldBytes must be a non-negative integer');
  }
  const issuedBy = v['issuedBy'];
  if (issuedBy !== undefined && (typeof issuedBy !== 'string' || !RECEPTION_ID_PATTERN.test(issuedBy))) {
    throw new TesseraError('validation-failed', `issuedBy must match ${RECEPTION_ID_PATTERN.source}`);
  }
  const notice = v as unknown as Notice;
  if (notice.expiresAt <= notice.notBefore) throw new TesseraError('validation-failed', 'expiresAt must be after notBefore');
  return {
    ticketId: notice.ticketId,
    orderId: notice.orderId,
    contentId: notice.contentId,
    notBefore: notice.notBefore,
    expiresAt: notice.expiresAt,
    holdUntil: notice.holdUntil,
    maxConnections,
    ...(typeof heldBytes === 'number' && heldBytes > 0 ? { heldBytes } : {}),
    ...(typeof issuedBy === 'string' ? { issuedBy } : {}),
  };
}

function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    return Promise.reject(new TesseraError('unsupported-media-type', 'send application/json'));
  }
  if (Number(req.headers['content-length'] ?? '0') > limit) return Promise.reject(new TesseraError('payload-too-large'));
  // Listeners rather than `for await`: a notice per order makes this a hot path too.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) {
        req.removeAllListeners('data');
        reject(new TesseraError('payload-too-large'));
      } else {
        chunks.push(chunk);
      }
    });
    req.once('error', reject);
    req.once('end', () => {
      if (length > limit) return;
      try {
        resolve(JSON.parse(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new TesseraError('invalid-json'));
      }
    });
  });
}

function notAllowed(res: ServerResponse, allow: string): void {
  sendProblem(res, 'method-not-allowed', { headers: { allow } });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  };
  if (close) headers['connection'] = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { TesseraError } from '../../core/errors.js';
import { isUuid, SERVER_ID_PATTERN } from '../../core/ids.js';
import type { Logger } from '../../observability/logger.js';
import type { ContentRecord, OrderRecord, Persistence } from '../../ports/persistence.js';
import { installProblemHandlers } from './http-errors.js';
import type { Clock } from '../../core/clock.js';
import type { RateLimiter } from '../../core/rate-limit.js';
import type { ReceptionMetrics } from './metrics.js';
import { MAX_TICKET_REPLACEMENTS, unavailableOnFailure, type Ordering, type PlacedOrder } from './ordering.js';
import { createHash } from 'node:crypto';
import { PAGE_SECURITY_HEADERS, renderCatalogPage, renderWaitingPage, WAITING_SCRIPT } from './pages.js';

const WAITING_SCRIPT_ETAG = `"${createHash('sha256').update(WAITING_SCRIPT).digest('base64url').slice(0, 22)}"`;
import type { ServerRegistry } from './server-registry.js';
import type { Outcome, WaitInfo, WaitingRoom } from './waiting-room.js';

// The reception's public listener: catalogue, ordering (JSON and browser form), order status,
// health, metrics and the OpenAPI document. Routes translate HTTP to Ordering and back.

export interface PublicAppDeps {
  readonly db: Persistence;
  readonly waitingRoom: WaitingRoom;
  /** For replacement tickets (POST /orders/{id}/ticket). */
  readonly ordering: Ordering;
  readonly rateLimiter: RateLimiter;
  readonly clock: Clock;
  readonly servers: ServerRegistry;
  readonly registry: Registry;
  readonly metrics: ReceptionMetrics;
  readonly logger: Logger;
  readonly trustProxy: boolean;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

const contentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    title: { type: 'string' },
    fileName: { type: 'string' },
    mimeType: { type: 'string' },
    size: { type: 'integer' },
    sha256: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'title', 'fileName', 'mimeType', 'size', 'sha256', 'createdAt'],
} as const;

/** An order with its ticket (placedJson). */
const placedSchema = {
  type: 'object',
  properties: {
    order: { type: 'object', additionalProperties: true },
    ticket: {
      type: 'object',
      properties: {
        url: { type: 'string' },
        serverId: { type: 'string' },
        notBefore: { type: 'string' },
        expiresAt: { type: 'string' },
        maxConnections: { type: 'integer' },
      },
    },
    content: contentSchema,
  },
} as const;

const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details; `code` is stable (docs/errors.md)',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
  },
  required: ['type', 'title', 'status', 'code'],
  additionalProperties: true,
} as const;

export function contentJson(c: ContentRecord): Record<string, unknown> {
  return { id: c.id, title: c.title, fileName: c.fileName, mimeType: c.mimeType, size: c.size, sha256: c.sha256, createdAt: iso(c.createdAt) };
}

function orderJson(o: OrderRecord): Record<string, unknown> {
  return {
    id: o.id,
    state: o.state,
    contentId: o.contentId,
    serverId: o.serverId,
    bytesDelivered: o.bytesDelivered,
    reason: o.reason,
    createdAt: iso(o.createdAt),
    updatedAt: iso(o.updatedAt),
  };
}

function placedJson(p: PlacedOrder): Record<string, unknown> {
  return {
    order: { id: p.order.id, state: p.order.state, contentId: p.order.contentId, createdAt: iso(p.order.createdAt) },
    ticket: { url: p.ticketUrl, serverId: p.serverId, notBefore: iso(p.notBefore), expiresAt: iso(p.expiresAt), maxConnections: p.maxConnections },
    content: contentJson(p.content),
  };
}

export function waitJson(w: WaitInfo): Record<string, unknown> {
  return {
    orderId: w.orderId,
    contentId: w.contentId,
    position: w.position,
    lineLength: w.lineLength,
    estimated_wait_s: Math.round(w.estimatedWaitMs / 100) / 10,
    estimate_baseline_s: w.baselineWaitMs === null ? null : Math.round(w.baselineWaitMs / 100) / 10,
    retry_at: new Date(w.retryAt).toISOString(),
    retryAfterS: Math.max(0, Math.ceil((w.retryAt - w.at) / 1000)),
    queueToken: w.queueToken,
  };
}

/** RFC 7240 `Prefer: wait=N`, in ms (0 when absent or malformed). */
function preferWaitMs(header: string | string[] | undefined): number {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  const match = /(?:^|[,;\s])wait=(\d{1,4})(?:$|[,;\s])/i.exec(text);
  return match ? Number(match[1]) * 1000 : 0;
}

const QUEUE_COOKIE = 'tessera_queue';

function queueCookie(orderId: string, token: string, secure: boolean): string {
  return `${QUEUE_COOKIE}=${token}; Path=/queue/${orderId}; Max-Age=86400; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/** Browsers post forms; refuse cross-site posts (CSRF) using the fetch metadata and Origin headers. */
function assertSameOrigin(request: FastifyRequest): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new TesseraError('bad-request', 'cross-site order forms are refused');
  }
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    const host = request.headers.host;
    if (!host || new URL(origin).host !== host) throw new TesseraError('bad-request', 'cross-origin order forms are refused');
  }
}

export async function buildPublicApp(deps: PublicAppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    disableRequestLogging: true,
    // Unknown fields are refused, not silently dropped: a typo must not place an order.
    ajv: { customOptions: { removeAdditional: false } },
    bodyLimit: 16 * 1024,
    trustProxy: deps.trustProxy,
    return503OnClosing: true,
  });
  installProblemHandlers(app, deps.logger);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });
  app.addHook('onResponse', async (request, reply) => {
    deps.logger.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tessera reception', version: '0.1.0', description: 'Takes orders and answers with single-use permission ticket URLs.' },
    },
  });

  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    const items = await unavailableOnFailure(() => deps.db.catalogue.listContents());
    return reply.type('text/html; charset=utf-8').headers(PAGE_SECURITY_HEADERS).header('cache-control', 'no-store').send(renderCatalogPage(items));
  });

  app.get('/contents', {
    schema: {
      summary: 'List the catalogue',
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: contentSchema } }, required: ['items'] } },
    },
  }, async () => ({ items: (await unavailableOnFailure(() => deps.db.catalogue.listContents())).map(contentJson) }));

  app.get<{ Params: { id: string } }>('/contents/:id', {
    schema: {
      summary: 'One catalogue item',
      params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      response: { 200: contentSchema, 400: problemSchema, 404: problemSchema },
    },
  }, async (request) => {
    if (!isUuid(request.params.id)) throw new TesseraError('invalid-id', 'content id must be a UUID');
    const content = await unavailableOnFailure(() => deps.db.catalogue.getContent(request.params.id));
    if (!content) throw new TesseraError('content-not-found', `no content ${request.params.id}`);
    return contentJson(content);
  });

  app.post<{ Body: { contentId: string; queueToken?: string } }>('/orders', {
    schema: {
      summary: 'Place an order; the answer carries the permission ticket URL',
      description:
        'JSON clients get 201 with the ticket. A browser form (application/x-www-form-urlencoded) gets 303 to the ticket URL.',
      body: {
        type: 'object',
        properties: { contentId: { type: 'string', maxLength: 64 }, queueToken: { type: 'string', maxLength: 256 } },
        required: ['contentId'],
        additionalProperties: false,
      },
      response: {
        201: placedSchema,
        400: problemSchema,
        404: problemSchema,
        413: problemSchema,
        503: problemSchema,
      },
    },
  }, async (request, reply) => {
    const isForm = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    if (isForm) assertSameOrigin(request);
    const { contentId, queueToken } = request.body;
    let outcome: Outcome;
    if (queueToken !== undefined) {
      outcome = await deps.waitingRoom.comeBack(contentId, queueToken, preferWaitMs(request.headers.prefer));
    } else {
      const decision = deps.rateLimiter.take(request.ip, deps.clock.now());
      if (!decision.allowed) {
        deps.metrics.rateLimited.inc();
        throw new TesseraError('rate-limited', undefined, { retryAfterS: decision.retryAfterS });
      }
      outcome = await deps.waitingRoom.order(contentId, request.ip);
    }
    if (outcome.kind === 'admitted') {
      if (isForm) return redirectToTicket(reply, outcome.placed.ticketUrl);
      return reply.code(201).header('cache-control', 'no-store').send(placedJson(outcome.placed));
    }
    const wait = outcome.wait;
    if (isForm) {
      return reply
        .code(303)
        .header('set-cookie', queueCookie(wait.orderId, wait.queueToken, request.protocol === 'https'))
        .header('location', `/queue/${wait.orderId}`)
        .header('cache-control', 'no-store')
        .send();
    }
    throw new TesseraError('all-servers-busy', `every content server is busy; you are number ${wait.position} in line`, waitJson(wait));
  });

  // The browser's waiting page (R9, R10): it works with a meta refresh alone, and with
  // JavaScript it counts down, long-polls, plays a sound when admitted and starts the download.
  const browserOutcome = async (request: FastifyRequest<{ Params: { id: string } }>, waitMs: number): Promise<Outcome> => {
    if (!isUuid(request.params.id)) throw new TesseraError('invalid-id', 'order id must be a UUID');
    const token = cookieValue(request.headers.cookie, QUEUE_COOKIE);
    if (token === undefined) throw new TesseraError('queue-token-invalid', 'this browser holds no place for this order');
    const outcome = await deps.waitingRoom.comeBack(undefined, token, waitMs);
    const orderId = outcome.kind === 'admitted' ? outcome.placed.order.id : outcome.wait.orderId;
    if (orderId !== request.params.id) throw new TesseraError('queue-token-invalid');
    return outcome;
  };

  app.get<{ Params: { id: string } }>('/queue/:id', { schema: { hide: true } }, async (request, reply) => {
    let html: string;
    let status = 200;
    try {
      const outcome = await browserOutcome(request, 0);
      if (outcome.kind === 'admitted') {
        html = renderWaitingPage({ kind: 'admitted', ticketUrl: outcome.placed.ticketUrl, title: outcome.placed.content.title });
      } else {
        const content = await deps.db.catalogue.getContent(outcome.wait.contentId);
        html = renderWaitingPage(content ? { kind: 'waiting', wait: outcome.wait, title: content.title } : { kind: 'waiting', wait: outcome.wait });
      }
      if (outcome.kind === 'waiting') void reply.header('set-cookie', queueCookie(outcome.wait.orderId, outcome.wait.queueToken, request.protocol === 'https'));
    } catch (error) {
      if (!(error instanceof TesseraError)) throw error;
      status = error.status;
      html = renderWaitingPage({ kind: 'refused', code: error.code, message: error.message });
    }
    return reply.code(status).type('text/html; charset=utf-8').headers(PAGE_SECURITY_HEADERS).header('cache-control', 'no-store').send(html);
  });

  app.get<{ Params: { id: string }; Querystring: { wait?: string } }>('/queue/:id/status', { schema: { hide: true } }, async (request, reply) => {
    const waitMs = Math.min(20, Math.max(0, Number(request.query.wait ?? 0) || 0)) * 1000;
    const outcome = await browserOutcome(request, waitMs);
    void reply.header('cache-control', 'no-store');
    if (outcome.kind === 'admitted') return { state: 'admitted', ticketUrl: outcome.placed.ticketUrl };
    void reply.header('set-cookie', queueCookie(outcome.wait.orderId, outcome.wait.queueToken, request.protocol === 'https'));
    const { queueToken: _hidden, ...visible } = waitJson(outcome.wait);
    return { state: 'waiting', ...visible };
  });

  app.get('/assets/waiting.js', { schema: { hide: true } }, async (_request, reply) =>
    // Revalidated on every use: the script changes together with the page that loads it.
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').header('etag', WAITING_SCRIPT_ETAG).header('x-content-type-options', 'nosniff').send(WAITING_SCRIPT),
  );

  app.get<{ Params: { id: string } }>('/orders/:id', {
    schema: {
      summary: 'An order and its state',
      params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      response: { 400: problemSchema, 404: problemSchema },
    },
  }, async (request) => {
    if (!isUuid(request.params.id)) throw new TesseraError('invalid-id', 'order id must be a UUID');
    const order = await unavailableOnFailure(() => deps.db.orders.getOrder(request.params.id));
    if (!order) throw new TesseraError('order-not-found', `no order ${request.params.id}`);
    return orderJson(order);
  });

  // A content server failed mid-download: the client proves it holds the order's current ticket
  // and gets a new one on another server, and the old one is revoked. Not counted by the order
  // rate limit (it places no order), but bounded per order (ticket-replacements-exhausted).
  app.post<{ Params: { id: string }; Body: { ticket: string; failedServerId?: string; heldBytes?: number } }>('/orders/:id/ticket', {
    schema: {
      summary: "Replace the ticket of a ticketed order whose content server could not be reached",
      description:
        'Send the ticket you hold (the ticket URL, or its ticket part). The order must be `ticketed` and the ticket its current one. ' +
        'A new ticket is issued on another content server when one can take it (the server named in `failedServerId`, and the one of the old ticket, only as a last resort); ' +
        'the old ticket is revoked. `heldBytes` is how much of the item the client already has, so the new server counts it as delivered. ' +
        `Asking again with the ticket that was just replaced returns the same new ticket. At most ${MAX_TICKET_REPLACEMENTS} replacements per order.`,
      params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      body: {
        type: 'object',
        properties: {
          ticket: { type: 'string', minLength: 1, maxLength: 2048 },
          failedServerId: { type: 'string', pattern: SERVER_ID_PATTERN.source },
          heldBytes: { type: 'integer', minimum: 0 },
        },
        required: ['ticket'],
        additionalProperties: false,
      },
      response: {
        200: placedSchema,
        400: problemSchema,
        403: problemSchema,
        404: problemSchema,
        409: problemSchema,
        410: problemSchema,
        503: problemSchema,
      },
    },
  }, async (request, reply) => {
    const { ticket, failedServerId, heldBytes } = request.body;
    const placed = await deps.ordering.replaceTicket({ orderId: request.params.id, ticket, failedServerId, heldBytes });
    return reply.code(200).header('cache-control', 'no-store').send(placedJson(placed));
  });

  app.get('/healthz', { schema: { summary: 'Liveness and database reachability' } }, async (_request, reply) => {
    try {
      await deps.db.ping();
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: 'unreachable' });
    }
    return { status: 'ok', liveContentServers: deps.servers.liveServerIds().length };
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_request, reply) =>
    reply.type(deps.registry.contentType).send(await deps.registry.metrics()),
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  return app;
}

function redirectToTicket(reply: FastifyReply, url: string): FastifyReply {
  // The ticket URL is a bearer credential: keep it out of caches and referrers.
  return reply.code(303).header('location', url).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').send();
}

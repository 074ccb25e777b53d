import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import type { Clock } from '../../core/clock.js';
import { CONTROL_PATHS, type Completion, type LoadReport, type LoadReportReply, type ServerStatus } from '../../core/control/messages.js';
import { TesseraError } from '../../core/errors.js';
import { isServerId, isUuid, SERVER_ID_PATTERN } from '../../core/ids.js';
import { checkControlToken, derivePurposeSecret } from '../../core/ticket/ticket-keys.js';
import type { Logger } from '../../observability/logger.js';
import type { Persistence } from '../../ports/persistence.js';
import type { LoadReportBoard } from '../../ports/load-report-board.js';
import { issuerNameOf, type ReceptionConfig } from './config.js';
import { installProblemHandlers } from './http-errors.js';
import type { CatalogueFiles } from './ingest.js';
import type { Keyring } from './keyring.js';
import type { ReceptionMetrics } from './metrics.js';
import { unavailableOnFailure } from './ordering.js';
import { PAGE_SECURITY_HEADERS } from './pages.js';
import { contentJson } from './public-app.js';
import type { Replication } from './replication.js';
import type { ServerRegistry } from './server-registry.js';
import { renderStatusPage, STATUS_SCRIPT } from './status-page.js';
import { StatusStream } from './status-stream.js';
import type { WaitingRoom } from './waiting-room.js';

// The reception's control listener (loopback by default, never the public port). Content
// servers push load reports and completions here; the operator's CLI adds content, rotates
// keys, drains servers and reads their status here; the status page is served here. Content servers authenticate with their per-server control token; the
// operator with the admin token. Both are derived from the root secret.

export interface ControlAppDeps {
  readonly config: ReceptionConfig;
  readonly clock: Clock;
  readonly db: Persistence;
  readonly servers: ServerRegistry;
  readonly keyring: Keyring;
  readonly files: CatalogueFiles;
  readonly replication: Replication;
  readonly waitingRoom: WaitingRoom;
  readonly metrics: ReceptionMetrics;
  readonly logger: Logger;
  /** The load-report board (docs/scale-out.md); reports that arrive over HTTP are posted there too. */
  readonly board?: LoadReportBoard;
}

export function adminToken(rootSecret: Buffer): string {
  return derivePurposeSecret(rootSecret, 'admin').toString('base64url');
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}

const num = { type: 'number', minimum: 0 } as const;

const loadReportSchema = {
  type: 'object',
  required: ['serverId', 'publicUrl', 'controlUrl', 'location', 'capacity', 'slotsTaken', 'activeTransfers', 'bytesPerSecond', 'memory', 'slots', 'keySetVersion', 'sentAt', 'seq', 'draining'],
  properties: {
    serverId: { type: 'string', maxLength: 32 },
    publicUrl: { type: 'string', maxLength: 512 },
    controlUrl: { type: 'string', maxLength: 512 },
    location: { type: 'object', required: ['area', 'cost'], properties: { area: { type: 'string', maxLength: 64 }, cost: num } },
    capacity: { type: 'integer', minimum: 0 },
    slotsTaken: { type: 'integer', minimum: 0 },
    activeTransfers: { type: 'integer', minimum: 0 },
    bytesPerSecond: num,
    memory: { type: 'object', required: ['rssBytes', 'heapUsedBytes'], properties: { rssBytes: num, heapUsedBytes: num } },
    slots: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        required: ['ticketId', 'remainingBytes', 'bytesPerSecond', 'releaseBy', 'state'],
        properties: {
          ticketId: { type: 'string' },
          remainingBytes: num,
          bytesPerSecond: num,
          releaseBy: num,
          state: { enum: ['held', 'active', 'idle'] },
        },
      },
    },
    keySetVersion: { type: 'string', maxLength: 4096 },
    sentAt: num,
    seq: { type: 'integer', minimum: 0 },
    draining: { type: 'boolean' },
    transferRateLimit: num,
    intervalMs: { type: 'integer', minimum: 1 },
  },
} as const;

const completionSchema = {
  type: 'object',
  required: ['ticketId', 'orderId', 'contentId', 'serverId', 'outcome', 'bytesDelivered', 'at'],
  properties: {
    ticketId: { type: 'string' },
    orderId: { type: 'string' },
    contentId: { type: 'string' },
    serverId: { type: 'string' },
    outcome: { enum: ['completed', 'expired'] },
    bytesDelivered: num,
    at: num,
  },
} as const;

/** What the reception does with a load report and a completion, whichever channel brought them. */
export interface ControlIntake {
  /** Records a report; returns the settings the server should hold (its key set when it lacks it, its drain). */
  takeReport(report: LoadReport): LoadReportReply;
  /** Ends the order a completion is about. Idempotent: a repeated or late completion changes nothing. */
  recordCompletion(c: Completion): Promise<boolean>;
  /** Frees, in this reception's view, the slots of completions another reception may record. */
  noteSlotsEnded(batch: readonly Completion[]): void;
}

export function createControlIntake(deps: Omit<ControlAppDeps, 'files'>): ControlIntake {
  const receptionId = issuerNameOf(deps.config);
  return {
    takeReport(report) {
      const appeared = deps.servers.record(report);
      deps.metrics.liveServers.set(deps.servers.liveServerIds().length);
      if (appeared) {
        deps.logger.info({ serverId: report.serverId, publicUrl: report.publicUrl }, 'content server reporting');
        deps.replication.syncServer(report.serverId);
      }
      deps.waitingRoom.kick();
      // The drain goes back every time, so a restarted content server learns it again at once.
      const drain = deps.servers.isDrained(report.serverId);
      // The name lets the server send completions of this reception's tickets back here.
      const named = receptionId === undefined ? { drain } : { drain, receptionId };
      // The keys are derived only for a server that does not hold them yet.
      return deps.keyring.keySetVersion() === report.keySetVersion ? named : { keySet: deps.keyring.keySetFor(report.serverId), ...named };
    },
    async recordCompletion(c) {
      if (!isUuid(c.orderId) || !isUuid(c.ticketId)) throw new TesseraError('invalid-id');
      const order = await deps.db.orders.getOrder(c.orderId);
      if (!order || order.ticketId !== c.ticketId || order.state !== 'ticketed') return false;
      const changed =
        c.outcome === 'completed'
          ? await deps.db.orders.markCompleted(c.orderId, c.ticketId, c.bytesDelivered, c.at)
          : await deps.db.orders.markExpired(c.orderId, c.ticketId, 'ticket-window-closed', c.bytesDelivered, c.at);
      if (!changed) return false;
      deps.metrics.completions.inc({ outcome: c.outcome });
      deps.waitingRoom.noteCompletion(order, c.at, c.outcome === 'completed');
      return true;
    },
    noteSlotsEnded(batch) {
      deps.waitingRoom.noteSlotsEnded(
        batch.filter((c) => isServerId(c.serverId) && isUuid(c.ticketId)).map((c) => ({ serverId: c.serverId, ticketId: c.ticketId, delivered: c.outcome === 'completed' })),
      );
    },
  };
}

export async function buildControlApp(deps: ControlAppDeps): Promise<FastifyInstance> {
  const intake = createControlIntake(deps);
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, disableRequestLogging: true,
    // Unknown fields are refused, not silently dropped: a typo must not place an order.
    ajv: { customOptions: { removeAdditional: false } }, bodyLimit: 8 * 1024 * 1024 });
  installProblemHandlers(app, deps.logger);
  const admin = Buffer.from(adminToken(deps.config.rootSecret));

  const requireServer = (request: FastifyRequest, claimed: string): void => {
    const token = bearer(request);
    const serverId = token === undefined ? undefined : checkControlToken(deps.config.rootSecret, token);
    if (serverId === undefined || serverId !== claimed) throw new TesseraError('unauthorized', 'bad control token');
  };
  const requireAdmin = (request: FastifyRequest): void => {
    const given = Buffer.from(bearer(request) ?? '');
    if (given.length !== admin.length || !timingSafeEqual(given, admin)) throw new TesseraError('unauthorized', 'bad admin token');
  };

  app.post<{ Body: LoadReport }>(CONTROL_PATHS.loadReports, { schema: { body: loadReportSchema } }, async (request) => {
    const report = request.body;
    if (!isServerId(report.serverId)) throw new TesseraError('invalid-id', 'bad server id');
    requireServer(request, report.serverId);
    const reply: LoadReportReply = intake.takeReport(report);
    // With Redis (TESSERA_REDIS_URL) the board is where the status views and other receptions
    // read reports; a server still reporting here over HTTP is put there too.
    deps.board?.post(report, Math.max(3000, (report.intervalMs ?? 1000) * 5)).catch((error: unknown) => deps.logger.debug({ err: error }, 'could not put a report on the board'));
    return reply;
  });

  const recordCompletion = intake.recordCompletion;

  app.post<{ Body: Completion }>(CONTROL_PATHS.completions, { schema: { body: completionSchema } }, async (request) => {
    requireServer(request, request.body.serverId);
    // The order may already be final (a repeated completion, or the sweeper got there first):
    // acknowledge either way, so the content server stops resending.
    return { acknowledged: true, changed: await recordCompletion(request.body) };
  });

  // Many completions in one request: a busy content server serving small items would otherwise
  // spend more on reporting completions than on serving.
  app.post<{ Body: { completions: Completion[] } }>(CONTROL_PATHS.completionBatches, {
    schema: {
      body: {
        type: 'object',
        required: ['completions'],
        additionalProperties: false,
        properties: { completions: { type: 'array', maxItems: 500, items: completionSchema } },
      },
    },
  }, async (request) => {
    const serverId = request.body.completions[0]?.serverId;
    if (serverId === undefined) return { acknowledged: 0, changed: 0 };
    requireServer(request, serverId);
    if (request.body.completions.some((c) => c.serverId !== serverId)) throw new TesseraError('unauthorized', 'a batch carries one server\'s completions');
    let changed = 0;
    for (const c of request.body.completions) if (await recordCompletion(c)) changed++;
    return { acknowledged: request.body.completions.length, changed };
  });

  app.addContentTypeParser('application/octet-stream', { bodyLimit: deps.config.maxUploadBytes }, (_request, payload, done) => done(null, payload));

  app.post('/admin/contents', async (request, reply) => {
    requireAdmin(request);
    const header = (name: string): string | undefined => {
      const value = request.headers[name];
      if (typeof value !== 'string') return undefined;
      try {
        return decodeURIComponent(value);
      } catch {
        throw new TesseraError('validation-failed', `${name} is not valid percent-encoding`);
      }
    };
    const fileName = header('x-tessera-file-name');
    if (!fileName) throw new TesseraError('validation-failed', 'x-tessera-file-name is required');
    if (!(request.body && typeof (request.body as Readable).pipe === 'function')) {
      throw new TesseraError('unsupported-media-type', 'send the file as application/octet-stream');
    }
    const content = await deps.files.receive({
      fileName,
      title: header('x-tessera-title'),
      mimeType: header('x-tessera-mime-type'),
      body: request.body as Readable,
      maxBytes: deps.config.maxUploadBytes,
    });
    try {
      await deps.db.catalogue.addContent(content);
    } catch (error) {
      await deps.files.discard(content.id);
      throw error;
    }
    const replicas = await deps.replication.placeEverywhere(content);
    deps.logger.info({ contentId: content.id, size: content.size, replicas }, 'content added');
    return reply.code(201).send({ content: contentJson(content), replicas });
  });

  app.post<{ Body: { graceS?: number } | undefined }>('/admin/keys/rotate', {
    schema: { body: { type: ['object', 'null'], properties: { graceS: { type: 'integer', minimum: 0 } }, additionalProperties: false } },
  }, async (request) => {
    requireAdmin(request);
    const graceS = request.body?.graceS ?? deps.config.keyGraceS;
    const kid = await deps.keyring.rotate(graceS);
    deps.logger.info({ kid, graceS }, 'ticket keys rotated');
    return { activeKid: kid, previousRetiresInS: graceS };
  });

  app.get('/admin/servers', async (request) => {
    requireAdmin(request);
    return deps.servers.status();
  });

  const knownServer = (serverId: string): string => {
    if (!isServerId(serverId)) throw new TesseraError('invalid-id', `'${String(serverId).slice(0, 40)}' is not a content server name (${SERVER_ID_PATTERN.source})`);
    if (!deps.servers.knows(serverId)) {
      const known = deps.servers.list().map((s) => s.serverId);
      throw new TesseraError('server-not-found', `no content server '${serverId}' has reported to this reception${known.length ? `; known: ${known.join(', ')}` : ''}`);
    }
    return serverId;
  };
  const serverParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const;
  /** null for a drained server that has not reported since this reception started. */
  const serverStatus = (id: string): ServerStatus | null => deps.servers.status().servers.find((s) => s.serverId === id) ?? null;

  app.get<{ Params: { id: string } }>('/admin/servers/:id', { schema: { params: serverParams } }, async (request) => {
    requireAdmin(request);
    const id = knownServer(request.params.id);
    return { server: serverStatus(id), drained: deps.servers.isDrained(id) };
  });

  // Drain: the reception stops offering the server new tickets at once; the drain is kept in
  // the database (so it outlives a restart and every reception sees it) and goes to the content
  // server in the reply to its next load report, after which it refuses notices from anyone.
  app.put<{ Params: { id: string } }>('/admin/servers/:id/drain', { schema: { params: serverParams } }, async (request) => {
    requireAdmin(request);
    const id = knownServer(request.params.id);
    const wasDrained = deps.servers.isDrained(id);
    const drain = await unavailableOnFailure(() => deps.db.drains.drain(id, deps.clock.now()));
    deps.servers.drain(id, drain.since);
    if (!wasDrained) deps.logger.info({ serverId: id }, 'content server drained by the operator: no new tickets');
    statusStream.push();
    return { serverId: id, drained: true, changed: !wasDrained, drainedSince: drain.since, server: serverStatus(id) };
  });

  app.delete<{ Params: { id: string } }>('/admin/servers/:id/drain', { schema: { params: serverParams } }, async (request) => {
    requireAdmin(request);
    const id = knownServer(request.params.id);
    const changed = await unavailableOnFailure(() => deps.db.drains.undrain(id));
    deps.servers.undrain(id);
    if (changed) deps.logger.info({ serverId: id }, 'content server undrained by the operator: takes new tickets again');
    // A waiting client may now fit on this server.
    deps.waitingRoom.kick();
    statusStream.push();
    return { serverId: id, drained: false, changed, server: serverStatus(id) };
  });

  // The status page: read-only figures about the content servers, on the control listener
  // only (see docs/operations.md for why), updating live by Server-Sent Events.
  const statusStream = new StatusStream(() => deps.servers.status(), deps.logger);
  app.addHook('preClose', async () => statusStream.close());

  app.get('/status', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').headers(PAGE_SECURITY_HEADERS).header('cache-control', 'no-store').send(renderStatusPage(deps.servers.status())),
  );
  app.get('/status/status.js', async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(STATUS_SCRIPT),
  );
  app.get('/status/events', async (request, reply) => {
    if (!statusStream.hasRoom) throw new TesseraError('unavailable', 'too many status pages are open', { retryAfterS: 10 });
    reply.hijack();
    statusStream.subscribe(request.raw, reply.raw);
  });

  return app;
}

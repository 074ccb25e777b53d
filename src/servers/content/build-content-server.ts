import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Clock } from '../../core/clock.js';
import { completionOnTheWire, CONTROL_PATHS, RECEPTION_ID_PATTERN, type Completion, type LoadReport } from '../../core/control/messages.js';
import type { Logger } from '../../observability/logger.js';
import type { ContentStore } from '../../ports/content-store.js';
import type { ConsumedTicketLedger } from '../../ports/consumed-ticket-ledger.js';
import type { ControlChannel, ControlReply, ControlRequest } from '../../ports/control-channel.js';
import type { LoadReportBoard } from '../../ports/load-report-board.js';
import type { Unsubscribe } from '../../ports/shared-state-capabilities.js';
import { TesseraError } from '../../core/errors.js';
import { isUuid } from '../../core/ids.js';
import { AccelDeliveries } from './accel-deliveries.js';
import { CompletionOutbox } from './completion-outbox.js';
import { DeliveryEvidence } from './delivery-evidence.js';
import type { ContentServerConfig } from './config.js';
import { createContentMetrics } from './content-metrics.js';
import type { ContentServerContext } from './context.js';
import { acceptNotice, createControlPlane, parseNotice } from './control-plane.js';
import { KeyRing } from './key-ring.js';
import { LoadReporter } from './load-reporter.js';
import { createPublicHandler } from './public-plane.js';
import { ReceptionPool } from './reception-pool.js';
import { ServedItems } from './served-item.js';
import { SlotTable, type SlotState } from './slot-table.js';
import { TicketVerifier } from './ticket-verifier.js';
import { TransferPacing } from './transfer-pacing.js';

// The content server role: a public listener (the data plane, raw node:http) and a loopback
// control listener, around one SlotTable. buildContentServer wires the parts from its
// dependencies and listens on nothing; start() listens, stop() drains. Tests build it
// in-process on port 0 with a ManualClock; main.ts is the composition root.

/**
 * Where the reception takes many completions in one request: body `{ completions: Completion[] }`,
 * a 2xx acknowledging all of them. Optional for the reception: on 404/405 the outbox sends them
 * one by one to CONTROL_PATHS.completions.
 */
export const COMPLETION_BATCHES_PATH = CONTROL_PATHS.completionBatches;

export interface ContentServerDeps {
  readonly config: ContentServerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly store: ContentStore;
  /** How often lapsed holds, idle slots and closed windows are swept (ms). */
  readonly sweepIntervalMs?: number;
  /** How long stop() lets running transfers finish before cutting them (ms). */
  readonly stopGraceMs?: number;
  /**
   * Shared state on Redis (TESSERA_REDIS_URL, docs/scale-out.md): load reports go on the board,
   * notices, withdrawals and settings come over the channel, completions go on its stream, and
   * consumed tickets are written through to the ledger. Absent: the embedded HTTP control channel.
   */
  readonly shared?: ContentSharedState;
}

export interface ContentSharedState {
  readonly board: LoadReportBoard;
  readonly ledger: ConsumedTicketLedger;
  readonly channel: ControlChannel;
}

export interface TicketSnapshot {
  readonly ticketId: string;
  readonly orderId: string;
  readonly contentId: string;
  readonly noticed: boolean;
  readonly slot: SlotState;
  readonly openTransfers: number;
  readonly size: number;
  readonly deliveredBytes: number;
  readonly deliveredRanges: readonly { readonly start: number; readonly end: number }[];
  readonly holdUntil: number;
  readonly idleUntil: number;
  readonly closesAt: number;
}

export interface ContentServerSnapshot {
  readonly serverId: string;
  readonly publicUrl: string;
  readonly controlUrl: string;
  readonly capacity: number;
  readonly slotsTaken: number;
  /** Refuses new notices: stopping, or drained by the operator. */
  readonly draining: boolean;
  readonly drainedByOperator: boolean;
  readonly noticeMode: ContentServerConfig['noticeMode'];
  readonly deliveryMode: ContentServerConfig['deliveryMode'];
  /** UDP port of the accel delivery log listener, when there is one. */
  readonly accelLogPort: number | undefined;
  readonly keys: { readonly version: string; readonly kids: readonly number[]; readonly retired: readonly number[] };
  readonly receptionReachable: boolean;
  readonly pendingCompletions: number;
  /** True while the reception takes completions in batches. */
  readonly completionBatches: boolean;
  readonly consumedTickets: number;
  readonly items: number;
  readonly tickets: readonly TicketSnapshot[];
}

export interface ContentServerState {
  readonly slots: SlotTable;
  readonly keys: KeyRing;
  snapshot(): ContentServerSnapshot;
  /** Runs the sweep now (tests with a ManualClock call it after advancing time). */
  sweep(): void;
  /** Sends a load report now and installs any key set in the reply. */
  reportNow(): Promise<void>;
  /** Waits until every completion was acknowledged, or the timeout passes. */
  drainCompletions(timeoutMs: number): Promise<boolean>;
}

export interface ContentServer {
  readonly publicServer: Server;
  readonly controlServer: Server;
  readonly state: ContentServerState;
  start(): Promise<{ publicUrl: string; controlUrl: string }>;
  stop(): Promise<void>;
}

export function buildContentServer(deps: ContentServerDeps): ContentServer {
  const { config, clock, logger, store } = deps;
  const shared = deps.shared;
  const slots = new SlotTable({
    ...(shared
      ? {
          // Write-through: the local table first (it already holds the ticket), then the ledger,
          // so a failure here leaves the ticket refused on this process all the same.
          onConsumed: (ticketId: string, forgetAt: number) => {
            shared.ledger.consume(ticketId, forgetAt).catch((error: unknown) => {
              logger.warn({ ticketId, reason: error instanceof Error ? error.message : String(error) }, 'could not write a consumed ticket to the shared ledger; the local table holds it');
            });
          },
        }
      : {}),
    serverId: config.serverId,
    capacity: config.capacity,
    clockToleranceMs: config.clockToleranceS * 1000,
    idleReleaseMs: config.idleReleaseMs,
    confirmGraceMs: config.deliveryConfirmMs,
    transferRateBps: config.transferRateBps,
  });
  const keys = new KeyRing();
  const verifier = new TicketVerifier({ audience: config.serverId, keys: keys.lookup, clockToleranceS: config.clockToleranceS });
  const metrics = createContentMetrics(deps.metrics, () => slots.taken);
  const reception = new ReceptionPool(config.receptionControlUrls, config.controlToken);
  const requestTimeoutMs = Math.max(2000, Math.min(10_000, config.reportIntervalMs * 2));

  const outbox = new CompletionOutbox(shared ? {
    logger,
    minBatchGapMs: 20,
    // The stream keeps them until a reception has recorded them (at least once).
    send: async (completion) => {
      await shared.channel.completions.append([completionOnTheWire(completion)]);
      return true;
    },
    sendBatch: async (completions) => {
      await shared.channel.completions.append(completions.map(completionOnTheWire));
      return 'acknowledged';
    },
  } : {
    logger,
    minBatchGapMs: 20,
    // Each completion to the reception that sent its notice (reception-pool.ts).
    send: async (completion) => {
      const reply = await reception.postJson(CONTROL_PATHS.completions, completionOnTheWire(completion), requestTimeoutMs, completion.issuedBy);
      return reply.status >= 200 && reply.status < 300;
    },
    sendBatch: async (completions) => {
      const byIssuer = new Map<string | undefined, Completion[]>();
      for (const c of completions) {
        const part = byIssuer.get(c.issuedBy);
        if (part) part.push(c);
        else byIssuer.set(c.issuedBy, [c]);
      }
      // All or nothing: a refused part sends the whole batch again, which is safe (a repeated
      // completion is acknowledged and changes nothing).
      const replies = await Promise.all(
        [...byIssuer].map(([issuer, part]) => reception.postJson(COMPLETION_BATCHES_PATH, { completions: part.map(completionOnTheWire) }, requestTimeoutMs, issuer)),
      );
      if (replies.some((reply) => reply.status === 404 || reply.status === 405)) return 'unsupported';
      return replies.every((reply) => reply.status >= 200 && reply.status < 300) ? 'acknowledged' : 'refused';
    },
  });

  let publicUrl = config.publicUrl ?? '';
  let controlUrl = '';
  /** stop() was called: no new notices, ever. */
  let draining = false;
  /** The reception says the operator drained this server (`tessera drain`); it may undo it. */
  let drainedByOperator = false;
  /** Settings last applied from a server-settings request (Redis channel). */
  const applyDrain = (drained: boolean): void => {
    if (drained === drainedByOperator) return;
    drainedByOperator = drained;
    logger.info({ serverId: config.serverId }, drained ? 'drained by the operator: refusing new notices, finishing transfers' : 'undrained by the operator: taking new notices');
    // The receptions count this server out until a report says it drains no more.
    reporter.nudge();
  };
  const installKeySet = (keySet: unknown): void => {
    try {
      if (keys.install(keySet)) {
        // Cached verdicts may rest on a key that is now retired.
        verifier.clear();
        logger.info({ keySetVersion: keys.version, kids: keys.kids, retired: keys.retiredKids }, 'installed ticket keys');
      }
    } catch (error) {
      logger.warn({ reason: error instanceof Error ? error.message : String(error) }, 'ignored a malformed key set from the reception');
    }
  };
  let seq = 0;
  let lastReportAt = clock.now();
  let lastReportBytes = 0;
  const sweepIntervalMs = deps.sweepIntervalMs ?? 250;

  const buildReport = (): LoadReport => {
    const now = clock.now();
    const elapsed = now - lastReportAt;
    const bytesPerSecond = elapsed > 0 ? Math.round(((metrics.stats.bytesServed - lastReportBytes) * 1000) / elapsed) : 0;
    lastReportAt = now;
    lastReportBytes = metrics.stats.bytesServed;
    const memory = process.memoryUsage();
    return {
      serverId: config.serverId,
      publicUrl,
      controlUrl,
      location: { area: config.area, cost: config.cost },
      capacity: slots.capacity,
      slotsTaken: slots.taken,
      activeTransfers: metrics.stats.activeTransfers,
      bytesPerSecond,
      memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
      slots: slots.slotReports(now),
      keySetVersion: keys.version,
      sentAt: now,
      seq: ++seq,
      intervalMs: config.reportIntervalMs,
      draining: draining || drainedByOperator,
      transferRateLimit: config.transferRateBps,
    };
  };

  const reporter = new LoadReporter({
    intervalMs: config.reportIntervalMs,
    // A freed slot is what the reception's waiting line waits for: tell it at once, but send at
    // most one extra report per 50 ms however many slots change.
    minGapMs: Math.min(50, config.reportIntervalMs),
    slotChanges: config.reportOnChange,
    logger,
    buildReport,
    send: async (report) => {
      if (shared) {
        // On the board until a few intervals pass without a newer one: the receptions decide
        // staleness by themselves (server-health.ts); this only bounds what Redis keeps.
        await shared.board.post(report, Math.max(3000, config.reportIntervalMs * 5));
        return [{ url: 'redis', reply: { status: 200, body: undefined } }];
      }
      const answers = await reception.broadcast(CONTROL_PATHS.loadReports, report, requestTimeoutMs);
      for (const { url, reply } of answers) {
        const name = reply?.status === 200 ? receptionNameIn(reply.body) : undefined;
        if (name !== undefined) reception.learnName(url, name);
      }
      // Drained while any reception that answered says so: receptions share the drains through
      // their database but reread it only every few seconds, and one that has not yet must not
      // undo another's drain.
      const said = answers.map((a) => drainIn(a.reply?.status === 200 ? a.reply.body : undefined)).filter((d) => d !== undefined);
      applyDrain(said.length > 0 ? said.includes(true) : drainedByOperator);
      return answers;
    },
    onReply: (reply) => {
      const body = reply.body;
      if (typeof body !== 'object' || body === null || !('keySet' in body) || body.keySet === undefined) return;
      installKeySet(body.keySet);
    },
  });

  const ended = (completion: Completion): void => {
    metrics.completed(completion.outcome);
    outbox.enqueue(completion);
    if (logger.isLevelEnabled('debug')) logger.debug({ ticketId: completion.ticketId, outcome: completion.outcome, bytes: completion.bytesDelivered }, 'ticket ended');
    reporter.slotsChanged();
  };

  const accel =
    config.deliveryMode === 'accel' && config.accelLogPort !== undefined
      ? new AccelDeliveries({
          slots,
          clock,
          logger,
          ended,
          onBytes: (bytes) => (metrics.stats.bytesServed += bytes),
          onTransferEnd: () => {
            metrics.stats.activeTransfers--;
            reporter.slotsChanged();
          },
        })
      : undefined;

  const ctx: ContentServerContext = {
    config,
    clock,
    logger,
    metrics,
    store,
    slots,
    keys,
    verifier,
    served: new ServedItems(config.deliveryMode === 'node'),
    evidence: new DeliveryEvidence({
      slots,
      clock,
      confirmAfterMs: config.deliveryConfirmMs,
      ended,
      slotReleased: () => reporter.slotsChanged(),
    }),
    // In accel mode nginx sends the bytes and paces them (X-Accel-Limit-Rate).
    pacing: config.transferRateBps > 0 && config.deliveryMode === 'node' ? new TransferPacing(config.transferRateBps) : undefined,
    accel,
    ended,
    ledger: shared?.ledger,
    slotsChanged() {
      reporter.slotsChanged();
    },
    get draining() {
      return draining || drainedByOperator;
    },
  };

  let accelLogPort: number | undefined;

  let dueTimer: NodeJS.Timeout | undefined;
  let dueTimerAt = Number.POSITIVE_INFINITY;
  let lastDueSwept = Number.NaN;
  const sweep = (): void => {
    const before = slots.taken;
    const now = clock.now();
    ctx.evidence.sweep(now);
    accel?.sweep(now);
    for (const completion of slots.sweep(now)) ctx.ended(completion);
    if (slots.taken !== before) reporter.slotsChanged();
    // A hold or idle delay that lapses before the next regular sweep is swept when it lapses,
    // so the reception hears of the freed slot at once rather than up to a sweep interval late.
    const due = slots.nextSlotDueAt;
    // (`due !== lastDueSwept`: a clock that does not move, in tests, must not re-arm it forever.)
    if (sweeper !== undefined && due - now < sweepIntervalMs && due < dueTimerAt && due !== lastDueSwept) {
      clearTimeout(dueTimer);
      dueTimerAt = due;
      dueTimer = setTimeout(() => {
        dueTimer = undefined;
        dueTimerAt = Number.POSITIVE_INFINITY;
        lastDueSwept = due;
        sweep();
      }, Math.max(0, due - now) + 1);
      dueTimer.unref();
    }
  };

  const snapshot = (): ContentServerSnapshot => ({
    serverId: config.serverId,
    publicUrl,
    controlUrl,
    capacity: slots.capacity,
    slotsTaken: slots.taken,
    draining: draining || drainedByOperator,
    drainedByOperator,
    noticeMode: config.noticeMode,
    deliveryMode: config.deliveryMode,
    accelLogPort,
    keys: { version: keys.version, kids: keys.kids, retired: keys.retiredKids },
    receptionReachable: reporter.reachable,
    pendingCompletions: outbox.pending,
    completionBatches: outbox.batching,
    consumedTickets: slots.consumedCount,
    items: store.list().length,
    tickets: [...slots.records()].map((r) => ({
      ticketId: r.ticketId,
      orderId: r.orderId,
      contentId: r.contentId,
      noticed: r.noticed,
      slot: r.slot,
      openTransfers: r.openTransfers,
      size: r.size,
      deliveredBytes: r.delivered.bytes,
      deliveredRanges: r.delivered.toArray(),
      holdUntil: r.holdUntil,
      idleUntil: r.idleUntil,
      closesAt: r.closesAt,
    })),
  });

  const publicServer = createServer({ noDelay: true }, createPublicHandler(ctx, deps.metrics));
  // A client that stops reading holds its slot; after this long without progress it is cut.
  publicServer.timeout = 120_000;
  publicServer.keepAliveTimeout = 30_000;
  publicServer.headersTimeout = 35_000;
  const control = createControlPlane(ctx, snapshot);
  const controlServer = createServer({ noDelay: true }, (req, res) => control.handle(req, res));
  // Replica uploads can be large; the control listener is loopback and authenticated.
  controlServer.requestTimeout = 0;

  let sweeper: NodeJS.Timeout | undefined;

  /** Requests from the receptions over the shared channel: what the HTTP control routes do. */
  const handleControl = async (request: ControlRequest): Promise<ControlReply> => {
    try {
      switch (request.kind) {
        case 'notice': {
          const accepted = acceptNotice(ctx, parseNotice(request.notice));
          return { kind: 'notice-accepted', accepted };
        }
        case 'withdraw-notice': {
          if (!isUuid(request.ticketId)) throw new TesseraError('invalid-id', 'ticket id is not a lowercase UUID');
          if (!slots.withdrawNotice(request.ticketId)) throw new TesseraError('not-found', 'no notice for this ticket');
          ctx.slotsChanged();
          return { kind: 'done' };
        }
        case 'server-settings': {
          if (request.settings.keySet !== undefined) installKeySet(request.settings.keySet);
          if (typeof request.settings.drain === 'boolean') applyDrain(request.settings.drain);
          return { kind: 'done' };
        }
        default:
          throw new TesseraError('validation-failed', 'unknown control request');
      }
    } catch (error) {
      if (error instanceof TesseraError) return { kind: 'refused', code: error.code, detail: error.message };
      throw error;
    }
  };
  let stopServing: Unsubscribe | undefined;
  let unwatchLedger: (() => void) | undefined;

  return {
    publicServer,
    controlServer,
    state: {
      slots,
      keys,
      snapshot,
      sweep,
      reportNow: () => reporter.reportNow(),
      drainCompletions: (timeoutMs) => outbox.drain(timeoutMs),
    },

    async start() {
      await listen(controlServer, config.controlPort, config.controlHost);
      if (accel && config.accelLogPort !== undefined) accelLogPort = await accel.listen(config.accelLogPort, config.controlHost);
      await listen(publicServer, config.publicPort, config.publicHost);
      controlUrl = `http://${hostForUrl(config.controlHost)}:${(controlServer.address() as AddressInfo).port}`;
      if (publicUrl === '') publicUrl = `http://${hostForUrl(config.publicHost)}:${(publicServer.address() as AddressInfo).port}`;
      sweeper = setInterval(sweep, sweepIntervalMs);
      sweeper.unref();
      if (shared) {
        stopServing = await shared.channel.serve(config.serverId, handleControl);
        // Redis restarted empty: put back every ticket this process holds as used up.
        unwatchLedger = shared.ledger.onLost(() => {
          const entries = slots.consumedEntries();
          shared.ledger.addAll(entries).then(
            () => logger.info({ tickets: entries.length }, 'refilled the shared ledger after its store lost it'),
            (error: unknown) => logger.warn({ err: error }, 'could not refill the shared ledger; it answers unknown until its refill window closes'),
          );
        });
      }
      reporter.start();
      logger.info(
        { serverId: config.serverId, publicUrl, controlUrl, capacity: config.capacity, noticeMode: config.noticeMode, deliveryMode: config.deliveryMode, items: store.list().length },
        'content server listening',
      );
      return { publicUrl, controlUrl };
    },

    async stop() {
      draining = true;
      // Tell the reception first, so it stops sending notices here.
      await Promise.race([reporter.reportNow(), delay(1000)]);
      reporter.stop();
      const publicClosed = close(publicServer);
      publicServer.closeIdleConnections();
      const graceUntil = Date.now() + (deps.stopGraceMs ?? 10_000);
      while (metrics.stats.activeTransfers > 0 && Date.now() < graceUntil) await delay(50);
      publicServer.closeAllConnections();
      await publicClosed;
      clearInterval(sweeper);
      sweeper = undefined;
      clearTimeout(dueTimer);
      sweep();
      ctx.evidence.close();
      ctx.pacing?.close();
      await outbox.drain(3000);
      outbox.stop();
      unwatchLedger?.();
      await stopServing?.();
      const controlClosed = close(controlServer);
      controlServer.closeAllConnections();
      await controlClosed;
      accel?.close();
      reception.close();
      logger.info({ serverId: config.serverId }, 'content server stopped');
    },
  };
}

/** The `drain` of a load report's reply (LoadReportReply), when it has one. */
function drainIn(body: unknown): boolean | undefined {
  return typeof body === 'object' && body !== null && 'drain' in body && typeof body.drain === 'boolean' ? body.drain : undefined;
}

/** The `receptionId` of a load report's reply (LoadReportReply), when it has a well-formed one. */
function receptionNameIn(body: unknown): string | undefined {
  const name = typeof body === 'object' && body !== null && 'receptionId' in body ? body.receptionId : undefined;
  return typeof name === 'string' && RECEPTION_ID_PATTERN.test(name) ? name : undefined;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

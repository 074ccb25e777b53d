import { randomInt } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import { openPersistence } from '../../adapters/sql/open-persistence.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { createPolicy } from '../../core/selection/create-policy.js';
import { seededRandom } from '../../core/selection/seeded-random.js';
import { createLogger, type Logger } from '../../observability/logger.js';
import { createMetricsRegistry } from '../../observability/metrics.js';
import type { Persistence } from '../../ports/persistence.js';
import { loadReceptionConfig, receptionIdOf, type ReceptionConfig } from './config.js';
import { ContentServerClient } from './content-server-client.js';
import { buildControlApp } from './control-app.js';
import { CatalogueFiles } from './ingest.js';
import { Keyring } from './keyring.js';
import { createReceptionMetrics } from './metrics.js';
import { Ordering } from './ordering.js';
import { buildPublicApp } from './public-app.js';
import { Replication } from './replication.js';
import { ServerRegistry } from './server-registry.js';
import { Sweeper } from './sweeper.js';
import { WaitingRoom } from './waiting-room.js';
import { sharedRevocations } from './revocation-log.js';
import { RateLimiter } from '../../core/rate-limit.js';
import { derivePurposeSecret } from '../../core/ticket/ticket-keys.js';
import { openSharedState } from '../../adapters/shared-state/open-shared-state.js';
import { receptionSeal } from '../../adapters/redis/seal-from-control-token.js';
import type { LoadReport, LoadReportReply } from '../../core/control/messages.js';
import { TesseraError } from '../../core/errors.js';
import { createControlIntake } from './control-app.js';
import type { ControlChannel } from '../../ports/control-channel.js';
import type { LoadReportBoard } from '../../ports/load-report-board.js';

// The reception's composition root: the only place that reads configuration, picks adapters
// and listens.

export interface RunningReception {
  readonly publicUrl: string;
  readonly controlUrl: string;
  readonly publicApp: FastifyInstance;
  readonly controlApp: FastifyInstance;
  readonly db: Persistence;
  stop(): Promise<void>;
}

export async function startReception(
  config: ReceptionConfig,
  options: { clock?: Clock; logger?: Logger } = {},
): Promise<RunningReception> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ name: 'reception' });
  const db = await openPersistence(config.databaseUrl);
  const registry = createMetricsRegistry('reception', 'reception');
  const metrics = createReceptionMetrics(registry);
  const servers = new ServerRegistry(clock, {
    staleness: { missedReports: config.missedReports, minStaleMs: config.minStaleMs, maxStaleMs: config.staleAfterMs },
  });
  // The operator's drains outlive a restart: without them a drained server would get tickets
  // again as soon as it reported.
  servers.setDrains(await db.drains.list());
  new Gauge({
    name: 'tessera_content_servers',
    help: 'Content servers by health (healthy, draining, drained, stale)',
    labelNames: ['health'],
    registers: [registry],
    collect() {
      for (const [health, count] of Object.entries(servers.countByHealth())) this.set({ health }, count);
    },
  });
  const keyring = new Keyring(db.keys, config.rootSecret, clock);
  await keyring.start();
  // Shared state and the control channel on Redis when TESSERA_REDIS_URL is set
  // (docs/scale-out.md); the embedded HTTP control channel and the database's line otherwise.
  const sharedState =
    config.redisUrl === undefined
      ? undefined
      : openSharedState({
          redisUrl: config.redisUrl,
          ...(config.redisPrefix === undefined ? {} : { prefix: config.redisPrefix }),
          clock,
          seal: receptionSeal(config.rootSecret),
          onError: (error) => logger.warn({ reason: error instanceof Error ? error.message : String(error) }, 'shared state (Redis)'),
        });
  const shared = sharedState && {
    board: await sharedState.board(),
    channel: await sharedState.channel(),
    ledger: await sharedState.ledger(),
    line: await sharedState.line(),
  };
  const contentServers = new ContentServerClient(config.rootSecret, 2000, shared?.channel);
  const files = new CatalogueFiles(config.dataDir, clock);
  const replication = new Replication(db, files, servers, contentServers, clock, logger);
  // Seeded once per process from the system's generator, so that several receptions reading the
  // same stale reports do not draw the same pairs. The policy's stale bound is the ceiling: the
  // registry already leaves out each server after the silence its own announced interval allows
  // (a bound below a 5 s report interval would take live servers out before every report).
  const policy = createPolicy(config.selectionPolicy, {
    clock,
    random: seededRandom(randomInt(2 ** 32)),
    staleAfterMs: config.staleAfterMs,
    equalLoadBand: config.equalLoadBand,
  });
  const ledger = shared?.ledger;
  // A replaced ticket is refused by every content server that shares the ledger, and put back
  // in it if its store loses it.
  const revocations = ledger?.capabilities.crossProcess ? sharedRevocations(ledger, clock, logger) : undefined;
  const ordering = new Ordering({
    config,
    clock,
    db,
    servers,
    policy,
    contentServers,
    keyring,
    metrics,
    logger,
    ...(revocations ? { revokeTicket: revocations.revoke } : {}),
  });
  const sweeper = new Sweeper(db, clock, logger, config.clockToleranceS * 1000 + 30_000);
  const waitingRoom = new WaitingRoom({
    clock,
    db,
    ordering,
    servers,
    queueKey: derivePurposeSecret(config.rootSecret, 'queue-token'),
    metrics,
    logger,
    // A client admitted while away must find its slot still held when it is due back.
    settings: { graceMs: config.queueGraceS * 1000, maxLine: config.queueMax, maxSleepMs: Math.max(1000, Math.min(60_000, config.holdS * 1000 - 5000)) },
    ...(shared ? { sharedLine: shared.line, receptionId: receptionIdOf(config) } : {}),
  });
  const rateLimiter = new RateLimiter({ ratePerS: config.orderRatePerS, burst: config.orderBurst, maxKeys: 100_000 });

  const publicApp = await buildPublicApp({
    db,
    waitingRoom,
    ordering,
    rateLimiter,
    clock,
    servers,
    registry,
    metrics,
    logger,
    trustProxy: config.trustProxy,
  });
  const controlDeps = { config, clock, db, servers, keyring, files, replication, waitingRoom, metrics, logger };
  const controlApp = await buildControlApp({ ...controlDeps, ...(shared?.board.capabilities.crossProcess ? { board: shared.board } : {}) });
  let controlAddress: string;
  let publicAddress: string;
  try {
    controlAddress = await controlApp.listen({ host: config.controlHost, port: config.controlPort });
    // A flash crowd opens thousands of connections at once; Node's default backlog (511) resets them.
    publicAddress = await publicApp.listen({ host: config.publicHost, port: config.publicPort, backlog: 4096 });
  } catch (error) {
    // A port taken: close what is open, so that nothing half-started holds the other port.
    await Promise.allSettled([publicApp.close(), controlApp.close()]);
    await sharedState?.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw error;
  }

  // Other receptions may rotate keys: pick their epochs up.
  const keyRefresh = setInterval(() => void keyring.refresh().catch((e: unknown) => logger.warn({ err: e }, 'key refresh failed')), 10_000);
  keyRefresh.unref();
  // ...and drain or undrain servers.
  const drainRefresh = setInterval(() => {
    const version = servers.drainsVersion;
    db.drains.list().then((d) => servers.setDrains(d, version), (e: unknown) => logger.warn({ err: e }, 'drain refresh failed'));
  }, 2000);
  drainRefresh.unref();
  sweeper.start(10_000);
  waitingRoom.start();
  const stopShared = shared ? await wireSharedState(shared, createControlIntake(controlDeps), { config, db, servers, contentServers, keyring, logger }) : undefined;
  logger.info({ publicUrl: publicAddress, controlUrl: controlAddress, selectionPolicy: policy.name }, 'reception listening');

  return {
    publicUrl: publicAddress,
    controlUrl: controlAddress,
    publicApp,
    controlApp,
    db,
    async stop() {
      clearInterval(keyRefresh);
      clearInterval(drainRefresh);
      sweeper.stop();
      waitingRoom.stop();
      revocations?.stop();
      await stopShared?.();
      await publicApp.close();
      await controlApp.close();
      await sharedState?.close();
      await db.close();
    },
  };
}

export async function runReceptionFromEnv(env: NodeJS.ProcessEnv): Promise<RunningReception> {
  const config = loadReceptionConfig(env);
  return startReception(config);
}

interface SharedParts {
  readonly board: LoadReportBoard;
  readonly channel: ControlChannel;
}

/**
 * The reception's side of the shared state (docs/scale-out.md, "Wiring"): load reports come from
 * the board, each server is sent its settings (key set, drain) over the channel when its report
 * shows it lacks them, and completions are taken from the channel's stream as this reception's
 * consumer, while every completion appended frees its slot in this reception's view. Returns
 * what stops it all.
 */
async function wireSharedState(
  shared: SharedParts,
  intake: ReturnType<typeof createControlIntake>,
  deps: {
    readonly config: ReceptionConfig;
    readonly db: Persistence;
    readonly servers: ServerRegistry;
    readonly contentServers: ContentServerClient;
    readonly keyring: Keyring;
    readonly logger: Logger;
  },
): Promise<() => Promise<void>> {
  const { servers, contentServers, logger } = deps;
  /** The settings last sent to each server, and when: the same ones are not sent again for a while. */
  const sent = new Map<string, { key: string; at: number }>();
  const settingsOf = async (report: LoadReport, reply: LoadReportReply): Promise<LoadReportReply | undefined> => {
    /** The server already holds these settings. */
    const held = (s: LoadReportReply): boolean => s.keySet === undefined && s.drain === report.draining;
    let settings = reply;
    if (held(settings)) return undefined;
    if (settings.keySet !== undefined) {
      // The server holds another key set than this reception: another reception may have
      // rotated the keys since this one last read them. Read them first, so two receptions
      // never hand a server key sets back and forth.
      await deps.keyring.refresh();
      settings = deps.keyring.keySetVersion() === report.keySetVersion ? { drain: settings.drain } : { ...settings, keySet: deps.keyring.keySetFor(report.serverId) };
      if (held(settings)) return undefined;
    }
    if (settings.drain !== report.draining) {
      // The server's drain differs from what this reception holds: another reception may have
      // drained or undrained it since this one last read the drains. Read them before sending,
      // so two receptions never hand a server its drain back and forth. (A server that says
      // "draining" with no drain recorded is stopping; being told "no drain" changes nothing there.)
      const version = servers.drainsVersion;
      servers.setDrains(await deps.db.drains.list(), version);
      settings = { ...settings, drain: servers.isDrained(report.serverId) };
      if (held(settings)) return undefined;
    }
    return settings;
  };
  const onReport = (report: LoadReport): void => {
    const reply = intake.takeReport(report);
    void settingsOf(report, reply)
      .then(async (settings) => {
        if (settings === undefined) return;
        const key = `${settings.keySet?.version ?? '-'}|${String(settings.drain)}`;
        const last = sent.get(report.serverId);
        const now = Date.now();
        if (last && last.key === key && now - last.at < 2000) return;
        sent.set(report.serverId, { key, at: now });
        if (!(await contentServers.sendSettings(report.serverId, settings))) sent.delete(report.serverId);
      })
      .catch((error: unknown) => logger.warn({ err: error, serverId: report.serverId }, 'could not send a content server its settings'));
  };
  const unsubscribe = await shared.board.subscribe((posted) => onReport(posted.report));
  for (const posted of await shared.board.list()) onReport(posted.report);
  // Every completion's slot, as soon as it is appended: the consumer group below gives each
  // completion to one reception only, and the one that sent its notice must hear it too.
  const stopWatching = await shared.channel.completions.watch((batch) => intake.noteSlotsEnded(batch));
  const stopConsuming = await shared.channel.completions.consume(receptionIdOf(deps.config), async (batch) => {
    for (const c of batch) {
      try {
        await intake.recordCompletion(c);
      } catch (error) {
        // A malformed completion can never be recorded: acknowledge it rather than retry forever.
        if (error instanceof TesseraError && error.code === 'invalid-id') {
          logger.warn({ ticketId: String(c.ticketId).slice(0, 40) }, 'dropped a completion with a malformed ID');
          continue;
        }
        throw error;
      }
    }
  });
  return async () => {
    await unsubscribe();
    await stopWatching();
    await stopConsuming();
  };
}

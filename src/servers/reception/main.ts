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
import { loadReceptionConfig, type ReceptionConfig } from './config.js';
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
import { RateLimiter } from '../../core/rate-limit.js';
import { derivePurposeSecret } from '../../core/ticket/ticket-keys.js';

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
  const contentServers = new ContentServerClient(config.rootSecret);
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
  const ordering = new Ordering({ config, clock, db, servers, policy, contentServers, keyring, metrics, logger });
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
    trustProxy: process.env['TESSERA_TRUST_PROXY'] === 'true',
  });
  const controlApp = await buildControlApp({ config, clock, db, servers, keyring, files, replication, waitingRoom, metrics, logger });
  const controlAddress = await controlApp.listen({ host: config.controlHost, port: config.controlPort });
  // A flash crowd opens thousands of connections at once; Node's default backlog (511) resets them.
  const publicAddress = await publicApp.listen({ host: config.publicHost, port: config.publicPort, backlog: 4096 });

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
      await publicApp.close();
      await controlApp.close();
      await db.close();
    },
  };
}

export async function runReceptionFromEnv(env: NodeJS.ProcessEnv): Promise<RunningReception> {
  const config = loadReceptionConfig(env);
  return startReception(config);
}

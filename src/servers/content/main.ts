import { DiskContentStore } from '../../adapters/disk/content-store.js';
import { openSharedState } from '../../adapters/shared-state/open-shared-state.js';
import { contentServerSeal } from '../../adapters/redis/seal-from-control-token.js';
import { systemClock } from '../../core/clock.js';
import { createLogger, type Logger } from '../../observability/logger.js';
import { createMetricsRegistry } from '../../observability/metrics.js';
import { buildContentServer, type ContentServer } from './build-content-server.js';
import { ConfigError, loadContentServerConfig, type ContentServerConfig } from './config.js';

// Composition root of the content server: the only place that reads configuration, picks the
// adapters (local disk store, system clock, pino, prom-client) and listens.
// `tessera serve content` calls runContentServerFromEnv(process.env).

export { loadContentServerConfig, ConfigError, type ContentServerConfig };

export interface RunningContentServer {
  readonly server: ContentServer;
  readonly publicUrl: string;
  readonly controlUrl: string;
  readonly logger: Logger;
  stop(): Promise<void>;
}

export async function startContentServer(config: ContentServerConfig, logger?: Logger): Promise<RunningContentServer> {
  const log = logger ?? createLogger({ name: `content:${config.serverId}` });
  const store = await DiskContentStore.open(config.storeDir, {
    onSkipped: (file, reason) => log.warn({ file, reason }, 'skipped a file in the content store'),
  });
  // Shared state on Redis when TESSERA_REDIS_URL is set (docs/scale-out.md); the embedded HTTP
  // control channel otherwise. The seal holds this server's key alone: it speaks for itself only.
  const sharedState =
    config.redisUrl === undefined
      ? undefined
      : openSharedState({
          redisUrl: config.redisUrl,
          ...(config.redisPrefix === undefined ? {} : { prefix: config.redisPrefix }),
          clock: systemClock,
          seal: contentServerSeal(config.controlToken),
          onError: (error) => log.warn({ reason: error instanceof Error ? error.message : String(error) }, 'shared state (Redis)'),
        });
  const shared = sharedState && { board: await sharedState.board(), ledger: await sharedState.ledger(), channel: await sharedState.channel() };
  const server = buildContentServer({
    config,
    clock: systemClock,
    logger: log,
    metrics: createMetricsRegistry('content', config.serverId),
    store,
    ...(shared ? { shared } : {}),
  });
  let started: { publicUrl: string; controlUrl: string };
  try {
    started = await server.start();
  } catch (error) {
    await sharedState?.close();
    throw error;
  }
  const { publicUrl, controlUrl } = started;
  let stopping: Promise<void> | undefined;
  return {
    server,
    publicUrl,
    controlUrl,
    logger: log,
    stop: () =>
      (stopping ??= server.stop().finally(() => sharedState?.close())),
  };
}

/**
 * Starts a content server configured by the environment (see docs/content-server.md). Throws
 * ConfigError, naming every bad setting, before anything listens. The caller owns the signals:
 * `tessera serve content` awaits SIGINT/SIGTERM and then calls stop(), which drains gracefully
 * (no new notices, running transfers finish, pending completions get a last chance).
 */
export async function runContentServerFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<RunningContentServer> {
  return startContentServer(loadContentServerConfig(env));
}

import { DiskContentStore } from '../../adapters/disk/content-store.js';
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
  const server = buildContentServer({
    config,
    clock: systemClock,
    logger: log,
    metrics: createMetricsRegistry('content', config.serverId),
    store,
  });
  const { publicUrl, controlUrl } = await server.start();
  let stopping: Promise<void> | undefined;
  return {
    server,
    publicUrl,
    controlUrl,
    logger: log,
    stop: () => (stopping ??= server.stop()),
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

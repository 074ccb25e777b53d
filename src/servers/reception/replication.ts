import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { ContentRecord, Persistence } from '../../ports/persistence.js';
import type { CatalogueFiles } from './ingest.js';
import type { ContentServerClient } from './content-server-client.js';
import type { ServerRegistry } from './server-registry.js';

// Places a replica of every catalogue item on every content server (R11): at ingest time on
// the servers that are live, and when a server (re)appears, whatever it is missing.

export class Replication {
  readonly #inFlight = new Set<string>();

  constructor(
    private readonly db: Persistence,
    private readonly files: CatalogueFiles,
    private readonly servers: ServerRegistry,
    private readonly client: ContentServerClient,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Places one item on every live server; returns the servers that now hold it. */
  async placeEverywhere(content: ContentRecord): Promise<string[]> {
    const placed: string[] = [];
    await Promise.all(
      this.servers.liveServerIds().map(async (serverId) => {
        if (await this.#place(serverId, content)) placed.push(serverId);
      }),
    );
    return placed.sort();
  }

  /** Brings one server up to date with the catalogue, in the background. */
  syncServer(serverId: string): void {
    if (this.#inFlight.has(serverId)) return;
    this.#inFlight.add(serverId);
    void (async () => {
      try {
        for (const content of await this.db.catalogue.listContents()) {
          const holders = await this.db.catalogue.replicaServers(content.id);
          if (!holders.includes(serverId)) await this.#place(serverId, content);
        }
      } catch (error) {
        this.logger.warn({ err: error, serverId }, 'replica sync failed; it is retried when the server next reappears');
      } finally {
        this.#inFlight.delete(serverId);
      }
    })();
  }

  async #place(serverId: string, content: ContentRecord): Promise<boolean> {
    const server = this.servers.get(serverId);
    if (!server) return false;
    try {
      await this.client.placeReplica(serverId, server.controlUrl, content, this.files.pathOf(content.id));
      await this.db.catalogue.addReplica(content.id, serverId, this.clock.now());
      return true;
    } catch (error) {
      this.logger.warn({ err: error, serverId, contentId: content.id }, 'could not place a replica');
      return false;
    }
  }
}

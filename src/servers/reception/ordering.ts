import type { Clock } from '../../core/clock.js';
import { ticketUrl } from '../../core/content-location.js';
import type { Notice } from '../../core/control/messages.js';
import { TesseraError } from '../../core/errors.js';
import { isUuid, newId } from '../../core/ids.js';
import { addressToBytes, isIPv4Mapped } from '../../core/ip-address.js';
import { rankServers } from '../../core/selection.js';
import { mintTicket, type ClientBinding } from '../../core/ticket/ticket.js';
import type { Logger } from '../../observability/logger.js';
import type { ContentRecord, OrderRecord, Persistence } from '../../ports/persistence.js';
import type { ReceptionConfig } from './config.js';
import type { ContentServerClient } from './content-server-client.js';
import type { Keyring } from './keyring.js';
import type { ReceptionMetrics } from './metrics.js';
import type { ServerRegistry } from './server-registry.js';

// Placing an order (R1–R6): write the order, pick the least-loaded server that holds the item,
// take a slot there with the notice of issuance (the allocation check, R4), record the ticket,
// and only then hand the ticket URL back.

export interface PlacedOrder {
  readonly order: OrderRecord;
  readonly content: ContentRecord;
  readonly ticketUrl: string;
  readonly serverId: string;
  readonly notBefore: number;
  readonly expiresAt: number;
  readonly maxConnections: number;
}

export interface OrderingDeps {
  readonly config: ReceptionConfig;
  readonly clock: Clock;
  readonly db: Persistence;
  readonly servers: ServerRegistry;
  readonly contentServers: ContentServerClient;
  readonly keyring: Keyring;
  readonly metrics: ReceptionMetrics;
  readonly logger: Logger;
}

export class Ordering {
  readonly #d: OrderingDeps;

  constructor(deps: OrderingDeps) {
    this.#d = deps;
  }

  async place(contentId: string, clientAddress: string | undefined): Promise<PlacedOrder> {
    const d = this.#d;
    if (!isUuid(contentId)) throw new TesseraError('invalid-id', 'contentId must be a UUID');
    const content = await unavailableOnFailure(() => d.db.catalogue.getContent(contentId));
    if (!content) throw new TesseraError('content-not-found', `no content ${contentId}`);

    const order = await unavailableOnFailure(() =>
      d.db.orders.createOrder({ id: newId(), contentId, clientAddress: clientAddress ?? null, createdAt: d.clock.now() }),
    );
    const holders = await unavailableOnFailure(() => d.db.catalogue.replicaServers(contentId));
    const ranked = rankServers(d.servers.candidates(holders), d.clock.now(), {
      equalLoadBand: 0.1,
      staleAfterMs: d.config.staleAfterMs,
    });
    if (ranked.length === 0) {
      const anyLive = holders.some((id) => d.servers.get(id)?.live);
      const code = anyLive ? 'all-servers-busy' : 'no-server-holds-content';
      await this.#reject(order.id, code);
      throw new TesseraError(code, undefined, { retryAfterS: 2 });
    }

    for (const serverId of ranked) {
      const server = d.servers.get(serverId);
      if (!server) continue;
      const now = d.clock.now();
      const notBefore = Math.floor(now / 1000);
      const expiresAt = notBefore + d.config.ticketTtlS;
      const ticketId = newId();
      const notice: Notice = {
        ticketId,
        orderId: order.id,
        contentId,
        notBefore: notBefore * 1000,
        expiresAt: expiresAt * 1000,
        holdUntil: now + d.config.holdS * 1000,
        maxConnections: d.config.maxConnectionsPerTicket,
      };
      const outcome = await d.contentServers.sendNotice(serverId, server.controlUrl, notice);
      if (outcome.kind === 'refused') {
        d.metrics.noticesRefused.inc({ server: serverId, reason: outcome.code });
        d.logger.info({ serverId, orderId: order.id, reason: outcome.code }, 'notice refused; trying the next server');
        continue;
      }
      d.servers.noteNotice(serverId);
      const ticket = mintTicket(
        {
          ticketId,
          orderId: order.id,
          contentId,
          audience: serverId,
          notBefore,
          expiresAt,
          maxConnections: d.config.maxConnectionsPerTicket,
          client: this.#binding(clientAddress),
        },
        d.keyring.mintingKey(serverId, server.report.keySetVersion),
      );
      let ticketed: OrderRecord | undefined;
      try {
        ticketed = await d.db.orders.markTicketed(order.id, { serverId, ticketId, ticketNotBefore: notBefore * 1000, ticketExpiresAt: expiresAt * 1000, at: d.clock.now() });
      } catch (error) {
        // The ticket is never returned, so give the slot back now rather than at hold expiry.
        await d.contentServers.withdrawNotice(serverId, server.controlUrl, ticketId);
        d.logger.error({ err: error, orderId: order.id }, 'could not record the ticket');
        throw new TesseraError('unavailable', 'the order database is unavailable', { retryAfterS: 5 });
      }
      if (!ticketed) {
        await d.contentServers.withdrawNotice(serverId, server.controlUrl, ticketId);
        throw new TesseraError('internal', 'order changed state while a ticket was being issued');
      }
      d.metrics.ticketsIssued.inc({ server: serverId });
      d.metrics.orders.inc({ outcome: 'ticketed' });
      return {
        order: ticketed,
        content,
        ticketUrl: ticketUrl(server.publicUrl, ticket, { contentId, fileName: content.fileName }),
        serverId,
        notBefore: notBefore * 1000,
        expiresAt: expiresAt * 1000,
        maxConnections: d.config.maxConnectionsPerTicket,
      };
    }
    await this.#reject(order.id, 'all-servers-busy');
    throw new TesseraError('all-servers-busy', undefined, { retryAfterS: 2 });
  }

  async #reject(orderId: string, reason: string): Promise<void> {
    this.#d.metrics.orders.inc({ outcome: reason });
    await this.#d.db.orders.markRejected(orderId, reason, this.#d.clock.now()).catch((error: unknown) => {
      this.#d.logger.error({ err: error, orderId }, 'could not record a rejected order; the sweeper will expire it');
    });
  }

  #binding(clientAddress: string | undefined): ClientBinding {
    const mode = this.#d.config.addressBinding;
    if (mode === 'off' || clientAddress === undefined) return { mode: 'off' };
    if (mode === 'exact') return { mode: 'exact', address: clientAddress };
    const bytes = addressToBytes(clientAddress);
    const v4 = bytes !== undefined && isIPv4Mapped(bytes);
    return { mode: 'prefix', address: clientAddress, bits: v4 ? 96 + this.#d.config.prefixBitsV4 : this.#d.config.prefixBitsV6 };
  }
}

async function unavailableOnFailure<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof TesseraError) throw error;
    throw new TesseraError('unavailable', 'the order database is unavailable', { retryAfterS: 5 });
  }
}

import type { Clock } from '../../core/clock.js';
import { ticketUrl } from '../../core/content-location.js';
import type { Notice } from '../../core/control/messages.js';
import { TesseraError } from '../../core/errors.js';
import { isUuid, newId } from '../../core/ids.js';
import { addressToBytes, isIPv4Mapped } from '../../core/ip-address.js';
import type { SelectionPolicy } from '../../core/selection/selection-policy.js';
import { ticketAudience, ticketTextOf } from '../../core/ticket/presented-ticket.js';
import { mintTicket, verifyTicket, type ClientBinding, type TicketClaims } from '../../core/ticket/ticket.js';
import type { Logger } from '../../observability/logger.js';
import type { ContentRecord, OrderRecord, Persistence } from '../../ports/persistence.js';
import { issuerNameOf, type ReceptionConfig } from './config.js';
import type { ContentServerClient } from './content-server-client.js';
import type { Keyring } from './keyring.js';
import type { ReceptionMetrics } from './metrics.js';
import { isOutage } from './outage.js';
import type { ServerRegistry, ServerView } from './server-registry.js';

// The steps of placing an order (R1–R6): write the order, let the configured selection policy
// order the servers that hold the item (docs/selection.md), take a slot on the first that has
// one with the notice of issuance (the allocation check, R4), record the ticket, and only then
// hand the ticket URL back. The waiting room decides when an order may take these steps (now,
// or when its turn in line comes).

/**
 * The order left the state it was being admitted from before its ticket was recorded: another
 * reception sharing the database admitted it first, or it lapsed meanwhile. The slot this
 * attempt took has been given back.
 */
export class OrderMovedOn extends Error {
  readonly orderId: string;

  constructor(orderId: string) {
    super(`order ${orderId} changed state while a ticket was being issued`);
    this.name = 'OrderMovedOn';
    this.orderId = orderId;
  }
}

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
  /** One per reception: it may keep state between orders (round robin's turn, its random draws). */
  readonly policy: SelectionPolicy;
  readonly contentServers: ContentServerClient;
  readonly keyring: Keyring;
  readonly metrics: ReceptionMetrics;
  readonly logger: Logger;
  /**
   * Makes a replaced ticket refused by every content server until `forgetAt` (Unix ms), through
   * the shared consumed-ticket ledger. Optional: without it a replaced ticket is stopped by the
   * withdrawal of its notice (and a restarted content server has no notice for it).
   */
  readonly revokeTicket?: (ticketId: string, forgetAt: number) => Promise<void>;
}

/** How many times one order's ticket may be replaced (docs/errors.md, ticket-replacements-exhausted). */
export const MAX_TICKET_REPLACEMENTS = 3;

export interface TicketReplacementRequest {
  readonly orderId: string;
  /** The ticket URL, or the ticket part alone, that the client holds now. */
  readonly ticket: string;
  /** The content server the client could not reach, if it says. */
  readonly failedServerId?: string | undefined;
  /** Bytes the client already holds (its part file), so the new server counts them as delivered. */
  readonly heldBytes?: number | undefined;
}

export class Ordering {
  readonly #d: OrderingDeps;
  /** Tickets handed out recently, so a client coming back for its ticket gets the same URL. */
  readonly #issued = new Map<string, PlacedOrder>();

  /** This reception's name in its notices: content servers send the tickets' completions back here. */
  readonly #issuedBy: string | undefined;

  constructor(deps: OrderingDeps) {
    this.#d = deps;
    this.#issuedBy = issuerNameOf(deps.config);
  }

  async content(contentId: string): Promise<ContentRecord> {
    if (!isUuid(contentId)) throw new TesseraError('invalid-id', 'contentId must be a UUID');
    const content = await unavailableOnFailure(() => this.#d.db.catalogue.getContent(contentId));
    if (!content) throw new TesseraError('content-not-found', `no content ${contentId}`);
    return content;
  }

  createOrder(content: ContentRecord, clientAddress: string | undefined): Promise<OrderRecord> {
    const d = this.#d;
    return unavailableOnFailure(() =>
      d.db.orders.createOrder({ id: newId(), contentId: content.id, clientAddress: clientAddress ?? null, createdAt: d.clock.now() }),
    );
  }

  /** Just started: content servers may not have reported to this reception yet. */
  get warmingUp(): boolean {
    return this.#d.servers.upForMs < this.#d.config.warmupMs;
  }

  /**
   * Whether any live server holds the item at all (busy or not). A reception still warming up
   * (config.warmupMs after start) waits for the content servers' first reports before saying no.
   */
  async anyServerHolds(contentId: string): Promise<boolean> {
    const d = this.#d;
    const holders = await unavailableOnFailure(() => d.db.catalogue.replicaServers(contentId));
    const anyLive = (): boolean => holders.some((id) => d.servers.get(id)?.live);
    if (anyLive() || holders.length === 0 || !this.warmingUp) return anyLive();
    // Real time for the wait itself, so a clock that does not move cannot keep us here.
    const deadline = performance.now() + (d.config.warmupMs - d.servers.upForMs);
    while (!anyLive() && performance.now() < deadline) await d.servers.nextReport(deadline - performance.now());
    return anyLive();
  }

  /**
   * Takes a slot for the order on the best server that has one and tickets the order. Returns
   * undefined, changing nothing, when no server took it; throws OrderMovedOn when the order was
   * no longer received or queued by the time its ticket was to be recorded.
   */
  async admit(order: OrderRecord, content: ContentRecord): Promise<PlacedOrder | undefined> {
    const d = this.#d;
    const holders = await unavailableOnFailure(() => d.db.catalogue.replicaServers(content.id));
    const candidates = d.servers.candidates(holders);
    const ranked = d.policy.order({ candidates });
    if (ranked.length === 0) d.logger.debug({ orderId: order.id, candidates }, 'no server can take the order now');
    for (const serverId of ranked) {
      const server = d.servers.get(serverId);
      if (!server) continue;
      const notice = await this.#offerNotice(server, order, content, 0);
      if (!notice) continue;
      const ticketId = notice.ticketId;
      let ticketed: OrderRecord | undefined;
      try {
        ticketed = await d.db.orders.markTicketed(order.id, {
          serverId,
          ticketId,
          ticketNotBefore: notice.notBefore,
          ticketExpiresAt: notice.expiresAt,
          at: d.clock.now(),
        });
      } catch (error) {
        // The ticket is never returned, so give the slot back now rather than at hold expiry.
        await d.contentServers.withdrawNotice(serverId, server.controlUrl, ticketId);
        d.logger.error({ err: error, orderId: order.id }, 'could not record the ticket');
        throw new TesseraError('unavailable', 'the order database is unavailable', { retryAfterS: 5 });
      }
      if (!ticketed) {
        await d.contentServers.withdrawNotice(serverId, server.controlUrl, ticketId);
        throw new OrderMovedOn(order.id);
      }
      d.metrics.ticketsIssued.inc({ server: serverId });
      d.metrics.orders.inc({ outcome: 'ticketed' });
      return this.#remember(this.#mint(ticketed, content, server.publicUrl, server.report.keySetVersion));
    }
    return undefined;
  }

  /**
   * Sends `server` the notice of issuance for a new ticket of `order` (the allocation check);
   * the notice when the server took a slot, undefined when it refused (slots full, draining,
   * unreachable), in which case the next server is to be tried.
   */
  async #offerNotice(server: ServerView, order: OrderRecord, content: ContentRecord, heldBytes: number): Promise<Notice | undefined> {
    const d = this.#d;
    const serverId = server.serverId;
    const now = d.clock.now();
    const notBeforeS = Math.floor(now / 1000);
    const notice: Notice = {
      ticketId: newId(),
      orderId: order.id,
      contentId: content.id,
      notBefore: notBeforeS * 1000,
      expiresAt: (notBeforeS + d.config.ticketTtlS) * 1000,
      holdUntil: now + d.config.holdS * 1000,
      maxConnections: d.config.maxConnectionsPerTicket,
      ...(heldBytes > 0 ? { heldBytes } : {}),
      ...(this.#issuedBy === undefined ? {} : { issuedBy: this.#issuedBy }),
    };
    const sentAt = d.clock.now();
    const outcome = await d.contentServers.sendNotice(serverId, server.controlUrl, notice);
    if (outcome.kind === 'refused') {
      d.metrics.noticesRefused.inc({ server: serverId, reason: outcome.code });
      if (outcome.code === 'slots-full') d.servers.noteFull(serverId);
      d.logger.debug({ serverId, orderId: order.id, reason: outcome.code }, 'notice refused; trying the next server');
      return undefined;
    }
    d.servers.noteNotice(serverId, notice.ticketId, content.size, sentAt);
    return notice;
  }

  /** The ticket of an order that is already ticketed: the one handed out, or the same claims sealed again. */
  ticketOf(order: OrderRecord, content: ContentRecord): PlacedOrder {
    const known = this.#issued.get(order.id);
    if (known && known.order.ticketId === order.ticketId) return known;
    const server = order.serverId === null ? undefined : this.#d.servers.get(order.serverId);
    if (!server || order.ticketId === null) throw new TesseraError('unavailable', 'the content server of this order is not reporting', { retryAfterS: 2 });
    return this.#remember(this.#mint(order, content, server.publicUrl, server.report.keySetVersion));
  }

  /**
   * Replaces the ticket of a ticketed order whose content server failed mid-download: the
   * client proves it holds the current ticket, a slot is taken on another server (the failed
   * one last), the order records the new ticket in one conditional write, and only then is the
   * old ticket revoked (its notice withdrawn where the server answers, and the revokeTicket
   * hook). A client whose answer was lost asks again with the same ticket and gets the same
   * replacement. Throws all-servers-busy, changing nothing, when no server took a slot.
   */
  async replaceTicket(request: TicketReplacementRequest): Promise<PlacedOrder> {
    const d = this.#d;
    if (!isUuid(request.orderId)) throw new TesseraError('invalid-id', 'order id must be a UUID');
    const text = ticketTextOf(request.ticket);
    const audience = ticketAudience(text);
    let claims: TicketClaims | undefined;
    let windowClosed: TesseraError | undefined;
    try {
      claims = verifyTicket(text, {
        audience,
        keys: (kid) => d.keyring.keyFor(audience, kid),
        nowMs: d.clock.now(),
        clockToleranceS: d.config.clockToleranceS,
      });
    } catch (error) {
      if (!(error instanceof TesseraError) || (error.code !== 'ticket-expired' && error.code !== 'ticket-not-yet-valid')) throw error;
      windowClosed = error;
    }
    const order = await unavailableOnFailure(() => d.db.orders.getOrder(request.orderId));
    if (!order) throw new TesseraError('order-not-found', `no order ${request.orderId}`);
    if (claims && claims.orderId !== order.id) throw new TesseraError('ticket-not-this-order');
    assertReplaceable(order);
    if (windowClosed || !claims) {
      throw new TesseraError('ticket-expired', "the ticket's window has closed; place a new order to continue the download");
    }
    const content = await this.content(order.contentId);
    if (claims.ticketId !== order.ticketId) {
      // The answer to an earlier replacement was lost: hand back the ticket it issued.
      if (claims.ticketId === order.previousTicketId) return this.ticketOf(order, content);
      throw new TesseraError('ticket-superseded');
    }
    if (order.ticketReplacements >= MAX_TICKET_REPLACEMENTS) {
      throw new TesseraError('ticket-replacements-exhausted', `this order's ticket was replaced ${order.ticketReplacements} times`);
    }
    const oldServerId = order.serverId;
    const avoid = new Set([request.failedServerId, oldServerId].filter((id): id is string => id !== undefined && id !== null));
    const holders = await unavailableOnFailure(() => d.db.catalogue.replicaServers(content.id));
    const ranked = d.policy.order({ candidates: d.servers.candidates(holders) });
    // The failed server is only a last resort: it may be back, but it is likely to look alive
    // for a few more report intervals while it is not.
    const tryOrder = [...ranked.filter((id) => !avoid.has(id)), ...ranked.filter((id) => avoid.has(id))];
    const heldBytes = Math.max(0, Math.min(content.size, Math.floor(request.heldBytes ?? 0)));
    for (const serverId of tryOrder) {
      const server = d.servers.get(serverId);
      if (!server) continue;
      const notice = await this.#offerNotice(server, order, content, heldBytes);
      if (!notice) continue;
      const ticketId = notice.ticketId;
      let replaced: OrderRecord | undefined;
      try {
        replaced = await d.db.orders.replaceTicket(
          order.id,
          claims.ticketId,
          { serverId, ticketId, ticketNotBefore: notice.notBefore, ticketExpiresAt: notice.expiresAt, at: d.clock.now() },
          MAX_TICKET_REPLACEMENTS,
        );
      } catch (error) {
        await d.contentServers.withdrawNotice(serverId, server.controlUrl, ticketId);
        d.logger.error({ err: error, orderId: order.id }, 'could not record a replacement ticket');
        throw new TesseraError('unavailable', 'the order database is unavailable', { retryAfterS: 5 });
      }
      if (!replaced) {
        // Someone moved the order first (another replacement, a completion, the sweeper).
        await d.contentServers.withdrawNotice(serverId, server.controlUrl, ticketId);
        const now = await unavailableOnFailure(() => d.db.orders.getOrder(order.id));
        if (now) assertReplaceable(now);
        throw new TesseraError('ticket-superseded', 'the order changed while its ticket was being replaced');
      }
      await this.#revoke(claims, oldServerId);
      d.metrics.ticketsIssued.inc({ server: serverId });
      d.logger.info({ orderId: order.id, from: oldServerId, to: serverId, failed: request.failedServerId, replacements: replaced.ticketReplacements }, 'ticket replaced');
      return this.#remember(this.#mint(replaced, content, server.publicUrl, server.report.keySetVersion));
    }
    throw new TesseraError('all-servers-busy', 'no content server that holds this item can take the order now; the current ticket stays valid', { retryAfterS: 2 });
  }

  /** Best effort on the old server (it is likely down); the shared ledger is what every server checks. */
  async #revoke(old: TicketClaims, oldServerId: string | null): Promise<void> {
    const d = this.#d;
    const server = oldServerId === null ? undefined : d.servers.get(oldServerId);
    const forgetAt = old.expiresAt * 1000 + d.config.clockToleranceS * 1000;
    const [, ledger] = await Promise.allSettled([
      server ? d.contentServers.withdrawNotice(server.serverId, server.controlUrl, old.ticketId) : Promise.resolve(),
      d.revokeTicket ? d.revokeTicket(old.ticketId, forgetAt) : Promise.resolve(),
    ]);
    if (ledger.status === 'rejected') {
      d.logger.warn({ err: ledger.reason, ticketId: old.ticketId }, 'could not revoke a replaced ticket in the shared ledger; its notice withdrawal and window still stop it');
    }
  }

  async reject(orderId: string, reason: string): Promise<void> {
    this.#d.metrics.orders.inc({ outcome: reason });
    await this.#d.db.orders.markRejected(orderId, reason, this.#d.clock.now()).catch((error: unknown) => {
      this.#d.logger.error({ err: error, orderId }, 'could not record a rejected order; the sweeper will end it');
    });
  }

  #mint(order: OrderRecord, content: ContentRecord, publicUrl: string, keySetVersion: string): PlacedOrder {
    const d = this.#d;
    if (order.serverId === null || order.ticketId === null || order.ticketNotBefore === null || order.ticketExpiresAt === null) {
      throw new TypeError(`order ${order.id} has no ticket`);
    }
    const notBefore = Math.floor(order.ticketNotBefore / 1000);
    const expiresAt = Math.floor(order.ticketExpiresAt / 1000);
    const ticket = mintTicket(
      {
        ticketId: order.ticketId,
        orderId: order.id,
        contentId: content.id,
        audience: order.serverId,
        notBefore,
        expiresAt,
        maxConnections: d.config.maxConnectionsPerTicket,
        client: this.#binding(order.clientAddress ?? undefined),
      },
      d.keyring.mintingKey(order.serverId, keySetVersion),
    );
    return {
      order,
      content,
      ticketUrl: ticketUrl(publicUrl, ticket, { contentId: content.id, fileName: content.fileName }),
      serverId: order.serverId,
      notBefore: notBefore * 1000,
      expiresAt: expiresAt * 1000,
      maxConnections: d.config.maxConnectionsPerTicket,
    };
  }

  #remember(placed: PlacedOrder): PlacedOrder {
    this.#issued.set(placed.order.id, placed);
    if (this.#issued.size > 10_000) {
      const oldest = this.#issued.keys().next().value;
      if (oldest !== undefined) this.#issued.delete(oldest);
    }
    return placed;
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

/** Only a ticketed order has a ticket to replace; the others get a code that says why. */
function assertReplaceable(order: OrderRecord): void {
  switch (order.state) {
    case 'ticketed':
      return;
    case 'completed':
      throw new TesseraError('order-completed', undefined, { state: order.state });
    case 'expired':
      throw new TesseraError('order-expired', undefined, { state: order.state });
    case 'received':
    case 'queued':
    case 'rejected':
      throw new TesseraError('order-not-ticketed', `the order is ${order.state}`, { state: order.state });
    default: {
      const never: never = order.state;
      throw new TypeError(`unknown order state ${String(never)}`);
    }
  }
}

/**
 * Runs work that needs the database: a failure of the database (or of the shared state beside
 * it) becomes 503 unavailable with Retry-After, its cause kept for the log. A failure that no
 * retry mends (a programming error, a query the database refused: see isOutage) is not dressed
 * up as an outage: it stays a 500.
 */
export async function unavailableOnFailure<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof TesseraError || !isOutage(error)) throw error;
    throw new TesseraError('unavailable', 'the order database is unavailable', { retryAfterS: 5 }, { cause: error });
  }
}

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isUuid } from '../../core/ids.js';
import { problems, type ProblemCode } from '../../core/errors.js';
import { sendProblem } from '../../http/problem.js';
import type { Content, OrderStatus } from '../reception-types.js';
import type { TicketFileServer } from './ticket-file-server.js';

// A real HTTP server that answers the reception's public API (notes/reception-api.md) for the
// client's tests, handing out tickets of one TicketFileServer. It has no load monitoring and no
// control channel: it exists so the client and the CLI can be tested end to end over real HTTP
// before the real reception lands, and it follows the contract's shapes and codes exactly.
//
// The waiting line (issue 3) is played from a script: each POST /orders takes the next scripted
// answer, and answers 201 once the script is empty. What the contract asks of a client is
// checked for real, not scripted: every place gets a fresh token and only the latest one is
// accepted (403 queue-token-invalid otherwise), and a client that comes back later than
// retry_at + graceMs has lost its place (410).

/** One scripted answer to POST /orders. */
export type OrderAnswer =
  /** 503 all-servers-busy with a place in line and a fresh queue token. */
  | {
      readonly kind: 'in-line';
      readonly position: number;
      readonly lineLength?: number;
      /** Default: position × retryAfterS. */
      readonly estimatedWaitS?: number | null;
      /** Default 0.2; the Retry-After header carries it rounded up to whole seconds. */
      readonly retryAfterS?: number;
    }
  | { readonly kind: 'place-lost' }
  | { readonly kind: 'rate-limited'; readonly retryAfterS?: number }
  | { readonly kind: 'queue-full'; readonly retryAfterS?: number };

/** What a client sent to POST /orders and what it got. */
export interface OrderPost {
  readonly contentId: string;
  readonly queueToken: string | undefined;
  readonly prefer: string | undefined;
  readonly status: number;
  readonly code: string | undefined;
  /** How long after the retry_at of its token the client came back (negative: early). */
  readonly lateMs: number | undefined;
}

interface Place {
  readonly orderId: string;
  readonly contentId: string;
  readonly retryAtMs: number;
}

export class ContractReception {
  readonly contents = new Map<string, Content>();
  readonly orders = new Map<string, OrderStatus>();
  /** Tickets handed out, by order ID (tests use them to expire a ticket). */
  readonly tickets = new Map<string, string>();
  /** While set, POST /orders answers 503 with this code and Retry-After. */
  busy: { code: 'all-servers-busy' | 'no-server-holds-content'; retryAfterS: number } | undefined;
  /** Every POST /orders, in arrival order. */
  readonly orderPosts: OrderPost[] = [];
  /** How late after retry_at a client may come back and keep its place. */
  graceMs = 5_000;
  readonly #answers: OrderAnswer[] = [];
  /** The places in line, by their one valid (latest) token. */
  readonly #places = new Map<string, Place>();
  readonly #server: Server;
  readonly #files: TicketFileServer;
  readonly #sockets = new Set<Socket>();
  #baseUrl = '';

  private constructor(files: TicketFileServer) {
    this.#files = files;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => sendProblem(res, 'internal'));
    });
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(files: TicketFileServer): Promise<ContractReception> {
    const reception = new ContractReception(files);
    await new Promise<void>((resolve) => reception.#server.listen(0, '127.0.0.1', resolve));
    const { port } = reception.#server.address() as AddressInfo;
    reception.#baseUrl = `http://127.0.0.1:${port}`;
    return reception;
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }

  /** Puts a content item in the catalogue and on the file server. */
  addContent(title: string, fileName: string, bytes: Buffer): Content {
    const id = randomUUID();
    const served = this.#files.addContent(id, fileName, bytes);
    const content: Content = {
      id,
      title,
      fileName,
      mimeType: 'application/octet-stream',
      size: bytes.length,
      sha256: served.sha256,
      createdAt: new Date().toISOString(),
    };
    this.contents.set(id, content);
    return content;
  }

  /** The next POST /orders answers are these, in order; then orders are admitted (201). */
  scriptOrders(...answers: OrderAnswer[]): void {
    this.#answers.push(...answers);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const json = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method === 'GET' && path === '/contents') {
      json(200, { items: [...this.contents.values()] });
      return;
    }
    const contentMatch = /^\/contents\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && contentMatch) {
      const id = decodeURIComponent(contentMatch[1] ?? '');
      if (!isUuid(id)) return sendProblem(res, 'invalid-id', { detail: 'content id is not a UUID' });
      const content = this.contents.get(id);
      if (!content) return sendProblem(res, 'content-not-found', { detail: `no content ${id}` });
      return json(200, content);
    }
    const orderMatch = /^\/orders\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && orderMatch) {
      const id = decodeURIComponent(orderMatch[1] ?? '');
      if (!isUuid(id)) return sendProblem(res, 'invalid-id', { detail: 'order id is not a UUID' });
      const order = this.orders.get(id);
      if (!order) return sendProblem(res, 'order-not-found', { detail: `no order ${id}` });
      return json(200, order);
    }
    if (req.method === 'POST' && path === '/orders') {
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return sendProblem(res, 'invalid-json');
      }
      const fields = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
      const contentId = fields['contentId'];
      const queueToken = fields['queueToken'];
      if (typeof contentId !== 'string') return sendProblem(res, 'validation-failed', { detail: 'contentId is required' });
      if (queueToken !== undefined && typeof queueToken !== 'string') return sendProblem(res, 'validation-failed', { detail: 'queueToken is not a string' });
      if (!isUuid(contentId)) return sendProblem(res, 'invalid-id', { detail: 'contentId is not a UUID' });
      const content = this.contents.get(contentId);
      if (!content) return sendProblem(res, 'content-not-found', { detail: `no content ${contentId}` });
      const preferHeader = req.headers['prefer'];
      const prefer = Array.isArray(preferHeader) ? preferHeader.join(', ') : preferHeader;
      const record = (status: number, code: string | undefined, lateMs?: number): void => {
        this.orderPosts.push({ contentId, queueToken, prefer, status, code, lateMs });
      };

      let place: Place | undefined;
      let lateMs: number | undefined;
      if (queueToken !== undefined) {
        place = this.#places.get(queueToken);
        if (!place || place.contentId !== contentId) {
          record(403, 'queue-token-invalid');
          return sendProblem(res, 'queue-token-invalid');
        }
        lateMs = Date.now() - place.retryAtMs;
        if (lateMs > this.graceMs) {
          this.#places.delete(queueToken);
          record(410, 'queue-place-lost', lateMs);
          return sendProblem(res, 'queue-place-lost');
        }
      }
      const orderId = place?.orderId ?? randomUUID();
      const answer: OrderAnswer | undefined = this.busy ? undefined : this.#answers.shift();
      if (this.busy || answer !== undefined) {
        const code = this.busy ? this.#refuseBusy(res, this.busy) : this.#refuse(res, answer ?? { kind: 'place-lost' }, orderId, contentId, queueToken);
        record(problems[code].status, code, lateMs);
        return;
      }
      if (queueToken !== undefined) this.#places.delete(queueToken);
      record(201, undefined, lateMs);

      const now = new Date();
      const id = orderId;
      const { ticket, url } = this.#files.issueTicket(contentId);
      this.tickets.set(id, ticket);
      const order: OrderStatus = {
        id,
        state: 'ticketed',
        contentId,
        serverId: this.#files.serverId,
        createdAt: now.toISOString(),
        updatedAt: now.toISOString(),
        bytesDelivered: 0,
      };
      this.orders.set(id, order);
      return json(201, {
        order: { id, state: 'ticketed', contentId, createdAt: order.createdAt },
        ticket: {
          url,
          serverId: this.#files.serverId,
          notBefore: now.toISOString(),
          expiresAt: new Date(now.getTime() + 60_000).toISOString(),
          maxConnections: 4,
        },
        content,
      });
    }
    sendProblem(res, 'not-found');
  }

  #refuseBusy(res: ServerResponse, busy: NonNullable<ContractReception['busy']>): ProblemCode {
    sendProblem(res, busy.code, { extra: { retryAfterS: busy.retryAfterS }, headers: { 'retry-after': String(busy.retryAfterS) } });
    return busy.code;
  }

  /**
   * Answers with a scripted refusal. A new place replaces the client's token (only the latest
   * is valid); a refusal that gives no new place leaves the client's place as it was.
   */
  #refuse(res: ServerResponse, answer: OrderAnswer, orderId: string, contentId: string, heldToken: string | undefined): ProblemCode {
    const retryHeaders = (retryAfterS: number): Record<string, string> => ({ 'retry-after': String(Math.ceil(retryAfterS)) });
    switch (answer.kind) {
      case 'in-line': {
        const retryAfterS = answer.retryAfterS ?? 0.2;
        const retryAtMs = Date.now() + retryAfterS * 1000;
        const queueToken = randomBytes(24).toString('base64url');
        if (heldToken !== undefined) this.#places.delete(heldToken);
        this.#places.set(queueToken, { orderId, contentId, retryAtMs });
        const now = new Date().toISOString();
        this.orders.set(orderId, {
          id: orderId,
          state: 'queued',
          contentId,
          serverId: null,
          createdAt: this.orders.get(orderId)?.createdAt ?? now,
          updatedAt: now,
          bytesDelivered: 0,
        });
        sendProblem(res, 'all-servers-busy', {
          headers: retryHeaders(retryAfterS),
          extra: {
            orderId,
            position: answer.position,
            lineLength: answer.lineLength ?? answer.position,
            estimated_wait_s: answer.estimatedWaitS === undefined ? answer.position * retryAfterS : answer.estimatedWaitS,
            estimate_baseline_s: null,
            retry_at: new Date(retryAtMs).toISOString(),
            retryAfterS,
            queueToken,
          },
        });
        return 'all-servers-busy';
      }
      case 'place-lost':
        if (heldToken !== undefined) this.#places.delete(heldToken);
        sendProblem(res, 'queue-place-lost');
        return 'queue-place-lost';
      case 'rate-limited':
      case 'queue-full': {
        const retryAfterS = answer.retryAfterS ?? 0.2;
        // The place, if any, is kept until the client can come back.
        const held = heldToken === undefined ? undefined : this.#places.get(heldToken);
        if (heldToken !== undefined && held) this.#places.set(heldToken, { ...held, retryAtMs: Date.now() + retryAfterS * 1000 });
        sendProblem(res, answer.kind, { headers: retryHeaders(retryAfterS), extra: { retryAfterS } });
        return answer.kind;
      }
      default: {
        const unknown: never = answer;
        return unknown;
      }
    }
  }
}

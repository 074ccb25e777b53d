import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isUuid } from '../../core/ids.js';
import { sendProblem } from '../../http/problem.js';
import type { Content, OrderStatus } from '../reception-types.js';
import type { TicketFileServer } from './ticket-file-server.js';

// A real HTTP server that answers the reception's public API (notes/reception-api.md) for the
// client's tests, handing out tickets of one TicketFileServer. It has no load monitoring and no
// control channel: it exists so the client and the CLI can be tested end to end over real HTTP
// before the real reception lands, and it follows the contract's shapes and codes exactly.

export class ContractReception {
  readonly contents = new Map<string, Content>();
  readonly orders = new Map<string, OrderStatus>();
  /** Tickets handed out, by order ID (tests use them to expire a ticket). */
  readonly tickets = new Map<string, string>();
  /** While set, POST /orders answers 503 with this code and Retry-After. */
  busy: { code: 'all-servers-busy' | 'no-server-holds-content'; retryAfterS: number } | undefined;
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
      const contentId = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)['contentId'] : undefined;
      if (typeof contentId !== 'string') return sendProblem(res, 'validation-failed', { detail: 'contentId is required' });
      if (!isUuid(contentId)) return sendProblem(res, 'invalid-id', { detail: 'contentId is not a UUID' });
      const content = this.contents.get(contentId);
      if (!content) return sendProblem(res, 'content-not-found', { detail: `no content ${contentId}` });
      if (this.busy) {
        const { code, retryAfterS } = this.busy;
        return sendProblem(res, code, { extra: { retryAfterS }, headers: { 'retry-after': String(retryAfterS) } });
      }
      const now = new Date();
      const id = randomUUID();
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
}

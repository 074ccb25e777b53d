import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseRange, RangeSet } from '../../core/byte-ranges.js';
import type { ProblemCode } from '../../core/errors.js';
import { sendProblem } from '../../http/problem.js';

// A small but real HTTP server that behaves like a content server towards a client, for the
// client's tests while the real one is being built: ticket URLs /t/<ticket>/<id>/<name>,
// ETag, Range, If-Range, 206, 416, problem+json refusals, and tickets consumed once every
// byte has been delivered. Tests can script faults per request (cut the connection after N
// bytes, ignore Range, corrupt a byte, refuse) to see the client recover from each of them.
// It does not check ticket cryptography: tickets here are random strings it handed out.

export interface ServedContent {
  readonly id: string;
  readonly fileName: string;
  readonly bytes: Buffer;
  readonly sha256: string;
  readonly etag: string;
}

/** What the server does with one request; unscripted requests are served faithfully. */
export type RequestScript =
  | {
      readonly kind: 'serve';
      /** Send this many body bytes, then destroy the connection. */
      readonly cutAfter?: number;
      /** Send this many body bytes, then keep the connection open and silent. */
      readonly stallAfter?: number;
      readonly ignoreRange?: boolean;
      readonly corruptAt?: number;
      readonly etag?: string;
    }
  | { readonly kind: 'refuse'; readonly code: ProblemCode; readonly detail?: string; readonly retryAfterS?: number }
  /** Accept the connection and close it without answering. */
  | { readonly kind: 'hang-up' };

export interface RecordedRequest {
  readonly ticket: string;
  readonly range: string | undefined;
  readonly ifRange: string | undefined;
  readonly status: number;
}

interface TicketState {
  readonly contentId: string;
  readonly delivered: RangeSet;
  consumed: boolean;
  expired: boolean;
}

export class TicketFileServer {
  readonly serverId: string;
  readonly requests: RecordedRequest[] = [];
  readonly #server: Server;
  readonly #contents = new Map<string, ServedContent>();
  readonly #tickets = new Map<string, TicketState>();
  readonly #script: RequestScript[] = [];
  readonly #sockets = new Set<Socket>();
  #baseUrl = '';
  #stallWaiters: (() => void)[] = [];

  private constructor(serverId: string) {
    this.serverId = serverId;
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(serverId = 'cs-test'): Promise<TicketFileServer> {
    const server = new TicketFileServer(serverId);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    const { port } = server.#server.address() as AddressInfo;
    server.#baseUrl = `http://127.0.0.1:${port}`;
    return server;
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }

  addContent(id: string, fileName: string, bytes: Buffer): ServedContent {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const content: ServedContent = { id, fileName, bytes, sha256, etag: `"${sha256.slice(0, 32)}"` };
    this.#contents.set(id, content);
    return content;
  }

  /** Hands out a ticket for a content item and returns its URL. */
  issueTicket(contentId: string): { ticket: string; url: string } {
    const content = this.#contents.get(contentId);
    if (!content) throw new TypeError(`no content ${contentId}`);
    const ticket = randomBytes(24).toString('base64url');
    this.#tickets.set(ticket, { contentId, delivered: new RangeSet(), consumed: false, expired: false });
    return { ticket, url: `${this.#baseUrl}/t/${ticket}/${contentId}/${encodeURIComponent(content.fileName)}` };
  }

  expireTicket(ticket: string): void {
    const state = this.#tickets.get(ticket);
    if (state) state.expired = true;
  }

  /** Resolves when a `stallAfter` response has handed its bytes to the kernel. */
  whenStalled(): Promise<void> {
    return new Promise((resolve) => this.#stallWaiters.push(resolve));
  }

  /** Scripts the next requests, in order. */
  script(...steps: RequestScript[]): void {
    this.#script.push(...steps);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const match = /^\/t\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(req.url ?? '');
    const ticket = match?.[1] ?? '';
    const record = (status: number): void => {
      this.requests.push({ ticket, range: header(req, 'range'), ifRange: header(req, 'if-range'), status });
    };
    const step = this.#script.shift();
    if (step?.kind === 'hang-up') {
      record(0);
      req.socket.destroy();
      return;
    }
    if (step?.kind === 'refuse') {
      const status = refuse(res, step.code, step.detail, step.retryAfterS);
      record(status);
      return;
    }
    const state = this.#tickets.get(ticket);
    const content = state ? this.#contents.get(state.contentId) : undefined;
    if (!match || !state || !content || match[2] !== content.id) {
      record(refuse(res, 'ticket-invalid'));
      return;
    }
    if (state.consumed) {
      record(refuse(res, 'ticket-consumed'));
      return;
    }
    if (state.expired) {
      record(refuse(res, 'ticket-expired'));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      record(refuse(res, 'method-not-allowed'));
      return;
    }

    const etag = step?.etag ?? content.etag;
    const size = content.bytes.length;
    let rangeHeader = step?.ignoreRange ? undefined : header(req, 'range');
    const ifRange = header(req, 'if-range');
    if (rangeHeader !== undefined && ifRange !== undefined && ifRange !== etag) rangeHeader = undefined;
    const wanted = parseRange(rangeHeader, size);
    if (wanted.kind === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Range not satisfiable', status: 416, code: 'range-not-satisfiable' }));
      record(416);
      return;
    }
    const range = wanted.kind === 'range' ? wanted.range : { start: 0, end: size };
    const status = wanted.kind === 'range' ? 206 : 200;
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': range.end - range.start,
      'accept-ranges': 'bytes',
      etag,
      'content-disposition': `attachment; filename="${content.fileName}"`,
    };
    if (status === 206) headers['content-range'] = `bytes ${range.start}-${range.end - 1}/${size}`;
    res.writeHead(status, headers);
    record(status);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let body = content.bytes.subarray(range.start, range.end);
    if (step?.corruptAt !== undefined && step.corruptAt >= range.start && step.corruptAt < range.end) {
      body = Buffer.from(body);
      const at = step.corruptAt - range.start;
      body[at] = (body[at] ?? 0) ^ 0xff;
    }
    if (step?.cutAfter !== undefined && step.cutAfter < body.length) {
      const sent = body.subarray(0, step.cutAfter);
      state.delivered.add({ start: range.start, end: range.start + sent.length });
      // The callback runs once the bytes are handed to the kernel, so the client gets them.
      res.write(sent, () => res.socket?.destroy());
      return;
    }
    if (step?.stallAfter !== undefined && step.stallAfter < body.length) {
      res.write(body.subarray(0, step.stallAfter), () => {
        const waiters = this.#stallWaiters;
        this.#stallWaiters = [];
        for (const wake of waiters) wake();
      });
      return;
    }
    res.end(body, () => {
      state.delivered.add(range);
      if (state.delivered.covers(size)) state.consumed = true;
    });
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function refuse(res: ServerResponse, code: ProblemCode, detail?: string, retryAfterS?: number): number {
  const options: Parameters<typeof sendProblem>[2] = { close: true };
  if (detail !== undefined) options.detail = detail;
  if (retryAfterS !== undefined) {
    options.extra = { retryAfterS };
    options.headers = { 'retry-after': String(retryAfterS) };
  }
  sendProblem(res, code, options);
  return res.statusCode;
}

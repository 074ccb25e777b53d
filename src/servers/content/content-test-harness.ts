import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DiskContentStore } from '../../adapters/disk/content-store.js';
import { ManualClock, type Clock } from '../../core/clock.js';
import { ticketUrl } from '../../core/content-location.js';
import type { Completion, LoadReport, Notice } from '../../core/control/messages.js';
import { newId } from '../../core/ids.js';
import { mintTicket, type ClientBinding, type TicketClaims } from '../../core/ticket/ticket.js';
import { controlToken, deriveTicketKey, serverKeySet, type KeyEpoch } from '../../core/ticket/ticket-keys.js';
import { createLogger, type Logger } from '../../observability/logger.js';
import { createMetricsRegistry } from '../../observability/metrics.js';
import { buildContentServer, type ContentServer } from './build-content-server.js';
import { loadContentServerConfig, type ContentServerConfig } from './config.js';

// Test support for the content server (not a test itself): builds a real server in-process on
// loopback port 0 with a temporary store, and a small real HTTP listener playing the
// reception's control endpoint, which hands out key sets derived from a test root secret and
// records load reports and completions.

export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

export interface FakeReception {
  readonly url: string;
  readonly reports: LoadReport[];
  readonly completions: Completion[];
  /** The keyring the fake reception hands out; tests rotate it by editing this array. */
  epochs: KeyEpoch[];
  /** When set, every request is answered with this status (an outage, or a refusal). */
  failWith: number | undefined;
  /** Whether POST /control/completion-batches exists (it does not on the current reception). */
  batches: boolean;
  /** Number of HTTP requests that carried completions. */
  completionRequests: number;
  waitForCompletions(count: number, timeoutMs?: number): Promise<Completion[]>;
  /** Waits for the completion of one ticket. */
  waitForCompletion(ticketId: string, timeoutMs?: number): Promise<Completion>;
  close(): Promise<void>;
}

export async function startFakeReception(root: Buffer, serverId: string, clock: Clock): Promise<FakeReception> {
  const token = controlToken(root, serverId);
  const waiters: (() => void)[] = [];
  const fake: FakeReception = {
    url: '',
    reports: [],
    completions: [],
    epochs: [{ kid: 1, createdAt: clock.now() - 60_000, supersededAt: null, retiresAt: null }],
    failWith: undefined,
    batches: false,
    completionRequests: 0,
    async waitForCompletions(count, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (fake.completions.length < count) {
        if (Date.now() > until) throw new Error(`expected ${count} completions, got ${fake.completions.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return fake.completions;
    },
    async waitForCompletion(ticketId, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = fake.completions.find((c) => c.ticketId === ticketId);
        if (found) return found;
        if (Date.now() > until) throw new Error(`no completion for ticket ${ticketId}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401).end();
        return;
      }
      if (fake.failWith !== undefined) {
        res.writeHead(fake.failWith).end();
        return;
      }
      const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (req.url === '/control/load-reports') {
        const report = body as LoadReport;
        fake.reports.push(report);
        const keySet = serverKeySet(root, serverId, fake.epochs, clock.now());
        const reply = report.keySetVersion === keySet.version ? {} : { keySet };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
      } else if (req.url === '/control/completions') {
        fake.completionRequests++;
        fake.completions.push(body as Completion);
        res.writeHead(204).end();
        for (const wake of waiters.splice(0)) wake();
      } else if (req.url === '/control/completion-batches' && fake.batches) {
        fake.completionRequests++;
        fake.completions.push(...(body as { completions: Completion[] }).completions);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"acknowledged":true}');
        for (const wake of waiters.splice(0)) wake();
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (fake as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

export interface HarnessOptions {
  readonly clock?: Clock;
  readonly env?: Record<string, string>;
  readonly serverId?: string;
  readonly logger?: Logger;
  /** The regular sweep's interval (a very long one leaves only the event-driven checks). */
  readonly sweepIntervalMs?: number;
}

export interface Harness {
  readonly root: Buffer;
  readonly serverId: string;
  readonly token: string;
  readonly clock: Clock;
  readonly config: ContentServerConfig;
  readonly server: ContentServer;
  readonly publicUrl: string;
  readonly controlUrl: string;
  readonly storeDir: string;
  readonly reception: FakeReception;
  /** Stores `bytes` through PUT /control/replicas and returns the new content ID. */
  putReplica(bytes: Buffer, fileName?: string, mimeType?: string): Promise<string>;
  /** POSTs a notice; returns the status and parsed body. */
  notice(notice: Notice): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Mints a ticket for this server (kid 1 unless told), sends its notice unless told not to. */
  issue(contentId: string, options?: IssueOptions): Promise<Issued>;
  control(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** Waits until the server counts the ticket as used up (evidence of delivery is asynchronous). */
  consumed(ticketId: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface IssueOptions {
  readonly kid?: number;
  readonly audience?: string;
  readonly maxConnections?: number;
  readonly client?: ClientBinding;
  readonly lifetimeS?: number;
  readonly holdMs?: number;
  readonly notBeforeS?: number;
  readonly notice?: boolean;
  readonly fileName?: string;
}

export interface Issued {
  readonly ticket: string;
  readonly claims: TicketClaims;
  readonly url: string;
  readonly noticeStatus: number | undefined;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const root = randomBytes(32);
  const serverId = options.serverId ?? 'cs-test';
  const clock = options.clock ?? new ManualClock(T0);
  const token = controlToken(root, serverId);
  const storeDir = await mkdtemp(join(tmpdir(), 'tessera-content-'));
  const reception = await startFakeReception(root, serverId, clock);
  const config = loadContentServerConfig({
    TESSERA_SERVER_ID: serverId,
    TESSERA_PUBLIC_PORT: '0',
    TESSERA_CONTROL_PORT: '0',
    TESSERA_RECEPTION_CONTROL_URL: reception.url,
    TESSERA_CONTROL_TOKEN: token,
    TESSERA_STORE_DIR: storeDir,
    TESSERA_REPORT_INTERVAL_MS: '60000',
    ...options.env,
  });
  const logger = options.logger ?? createLogger({ name: 'content-test', level: process.env['TESSERA_LOG_LEVEL'] ?? 'warn' });
  const store = await DiskContentStore.open(storeDir);
  const server = buildContentServer({ config, clock, logger, metrics: createMetricsRegistry('content', serverId), store, stopGraceMs: 500, ...(options.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: options.sweepIntervalMs }) });
  const { publicUrl, controlUrl } = await server.start();
  await server.state.reportNow();
  const fileNames = new Map<string, string>();

  const control = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> =>
    send(`${controlUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
    });

  const harness: Harness = {
    root,
    serverId,
    token,
    clock,
    config,
    server,
    publicUrl,
    controlUrl,
    storeDir,
    reception,
    async putReplica(bytes, fileName = 'item.bin', mimeType = 'application/octet-stream') {
      const contentId = newId();
      const reply = await send(`${controlUrl}/control/replicas/${contentId}`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': mimeType,
          'x-tessera-sha256': sha256(bytes),
          'x-tessera-size': String(bytes.length),
          'x-tessera-file-name': encodeURIComponent(fileName),
        },
        body: bytes,
      });
      if (reply.status !== 201) throw new Error(`replica PUT answered ${reply.status}: ${reply.body.toString()}`);
      fileNames.set(contentId, fileName);
      return contentId;
    },
    async notice(notice) {
      const reply = await control('POST', '/control/notices', notice);
      return { status: reply.status, body: reply.body.length > 0 ? (JSON.parse(reply.body.toString()) as Record<string, unknown>) : {} };
    },
    async issue(contentId, o = {}) {
      const nowS = Math.floor(clock.now() / 1000);
      const notBefore = o.notBeforeS ?? nowS;
      const claims: TicketClaims = {
        ticketId: newId(),
        orderId: newId(),
        contentId,
        audience: o.audience ?? serverId,
        notBefore,
        expiresAt: notBefore + (o.lifetimeS ?? 300),
        maxConnections: o.maxConnections ?? 4,
        client: o.client ?? { mode: 'off' },
      };
      const ticket = mintTicket(claims, deriveTicketKey(root, o.kid ?? 1, claims.audience));
      let noticeStatus: number | undefined;
      if (o.notice !== false) {
        const reply = await harness.notice({
          ticketId: claims.ticketId,
          orderId: claims.orderId,
          contentId,
          notBefore: claims.notBefore * 1000,
          expiresAt: claims.expiresAt * 1000,
          holdUntil: clock.now() + (o.holdMs ?? 60_000),
          maxConnections: claims.maxConnections,
        });
        noticeStatus = reply.status;
      }
      const url = ticketUrl(publicUrl, ticket, { contentId, fileName: o.fileName ?? fileNames.get(contentId) ?? 'item.bin' });
      return { ticket, claims, url, noticeStatus };
    },
    control,
    async consumed(ticketId, timeoutMs = 3000) {
      const until = Date.now() + timeoutMs;
      while (!server.state.slots.isConsumed(ticketId)) {
        if (Date.now() > until) throw new Error(`ticket ${ticketId} was not consumed`);
        await delay(5);
      }
    },
    async close() {
      await server.stop();
      await reception.close();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
  return harness;
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Resolves true if the server closed the connection within a short while after the answer. */
  readonly closed: Promise<boolean>;
}

export interface SendOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | undefined;
  /** Abort the response after this many body bytes (the client vanishes). */
  readonly abortAfter?: number;
  readonly agent?: Agent;
}

/**
 * One HTTP request on a fresh kept-alive connection. When the server announces it closes the
 * connection (a refusal), `closed` tells whether it really did; otherwise the client closes it
 * at once, cleanly, as curl does after a download (which is evidence of delivery).
 */
export function send(url: string, options: SendOptions = {}): Promise<Reply> {
  const agent = options.agent ?? new Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent });
    req.once('error', reject);
    req.once('response', (res) => {
      const socket = res.socket;
      const serverCloses = res.headers['connection'] === 'close';
      let closedFlag = socket.destroyed;
      socket.once('close', () => (closedFlag = true));
      const settle = (): Promise<boolean> => {
        if (!serverCloses) {
          if (options.agent === undefined) agent.destroy();
          return Promise.resolve(false);
        }
        return new Promise<boolean>((done) => {
          if (closedFlag) return done(true);
          const timer = setTimeout(() => done(closedFlag), 1000);
          socket.once('close', () => {
            clearTimeout(timer);
            done(true);
          });
        }).finally(() => {
          if (options.agent === undefined) agent.destroy();
        });
      };
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        if (options.abortAfter !== undefined && received + chunk.length >= options.abortAfter) {
          chunks.push(chunk.subarray(0, options.abortAfter - received));
          received = options.abortAfter;
          res.destroy();
          socket.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), closed: Promise.resolve(true) });
          return;
        }
        received += chunk.length;
        chunks.push(chunk);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), closed: settle() }));
      res.once('error', () => undefined);
    });
    req.end(options.body);
  });
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function problemCode(reply: Reply): string | undefined {
  if (!String(reply.headers['content-type']).startsWith('application/problem+json') || reply.body.length === 0) return undefined;
  return (JSON.parse(reply.body.toString()) as { code?: string }).code;
}

/** Collects every log line, to prove no ticket reaches one. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger({ name: 'content-test', level: 'debug', destination }), lines };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

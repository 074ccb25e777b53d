import { createReadStream } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTROL_PATHS, type Notice } from '../../src/core/control/messages.js';
import { formatContentLocation } from '../../src/core/content-location.js';
import { newId } from '../../src/core/ids.js';
import { mintTicket, type TicketKey } from '../../src/core/ticket/ticket.js';
import { controlToken, deriveTicketKey, serverKeySet, type KeyEpoch } from '../../src/core/ticket/ticket-keys.js';
import { startProcess, type ManagedProcess } from './managed-process.js';
import { freePort, LOOPBACK, sleep } from './net.js';
import type { ReceptionStub } from './reception-stub.js';

// A real content server process (`tessera serve content`), configured by environment like any
// deployment, with the bench playing its reception: the bench hands it its ticket keys through
// the load-report replies, places replicas over the control channel, mints tickets with the
// reception's own functions and sends the notices.

const TESSERA_CLI = fileURLToPath(new URL('../../src/cli/tessera.js', import.meta.url));
const KID = 1;

export interface ContentServerOptions {
  readonly serverId: string;
  readonly root: Buffer;
  readonly stub: ReceptionStub;
  readonly dir: string;
  readonly noticeMode: 'required' | 'optional';
  readonly deliveryMode: 'node' | 'accel';
  readonly logLevel: string;
  readonly capacity: number;
  readonly extraEnv?: Record<string, string>;
  /** Node flags, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
}

export interface BenchItem {
  readonly contentId: string;
  readonly fileName: string;
  readonly size: number;
  readonly sha256: string;
  readonly path: string;
}

export interface MintedTicket {
  readonly path: string;
  readonly notice: Notice;
}

export class ContentServerProcess {
  readonly serverId: string;
  readonly publicUrl: string;
  readonly controlUrl: string;
  readonly storeDir: string;
  readonly process: ManagedProcess;
  readonly options: ContentServerOptions;
  readonly #key: TicketKey;
  readonly #token: string;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(options: ContentServerOptions, process: ManagedProcess, publicPort: number, controlPort: number, storeDir: string) {
    this.options = options;
    this.serverId = options.serverId;
    this.process = process;
    this.publicUrl = `http://${LOOPBACK}:${publicPort}`;
    this.controlUrl = `http://${LOOPBACK}:${controlPort}`;
    this.storeDir = storeDir;
    this.#key = deriveTicketKey(options.root, KID, options.serverId);
    this.#token = controlToken(options.root, options.serverId);
  }

  static async start(options: ContentServerOptions): Promise<ContentServerProcess> {
    const storeDir = join(options.dir, 'store');
    mkdirSync(storeDir, { recursive: true });
    const [publicPort, controlPort] = [await freePort(), await freePort()];
    const epochs: KeyEpoch[] = [{ kid: KID, createdAt: Date.now() - 1000, supersededAt: null, retiresAt: null }];
    options.stub.register(options.serverId, serverKeySet(options.root, options.serverId, epochs, Date.now()));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      NODE_ENV: 'production',
      TESSERA_SERVER_ID: options.serverId,
      TESSERA_PUBLIC_HOST: LOOPBACK,
      TESSERA_PUBLIC_PORT: String(publicPort),
      TESSERA_CONTROL_HOST: LOOPBACK,
      TESSERA_CONTROL_PORT: String(controlPort),
      TESSERA_RECEPTION_CONTROL_URL: options.stub.url,
      TESSERA_CONTROL_TOKEN: controlToken(options.root, options.serverId),
      TESSERA_STORE_DIR: storeDir,
      TESSERA_CAPACITY: String(options.capacity),
      TESSERA_NOTICE_MODE: options.noticeMode,
      TESSERA_DELIVERY_MODE: options.deliveryMode,
      TESSERA_LOG_LEVEL: options.logLevel,
      ...options.extraEnv,
    };
    const child = startProcess({
      label: options.serverId,
      command: process.execPath,
      args: [...(options.nodeArgs ?? []), TESSERA_CLI, 'serve', 'content'],
      env,
      logFile: join(options.dir, 'server.log'),
    });
    const server = new ContentServerProcess(options, child, publicPort, controlPort, storeDir);
    const until = Date.now() + 15_000;
    while (!options.stub.hasKeys(options.serverId)) {
      if (child.child.exitCode !== null) throw new Error(`${options.serverId} exited at start; see ${options.dir}/server.log`);
      if (Date.now() > until) {
        await child.stop();
        throw new Error(`${options.serverId} did not report holding its ticket keys within 15 s; see ${options.dir}/server.log`);
      }
      await sleep(50);
    }
    return server;
  }

  /** PUT /control/replicas/:contentId, streaming the file. */
  async placeReplica(item: BenchItem): Promise<void> {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${this.controlUrl}${CONTROL_PATHS.replicas}/${item.contentId}`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${this.#token}`,
          'content-type': 'application/octet-stream',
          'content-length': String(item.size),
          'x-tessera-sha256': item.sha256,
          'x-tessera-size': String(item.size),
          'x-tessera-file-name': encodeURIComponent(item.fileName),
        },
      });
      req.once('error', reject);
      req.once('response', (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      });
      createReadStream(item.path, { highWaterMark: 1024 * 1024 }).once('error', reject).pipe(req);
    });
    if (status !== 200 && status !== 201) throw new Error(`${this.serverId} refused the replica of ${item.fileName}: HTTP ${status}`);
  }

  /**
   * Mints `count` fresh tickets for `item`, valid for `lifetimeS`, whose notices hold a slot for
   * `holdS`; paths are /t/<ticket>/<content id>/<file name>.
   */
  async mint(item: BenchItem, count: number, lifetimeS: number, holdS: number): Promise<MintedTicket[]> {
    const nowMs = Date.now();
    const notBefore = Math.floor(nowMs / 1000) - 5;
    const expiresAt = notBefore + 5 + lifetimeS;
    const holdUntil = Math.min(expiresAt * 1000, nowMs + holdS * 1000);
    const location = formatContentLocation({ contentId: item.contentId, fileName: item.fileName });
    const tickets: MintedTicket[] = [];
    for (let i = 0; i < count; i++) {
      // The bench process also plays the reception: let it answer load reports and
      // completions while it mints a few hundred thousand tickets.
      if (i % 2000 === 1999) await new Promise((resolve) => setImmediate(resolve));
      const ticketId = newId();
      const orderId = newId();
      const ticket = mintTicket(
        { ticketId, orderId, contentId: item.contentId, audience: this.serverId, notBefore, expiresAt, maxConnections: 1, client: { mode: 'off' } },
        this.#key,
      );
      tickets.push({
        path: `/t/${ticket}/${location}`,
        notice: {
          ticketId,
          orderId,
          contentId: item.contentId,
          notBefore: notBefore * 1000,
          expiresAt: expiresAt * 1000,
          holdUntil,
          maxConnections: 1,
        },
      });
    }
    return tickets;
  }

  /** Sends the notices, `concurrency` at a time; resolves with how many were accepted. */
  async sendNotices(notices: readonly Notice[], concurrency = 32): Promise<number> {
    let next = 0;
    let accepted = 0;
    const worker = async (): Promise<void> => {
      while (next < notices.length) {
        const notice = notices[next++] as Notice;
        const status = await this.#postNotice(notice);
        if (status === 201 || status === 200) accepted++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, notices.length) }, worker));
    return accepted;
  }

  #postNotice(notice: Notice): Promise<number> {
    const body = JSON.stringify(notice);
    return new Promise((resolve, reject) => {
      const req = request(`${this.controlUrl}${CONTROL_PATHS.notices}`, {
        method: 'POST',
        agent: this.#agent,
        headers: {
          authorization: `Bearer ${this.#token}`,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        },
      });
      req.once('error', reject);
      req.once('response', (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      });
      req.end(body);
    });
  }

  async stop(): Promise<void> {
    this.#agent.destroy();
    await this.process.stop(15_000);
  }
}

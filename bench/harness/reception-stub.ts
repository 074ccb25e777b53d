import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTROL_PATHS } from '../../src/core/control/messages.js';
import { controlToken, type ServerKeySet } from '../../src/core/ticket/ticket-keys.js';
import { LOOPBACK } from './net.js';

// The reception's control endpoint, played by the bench: it answers load reports with the
// server's key set and acknowledges completions, one by one or in batches. It is kept as cheap as it can be (no JSON
// parsing of completions), because it shares the machine with the server under test; its CPU
// time is counted apart in every measurement.

export interface ServerSeen {
  keySetVersion: string;
  reports: number;
}

export class ReceptionStub {
  readonly #root: Buffer;
  readonly #keySets = new Map<string, { readonly reply: string; readonly version: string; readonly token: string }>();
  readonly #seen = new Map<string, ServerSeen>();
  readonly #server: Server;
  /** Completions acknowledged, one by one or in batches. */
  completions = 0;
  /** Batches acknowledged (POST /control/completion-batches). */
  batches = 0;
  /** Completions acknowledged one per request (POST /control/completions). */
  singles = 0;
  #url = '';

  constructor(root: Buffer) {
    this.#root = root;
    this.#server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
      const auth = req.headers.authorization ?? '';
      const serverId = auth.startsWith('Bearer ') ? this.#serverFor(auth.slice(7)) : undefined;
      if (serverId === undefined || req.method !== 'POST') {
        res.writeHead(401, { 'content-length': '0', connection: 'close' });
        res.end();
        req.resume();
        return;
      }
      if (req.url === CONTROL_PATHS.completions) {
        req.resume();
        req.once('end', () => {
          this.completions++;
          this.singles++;
          res.writeHead(204);
          res.end();
        });
        return;
      }
      if (req.url === CONTROL_PATHS.completionBatches) {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.once('end', () => {
          let count = 0;
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { completions?: unknown };
            if (Array.isArray(body.completions)) count = body.completions.length;
          } catch {
            // Counted as none: the bench then waits the settle timeout, and the log shows it.
          }
          this.completions += count;
          this.batches++;
          res.writeHead(204);
          res.end();
        });
        return;
      }
      if (req.url === CONTROL_PATHS.loadReports) {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.once('end', () => {
          const keySet = this.#keySets.get(serverId);
          const seen = this.#seen.get(serverId) ?? { keySetVersion: '', reports: 0 };
          seen.reports++;
          try {
            const report = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { keySetVersion?: unknown };
            if (typeof report.keySetVersion === 'string') seen.keySetVersion = report.keySetVersion;
          } catch {
            // A malformed report is the server's bug, not the bench's: it only delays readiness.
          }
          this.#seen.set(serverId, seen);
          const body = keySet && seen.keySetVersion !== keySet.version ? keySet.reply : '{}';
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
        return;
      }
      res.writeHead(404, { 'content-length': '0' });
      res.end();
      req.resume();
    });
  }

  get url(): string {
    return this.#url;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, LOOPBACK, resolve));
    this.#url = `http://${LOOPBACK}:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Registers a content server and the key set it gets in reply to its load reports. */
  register(serverId: string, keySet: ServerKeySet): void {
    this.#keySets.set(serverId, { reply: JSON.stringify({ keySet }), version: keySet.version, token: controlToken(this.#root, serverId) });
  }

  /** True once the server reported holding the key set it was given. */
  hasKeys(serverId: string): boolean {
    const want = this.#keySets.get(serverId)?.version;
    return want !== undefined && this.#seen.get(serverId)?.keySetVersion === want;
  }

  #serverFor(token: string): string | undefined {
    const dot = token.indexOf('.');
    const serverId = dot > 0 ? token.slice(0, dot) : '';
    // Bench-only comparison: the real reception checks tokens in constant time.
    return this.#keySets.get(serverId)?.token === token ? serverId : undefined;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

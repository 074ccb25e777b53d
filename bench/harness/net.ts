import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, stat, unlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Loopback only: every server in the bench listens on 127.0.0.1.

export const LOOPBACK = '127.0.0.1';

// Ports for servers that need a fixed number (nginx's file, a topology, a content server that
// must know its reception's control port) come from below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), where neither bind(0) nor
// an outgoing connection ever lands, and each is reserved across processes for a while by a file
// created exclusively: two test files or benchmark runs starting at once never get the same
// port between the moment it is found free and the moment its server binds it.

const RESERVED_FOR_MS = 5 * 60_000;
const RESERVATIONS = join(tmpdir(), 'tessera-port-reservations');
const LOWEST_PORT = 15_000;

function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST_PORT + 1_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const HIGHEST_PORT = ephemeralRangeStart() - 1;

/** True when this process now holds `port`'s reservation (made fresh, or taken over from a stale one). */
async function reserve(port: number): Promise<boolean> {
  const path = join(RESERVATIONS, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = Date.now() - (await stat(path).catch(() => ({ mtimeMs: 0 }))).mtimeMs;
      if (age < RESERVED_FOR_MS) return false;
      await unlink(path).catch(() => undefined);
    }
  }
  return false;
}

/** Listens on `port` (loopback), or resolves undefined when it is taken; the caller closes the server. */
export function holdPort(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, LOOPBACK, () => resolve(server));
  });
}

/** A port that is free, reserved for this process for a few minutes (for servers, like nginx, that need a fixed port in a file). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/** `count` distinct ports, each free and reserved for this process for a few minutes. */
export async function freePorts(count: number): Promise<number[]> {
  await mkdir(RESERVATIONS, { recursive: true });
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < count; tries++) {
      if (tries > 1_000 + 10 * count) throw new Error(`no free port found between ${LOWEST_PORT} and ${HIGHEST_PORT}`);
      const port = LOWEST_PORT + randomInt(HIGHEST_PORT - LOWEST_PORT + 1);
      if (ports.includes(port) || !(await reserve(port))) continue;
      const server = await holdPort(port);
      if (!server) continue;
      held.push(server);
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
  return ports;
}

export interface SimpleResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** One HTTP request over loopback, body collected (bounded to 4 MiB: only for small answers). */
export function httpCall(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, timeout: options.timeoutMs ?? 5000 });
    req.once('timeout', () => req.destroy(new Error(`timeout: ${options.method ?? 'GET'} ${url}`)));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > 4 * 1024 * 1024) res.destroy(new Error('answer too large'));
        else chunks.push(chunk);
      });
      res.once('error', reject);
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.end(options.body);
  });
}

/** Polls `url` until it answers at all (any status), within `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      await httpCall(url, { timeoutMs: 1000 });
      return;
    } catch (error) {
      last = error;
      await sleep(50);
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

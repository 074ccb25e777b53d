import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { deriveTicketKey } from '../src/core/ticket/ticket-keys.js';
import { mintTicket, verifyTicket, type ClientBinding, type TicketClaims, type VerifyPolicy } from '../src/core/ticket/ticket.js';

// The cost of a permission ticket, against its named peer: an Ed25519-signed ticket carrying
// the same conditions in clear. One core, one thread: each operation is warmed up, then run
// for a fixed time several times, and the median rate is reported.

export interface TicketBenchOptions {
  /** Seconds per measured run. */
  readonly seconds?: number;
  /** Measured runs per operation; the median is reported. */
  readonly runs?: number;
  /** Warm-up seconds per operation. */
  readonly warmupSeconds?: number;
}

const ROOT = Buffer.alloc(32, 0x42);
const SERVER = 'cs-1';
const NOW_S = Math.floor(Date.UTC(2026, 0, 1) / 1000);

const BINDINGS: readonly (readonly [string, ClientBinding])[] = [
  ['off (default)', { mode: 'off' }],
  ['exact IPv4', { mode: 'exact', address: '203.0.113.7' }],
  ['exact IPv6', { mode: 'exact', address: '2001:db8:85a3::8a2e:370:7334' }],
  ['prefix IPv4 /24', { mode: 'prefix', address: '203.0.113.7', bits: 24 }],
  ['prefix IPv6 /56', { mode: 'prefix', address: '2001:db8:1:2ab::5', bits: 56 }],
];

function claims(client: ClientBinding): TicketClaims {
  return {
    ticketId: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0',
    orderId: '11111111-2222-4333-8444-555555555555',
    contentId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
    audience: SERVER,
    notBefore: NOW_S,
    expiresAt: NOW_S + 120,
    maxConnections: 4,
    client,
  };
}

/**
 * Operations per second of each op: every op is warmed up, then the timed runs go round-robin
 * (one run of each op per round), so a burst of load from elsewhere on the machine hits every
 * op alike instead of one; the median run of each op is reported.
 */
async function rates(ops: readonly (readonly [string, () => unknown])[], options: Required<TicketBenchOptions>): Promise<[string, number][]> {
  let sink = 0;
  const timed = (op: () => unknown, seconds: number): number => {
    const limit = BigInt(Math.round(seconds * 1e9));
    const start = process.hrtime.bigint();
    let count = 0;
    let elapsed = 0n;
    do {
      for (let i = 0; i < 256; i++) if (op()) sink++;
      count += 256;
      elapsed = process.hrtime.bigint() - start;
    } while (elapsed < limit);
    return count / (Number(elapsed) / 1e9);
  };
  for (const [, op] of ops) timed(op, options.warmupSeconds);
  const runs = ops.map((): number[] => []);
  for (let round = 0; round < options.runs; round++) {
    for (const [i, [, op]] of ops.entries()) {
      await new Promise((resolve) => setImmediate(resolve));
      runs[i]?.push(timed(op, options.seconds));
    }
  }
  if (sink < 0) throw new Error('unreachable');
  return ops.map(([name], i) => {
    const sorted = [...(runs[i] ?? [])].sort((a, b) => a - b);
    return [name, sorted[Math.floor(sorted.length / 2)] ?? 0];
  });
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    // not Linux: fall through to os.cpus()
  }
  return cpus()[0]?.model ?? 'unknown';
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const micros = (perSecond: number): string => (1e6 / perSecond).toFixed(2);

export async function runTicketBench(options: TicketBenchOptions = {}): Promise<string> {
  const o: Required<TicketBenchOptions> = { seconds: 1, runs: 5, warmupSeconds: 0.5, ...options };
  const key = deriveTicketKey(ROOT, 1, SERVER);
  const policy: VerifyPolicy = { audience: SERVER, keys: (kid) => (kid === 1 ? key : undefined), nowMs: (NOW_S + 1) * 1000, clockToleranceS: 5 };
  const offClaims = claims({ mode: 'off' });
  const boundClaims = claims({ mode: 'exact', address: '2001:db8:85a3::8a2e:370:7334' });
  const offTicket = mintTicket(offClaims, key);
  const boundTicket = mintTicket(boundClaims, key);

  // The peer: the same header and conditions, in clear, signed with Ed25519 (64-byte signature).
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const offBytes = Buffer.from(offTicket, 'base64url');
  const edPayload = Buffer.concat([offBytes.subarray(0, 6 + SERVER.length), Buffer.alloc(58, 0x11)]);
  const edSignature = sign(null, edPayload, privateKey);
  const edTicket = Buffer.concat([edPayload, edSignature]).toString('base64url');
  const edVerify = (): boolean => {
    const bytes = Buffer.from(edTicket, 'base64url');
    return verify(null, bytes.subarray(0, bytes.length - 64), publicKey, bytes.subarray(bytes.length - 64));
  };
  if (!edVerify()) throw new Error('Ed25519 peer does not verify');

  const loadBefore = loadavg()[0] ?? 0;
  const rows = await rates(
    [
      ['AES-256-GCM mint (binding off)', () => mintTicket(offClaims, key)],
      ['AES-256-GCM mint (exact IPv6)', () => mintTicket(boundClaims, key)],
      ['AES-256-GCM verify (binding off)', () => verifyTicket(offTicket, policy)],
      ['AES-256-GCM verify (exact IPv6)', () => verifyTicket(boundTicket, policy)],
      ['HKDF derive one server key', () => deriveTicketKey(ROOT, 1, SERVER)],
      ['Ed25519 sign (same payload, in clear)', () => Buffer.concat([edPayload, sign(null, edPayload, privateKey)]).toString('base64url')],
      ['Ed25519 verify (same payload, in clear)', edVerify],
    ],
    o,
  );
  const loadAfter = loadavg()[0] ?? 0;

  const aesVerify = rows[2]?.[1] ?? 0;
  const edVerifyRate = rows[6]?.[1] ?? 0;
  const aesMint = rows[0]?.[1] ?? 0;
  const edSign = rows[5]?.[1] ?? 0;

  const lines: string[] = [];
  lines.push(`Ticket cost, measured ${new Date().toISOString().slice(0, 10)} with Node ${process.version} on ${cpuModel()}`);
  lines.push(`(one core, one thread; ${o.warmupSeconds} s warm-up, median of ${o.runs} interleaved runs of ${o.seconds} s each;`);
  lines.push(`1-minute load average ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after on ${cpus().length} CPUs).`);
  lines.push('');
  lines.push('| operation | ops/s | µs/op |');
  lines.push('| --- | ---: | ---: |');
  for (const [name, perSecond] of rows) lines.push(`| ${name} | ${fmt(perSecond)} | ${micros(perSecond)} |`);
  lines.push('');
  lines.push(`AES-256-GCM verify is ${(aesVerify / edVerifyRate).toFixed(1)}× as fast as Ed25519 verify; mint is ${(aesMint / edSign).toFixed(1)}× as fast as Ed25519 sign.`);
  lines.push('');
  lines.push(`Ticket size (audience "${SERVER}", ${SERVER.length} characters; each audience character adds one byte):`);
  lines.push('');
  lines.push('| binding | bytes | base64url chars | URL path `/t/<ticket>/<content id>/movie.mp4` |');
  lines.push('| --- | ---: | ---: | ---: |');
  for (const [name, client] of BINDINGS) {
    const ticket = mintTicket(claims(client), key);
    const path = `/t/${ticket}/${offClaims.contentId}/movie.mp4`;
    lines.push(`| ${name} | ${Buffer.from(ticket, 'base64url').length} | ${ticket.length} | ${path.length} |`);
  }
  lines.push(`| Ed25519 peer (conditions in clear, binding off) | ${Buffer.from(edTicket, 'base64url').length} | ${edTicket.length} | ${`/t/${edTicket}/${offClaims.contentId}/movie.mp4`.length} |`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const seconds = Number(process.env['TESSERA_BENCH_SECONDS'] ?? '1');
  console.log(await runTicketBench({ seconds: Number.isFinite(seconds) && seconds > 0 ? seconds : 1 }));
}

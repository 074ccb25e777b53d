import { parseArgs } from 'node:util';
import type { ServerStatus } from '../../core/control/messages.js';
import { adminTarget, describeFailure, getServer, setDrain, type AdminTarget, type JsonResponse } from '../admin-client.js';

const HELP = `usage: tessera drain SERVER [--wait] [--timeout SECONDS] [--control URL] [--data DIR]

Stops new tickets to content server SERVER while it finishes the transfers it has. The drain is
kept by the reception (it outlives a restart) until \`tessera undrain SERVER\`. With --wait,
returns once the server has nothing left to finish, so it can be stopped without cutting
anyone off (default timeout 600 s). Server names are listed by \`tessera status\`.
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parse(argv, HELP, { wait: { type: 'boolean' }, timeout: { type: 'string' } });
  if (typeof parsed === 'number') return parsed;
  const { serverId, target, values } = parsed;
  const timeoutS = values['timeout'] === undefined ? 600 : Number(values['timeout']);
  if (!(Number.isFinite(timeoutS) && timeoutS > 0)) return usage('--timeout must be a positive number of seconds', HELP);
  const response = await reach(target, () => setDrain(target, serverId, true));
  if (typeof response === 'number') return response;
  if (response.status !== 200) return fail('drain', response);
  const body = response.json as { changed: boolean; drainedSince: number; server: ServerStatus | null };
  const s = body.server;
  const since = new Date(body.drainedSince).toISOString().replace('T', ' ').slice(0, 19);
  const left = s === null ? '' : work(s);
  if (body.changed) process.stdout.write(`${serverId} drained: it gets no new tickets${left ? ` and finishes ${left}` : ' and has nothing left to finish'}.\n`);
  else process.stdout.write(`${serverId} was already drained (since ${since} UTC)${left ? `; still finishing ${left}` : ''}.\n`);
  if (s?.health === 'stale') process.stdout.write(`note: ${serverId} is not reporting; it stays drained when it comes back.\n`);
  if (!values['wait']) {
    process.stdout.write(`Undo with: tessera undrain ${serverId}\n`);
    return 0;
  }
  return waitDrained(target, serverId, timeoutS * 1000);
}

/** "2 transfers and 1 held slot", or '' when nothing is left. */
function work(s: ServerStatus): string {
  const held = Math.max(0, s.slotsTaken - s.activeTransfers);
  const parts = [];
  if (s.activeTransfers > 0) parts.push(`${s.activeTransfers} transfer${s.activeTransfers === 1 ? '' : 's'}`);
  if (held > 0) parts.push(`${held} held slot${held === 1 ? '' : 's'}`);
  return parts.join(' and ');
}

async function waitDrained(target: AdminTarget, serverId: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const response = await reach(target, () => getServer(target, serverId));
    if (typeof response === 'number') return response;
    if (response.status !== 200) return fail('drain', response);
    const { server } = response.json as { server: ServerStatus | null };
    if (server?.health === 'drained') {
      process.stdout.write(`${serverId} has finished its transfers: it can be stopped now.\n`);
      return 0;
    }
    if (server?.health === 'healthy') {
      process.stderr.write(`tessera drain: ${serverId} was undrained meanwhile\n`);
      return 1;
    }
    const now = server === null ? 'not reporting' : server.health === 'stale' ? 'not reporting' : `finishing ${work(server) || 'its last transfer'}`;
    if (now !== last) process.stdout.write(`waiting: ${serverId} is ${now}\n`);
    last = now;
    if (Date.now() > deadline) {
      process.stderr.write(`tessera drain: ${serverId} still has work after ${Math.round(timeoutMs / 1000)} s; it stays drained\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// Shared with undrain.ts.

export interface Parsed {
  readonly serverId: string;
  readonly target: AdminTarget;
  readonly values: Record<string, string | boolean | undefined>;
}

export function parse(argv: string[], help: string, extra: Record<string, { type: 'boolean' | 'string' }> = {}): Parsed | number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { control: { type: 'string' }, data: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...extra },
    });
  } catch (error) {
    return usage((error as Error).message, help);
  }
  const { values, positionals } = parsed;
  if (values['help']) return (process.stdout.write(help), 0);
  const [serverId] = positionals;
  if (serverId === undefined || positionals.length !== 1) return usage('name one content server', help);
  const v = values as Record<string, string | boolean | undefined>;
  const control = typeof v['control'] === 'string' ? v['control'] : undefined;
  const data = typeof v['data'] === 'string' ? v['data'] : undefined;
  return { serverId, target: adminTarget(process.env, { control, data }), values: v };
}

export function usage(message: string, help: string): number {
  process.stderr.write(`${message}\n\n${help}`);
  return 2;
}

/** Runs a control call, turning "nothing listens there" into a message that says where we looked. */
export async function reach(target: AdminTarget, callIt: () => Promise<JsonResponse>): Promise<JsonResponse | number> {
  try {
    return await callIt();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tessera: cannot reach the reception's control listener at ${target.controlUrl} (${reason}); is it running? (--control URL)\n`);
    return 1;
  }
}

export function fail(command: string, response: JsonResponse): number {
  process.stderr.write(`tessera ${command}: ${describeFailure(response)}\n`);
  return 1;
}

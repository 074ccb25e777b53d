import { parseArgs } from 'node:util';
import type { StatusSnapshot } from '../../core/control/messages.js';
import { renderStatusTable, statusRow } from '../../core/control/server-status-row.js';
import { adminTarget, describeFailure, listServers, type AdminTarget } from '../admin-client.js';

const HELP = `usage: tessera status [--once] [--json] [--interval SECONDS] [--control URL] [--data DIR]

Shows every content server as the reception sees it: health (healthy, draining, drained,
stale), drain state, load, slots taken of capacity, active transfers, throughput, memory and
the age and sequence number of its last load report. Refreshes in place until Ctrl-C
(every 1 s by default); --once prints it once and exits (1 when the reception cannot be read);
--json prints the reception's JSON instead of the table (one line per refresh without --once).
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        once: { type: 'boolean' },
        json: { type: 'boolean' },
        interval: { type: 'string' },
        control: { type: 'string' },
        data: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) return (process.stdout.write(HELP), 0);
  const intervalS = values.interval === undefined ? 1 : Number(values.interval);
  if (!(Number.isFinite(intervalS) && intervalS >= 0.1)) {
    process.stderr.write(`--interval must be a number of seconds, at least 0.1\n\n${HELP}`);
    return 2;
  }
  const target = adminTarget(process.env, values);
  if (values.once) {
    const result = await read(target);
    if (typeof result === 'string') {
      process.stderr.write(`tessera status: ${result}\n`);
      return 1;
    }
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${render(result, target)}\n`);
    return 0;
  }
  return live(target, intervalS * 1000, values.json === true);
}

async function read(target: AdminTarget): Promise<StatusSnapshot | string> {
  try {
    const response = await listServers(target);
    if (response.status !== 200) return describeFailure(response);
    return response.json as unknown as StatusSnapshot;
  } catch (error) {
    return `cannot reach the reception's control listener at ${target.controlUrl} (${error instanceof Error ? error.message : String(error)}); is it running? (--control URL)`;
  }
}

function render(snapshot: StatusSnapshot, target: AdminTarget): string {
  const at = new Date(snapshot.at).toISOString().replace('T', ' ').slice(0, 19);
  const table = snapshot.servers.length === 0 ? 'No content server has reported to this reception yet.' : renderStatusTable(snapshot.servers.map((s) => statusRow(s, snapshot.at)));
  return `${table}\n\nreception ${target.controlUrl}, ${at} UTC`;
}

async function live(target: AdminTarget, intervalMs: number, json: boolean): Promise<number> {
  const tty = process.stdout.isTTY === true && !json;
  let stopped = false;
  const stop = new Promise<void>((resolve) => {
    const done = (): void => {
      stopped = true;
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  // Redraw in place on a terminal: cursor home, draw, clear what the last frame left below.
  if (tty) process.stdout.write('\x1b[?25l\x1b[2J');
  try {
    while (!stopped) {
      const result = await read(target);
      if (json) {
        process.stdout.write(`${JSON.stringify(typeof result === 'string' ? { error: result } : result)}\n`);
      } else {
        const text = typeof result === 'string' ? `tessera status: ${result}\nretrying every ${intervalMs / 1000} s` : render(result, target);
        if (tty) process.stdout.write(`\x1b[H${text.split('\n').join('\x1b[K\n')}\x1b[K\n\nCtrl-C to quit\x1b[J`);
        else process.stdout.write(`${text}\n\n`);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stop, new Promise((r) => (timer = setTimeout(r, intervalMs)))]);
      clearTimeout(timer);
    }
  } finally {
    if (tty) process.stdout.write('\x1b[?25h\n');
  }
  return 0;
}

import type { ServerStatus } from '../../core/control/messages.js';
import { setDrain } from '../admin-client.js';
import { fail, parse, reach } from './drain.js';

const HELP = `usage: tessera undrain SERVER [--control URL] [--data DIR]

Reverses \`tessera drain SERVER\`: the content server takes new tickets again, from its next
load report on.
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parse(argv, HELP);
  if (typeof parsed === 'number') return parsed;
  const { serverId, target } = parsed;
  const response = await reach(target, () => setDrain(target, serverId, false));
  if (typeof response === 'number') return response;
  if (response.status !== 200) return fail('undrain', response);
  const { changed, server } = response.json as { changed: boolean; server: ServerStatus | null };
  if (!changed) process.stdout.write(`${serverId} was not drained; nothing changed.\n`);
  else process.stdout.write(`${serverId} undrained: it takes new tickets again ${server?.health === 'stale' ? 'once it reports (it is not reporting now)' : 'from its next load report'}.\n`);
  return 0;
}

import { parseArgs } from 'node:util';
import { adminTarget, describeFailure, rotateKeys } from '../admin-client.js';

const HELP = `usage: tessera keys rotate [--grace SECONDS] [--control URL] [--data DIR]

Starts minting tickets with a new key ID. Tickets sealed with the previous key stay valid for
the grace period (default: the longest ticket lifetime plus a margin); then content servers
refuse them with ticket-key-retired.
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'rotate') return (process.stderr.write(HELP), 2);
  const { values } = parseArgs({ args: rest, options: { grace: { type: 'string' }, control: { type: 'string' }, data: { type: 'string' } } });
  const graceS = values.grace === undefined ? undefined : Number(values.grace);
  if (graceS !== undefined && !(Number.isInteger(graceS) && graceS >= 0)) return (process.stderr.write('--grace must be a whole number of seconds\n'), 2);
  const response = await rotateKeys(adminTarget(process.env, values), graceS);
  if (response.status !== 200) {
    process.stderr.write(`tessera keys rotate: ${describeFailure(response)}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify(response.json)}\n`);
  return 0;
}

import { parseArgs } from 'node:util';
import { addContent, adminTarget, describeFailure } from '../admin-client.js';

const HELP = `usage: tessera content add FILE [--title T] [--mime-type M] [--control URL] [--data DIR]
       tessera content list [--reception URL]

add   ingests FILE (SHA-256, size, MIME type, file name) into the catalogue and places a
      replica on every live content server. Talks to the reception's control listener
      (default http://127.0.0.1:9100) with the admin token derived from DIR/secret.key.
list  prints the catalogue from the reception's public API (default http://localhost:8080).
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'add') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { title: { type: 'string' }, 'mime-type': { type: 'string' }, control: { type: 'string' }, data: { type: 'string' }, help: { type: 'boolean' } },
    });
    if (values.help) return (process.stdout.write(HELP), 0);
    const [file] = positionals;
    if (file === undefined || positionals.length !== 1) return (process.stderr.write(HELP), 2);
    const response = await addContent(adminTarget(process.env, values), file, values.title, values['mime-type']);
    if (response.status !== 201) {
      process.stderr.write(`tessera content add: ${describeFailure(response)}\n`);
      return 1;
    }
    const { content, replicas } = response.json as { content: { id: string; title: string; size: number; sha256: string }; replicas: string[] };
    process.stdout.write(`${content.id}  ${content.title}  ${content.size} bytes  sha256 ${content.sha256}\nreplicas: ${replicas.join(', ') || '(none live yet; placed when servers report)'}\n`);
    return 0;
  }
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { reception: { type: 'string' } } });
    const base = (values.reception ?? process.env['TESSERA_RECEPTION_URL'] ?? 'http://localhost:8080').replace(/\/+$/, '');
    const response = await fetch(`${base}/contents`);
    if (!response.ok) {
      process.stderr.write(`tessera content list: HTTP ${response.status}\n`);
      return 1;
    }
    const { items } = (await response.json()) as { items: { id: string; title: string; size: number; fileName: string }[] };
    for (const item of items) process.stdout.write(`${item.id}  ${String(item.size).padStart(12)}  ${item.title} (${item.fileName})\n`);
    return 0;
  }
  process.stderr.write(HELP);
  return 2;
}

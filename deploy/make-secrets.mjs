#!/usr/bin/env node
// Makes the secrets a many-machine deployment needs, as files, from one root secret:
//
//   root_secret              the root secret (receptions only; every key and token derives from it)
//   admin_token              the operator's token for the receptions' control listeners
//   <server>_control_token   each content server's own control token (never the root secret)
//   postgres_password, database_url, redis_url
//
// Files that exist are kept (re-running adds tokens for new servers, never rotates a secret).
// Needs `npm run build` first: tokens are derived by the same code the servers run.
//
//   node deploy/make-secrets.mjs --out deploy/compose/secrets --servers cs-1,cs-2,cs-3
//   node deploy/make-secrets.mjs --out ~/tessera-secrets --servers content-0,content-1,content-2 \
//        --postgres-host postgres:5432 --kubernetes | kubectl apply -n tessera -f -
//
// --kubernetes prints the Secrets deploy/kubernetes/ reads (stringData) on standard output.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const HELP = `usage: node deploy/make-secrets.mjs --out DIR --servers ID,ID,... [--postgres-host HOST:PORT]
       [--redis-url URL] [--kubernetes]
`;

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    servers: { type: 'string' },
    'postgres-host': { type: 'string', default: 'postgres:5432' },
    'redis-url': { type: 'string', default: 'redis://redis:6379' },
    kubernetes: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help || values.out === undefined || values.servers === undefined) {
  process.stderr.write(HELP);
  process.exit(values.help ? 0 : 2);
}

const dist = new URL('../dist/src/', import.meta.url);
let keys, controlApp, ids;
try {
  keys = await import(new URL('core/ticket/ticket-keys.js', dist).href);
  controlApp = await import(new URL('servers/reception/control-app.js', dist).href);
  ids = await import(new URL('core/ids.js', dist).href);
} catch (error) {
  process.stderr.write(`make-secrets: cannot load the built code (${error.message}); run npm run build first\n`);
  process.exit(1);
}

const out = values.out;
const servers = values.servers.split(',').map((s) => s.trim()).filter(Boolean);
for (const id of servers) {
  if (!ids.isServerId(id)) {
    process.stderr.write(`make-secrets: "${id}" is not a server ID (${ids.SERVER_ID_PATTERN.source})\n`);
    process.exit(2);
  }
}
// The directory is 0700 and the files in it 0644: Compose bind-mounts each file into the
// container with its host owner and mode, and the servers run as the image's `node` user (uid
// 1000), so a 0600 file owned by another host user could not be read there. Nobody else on the
// host can reach the files through the 0700 directory.
mkdirSync(out, { recursive: true, mode: 0o700 });
chmodSync(out, 0o700);

/** Reads a secret file, or writes it with `make()` when it is missing. */
function secretFile(name, make) {
  const path = join(out, name);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const value = make();
  writeFileSync(path, `${value}\n`, { mode: 0o644, flag: 'wx' });
  chmodSync(path, 0o644);
  return value;
}

const rootText = secretFile('root_secret', () => randomBytes(32).toString('base64url'));
const root = Buffer.from(rootText, 'base64url');
if (root.length < 32) {
  process.stderr.write(`make-secrets: ${join(out, 'root_secret')} holds fewer than 32 bytes\n`);
  process.exit(1);
}
const adminToken = secretFile('admin_token', () => controlApp.adminToken(root));
const tokens = Object.fromEntries(servers.map((id) => [id, secretFile(`${id}_control_token`, () => keys.controlToken(root, id))]));
const password = secretFile('postgres_password', () => randomBytes(24).toString('base64url'));
const databaseUrl = secretFile('database_url', () => `postgres://tessera:${encodeURIComponent(password)}@${values['postgres-host']}/tessera`);
const redisUrl = secretFile('redis_url', () => values['redis-url']);

if (values.kubernetes) {
  const secret = (name, data) =>
    [
      'apiVersion: v1',
      'kind: Secret',
      'metadata:',
      `  name: ${name}`,
      '  labels: { app.kubernetes.io/name: tessera }',
      'type: Opaque',
      'stringData:',
      ...Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`),
    ].join('\n');
  process.stdout.write(
    [
      secret('tessera-reception', { 'root-secret': rootText, 'database-url': databaseUrl, 'redis-url': redisUrl }),
      secret('tessera-content', { 'redis-url': redisUrl }),
      secret('tessera-content-tokens', tokens),
      secret('tessera-admin', { 'admin-token': adminToken }),
      secret('tessera-postgres', { password }),
    ].join('\n---\n') + '\n',
  );
} else {
  process.stderr.write(`make-secrets: secrets for ${servers.join(', ')} are in ${out} (directory mode 0700; keep them out of version control)\n`);
}

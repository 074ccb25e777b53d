import { join } from 'node:path';
import { controlToken } from '../core/ticket/ticket-keys.js';
import { nginxEntry } from './nginx-entry.js';
import { receptionControlUrls, type Topology } from './topology.js';

// How each server of a topology is started as its own process: the role and its environment.
// Used by `tessera up` and by the tests that start real topologies.

export interface ProcessSpec {
  readonly name: string;
  readonly role: 'reception' | 'content' | 'entry';
  readonly env: NodeJS.ProcessEnv;
  readonly healthUrl: string;
  /** For a process that is not `tessera serve ROLE` (the nginx entry): its argv, binary first. */
  readonly argv?: readonly string[];
  /** Files to write before starting it (the nginx entry's configuration). */
  readonly files?: readonly { readonly path: string; readonly text: string }[];
  /** Directories to create before starting it. */
  readonly dirs?: readonly string[];
}

export function processPlan(topology: Topology, dataDir: string, secretFile: string, root: Buffer, baseEnv: NodeJS.ProcessEnv): ProcessSpec[] {
  const base: NodeJS.ProcessEnv = { ...baseEnv, TESSERA_DATA_DIR: dataDir };
  delete base['TESSERA_SECRET'];
  if (topology.databaseUrl !== undefined) base['TESSERA_DATABASE_URL'] = topology.databaseUrl;
  // Every process shares Redis (content servers too: reports, notices, completions, the ledger).
  if (topology.redisUrl !== undefined) base['TESSERA_REDIS_URL'] = topology.redisUrl;
  const several = topology.receptions.length > 1;
  const receptions = topology.receptions.map<ProcessSpec>((r, i) => ({
    name: several ? `reception-${i + 1}` : 'reception',
    role: 'reception',
    healthUrl: `http://${topology.host}:${r.publicPort}/healthz`,
    env: {
      ...base,
      TESSERA_SECRET_FILE: secretFile,
      TESSERA_PUBLIC_HOST: topology.host,
      TESSERA_PUBLIC_PORT: String(r.publicPort),
      TESSERA_CONTROL_HOST: topology.host,
      TESSERA_CONTROL_PORT: String(r.controlPort),
      // A stable name on Redis (completion consumer, admission turn) across restarts.
      TESSERA_RECEPTION_ID: several ? `reception-${i + 1}` : 'reception',
      // Behind the entry every client would be the entry's address: the per-address rate
      // limit reads X-Forwarded-For, which only the entry (on loopback) can set.
      ...(topology.entry ? { TESSERA_TRUST_PROXY: 'true' } : {}),
    },
  }));
  const receptionControl = receptionControlUrls(topology).join(',');
  const servers = topology.contentServers.map<ProcessSpec>((s) => {
    const env: NodeJS.ProcessEnv = {
      ...base,
      TESSERA_SERVER_ID: s.id,
      TESSERA_PUBLIC_HOST: topology.host,
      TESSERA_PUBLIC_PORT: String(s.publicPort),
      TESSERA_CONTROL_HOST: topology.host,
      TESSERA_CONTROL_PORT: String(s.controlPort),
      TESSERA_RECEPTION_CONTROL_URL: receptionControl,
      TESSERA_CONTROL_TOKEN: controlToken(root, s.id),
      TESSERA_STORE_DIR: join(dataDir, 'content-servers', s.id),
      TESSERA_CAPACITY: String(s.capacity),
      TESSERA_AREA: s.area,
      TESSERA_COST: String(s.cost),
    };
    // Content servers never see the root secret (nor the database): only their own control token.
    delete env['TESSERA_SECRET_FILE'];
    delete env['TESSERA_DATABASE_URL'];
    return { name: s.id, role: 'content', healthUrl: `http://${topology.host}:${s.publicPort}/healthz`, env };
  });
  const nginx = nginxEntry(topology, dataDir);
  const entry: ProcessSpec[] =
    nginx === undefined || topology.entry === undefined
      ? []
      : [
          {
            name: 'entry',
            role: 'entry',
            healthUrl: `http://${topology.host}:${topology.entry.publicPort}/healthz`,
            env: { PATH: baseEnv['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
            argv: nginx.argv,
            files: [{ path: nginx.configFile, text: nginx.config }],
            dirs: [join(nginx.prefix, 'tmp')],
          },
        ];
  return [...receptions, ...servers, ...entry];
}

import { join } from 'node:path';
import { controlToken } from '../core/ticket/ticket-keys.js';
import type { Topology } from './topology.js';

// How each server of a topology is started as its own process: the role and its environment.
// Used by `tessera up` and by the tests that start real topologies.

export interface ProcessSpec {
  readonly name: string;
  readonly role: 'reception' | 'content';
  readonly env: NodeJS.ProcessEnv;
  readonly healthUrl: string;
}

export function processPlan(topology: Topology, dataDir: string, secretFile: string, root: Buffer, baseEnv: NodeJS.ProcessEnv): ProcessSpec[] {
  const base: NodeJS.ProcessEnv = { ...baseEnv, TESSERA_DATA_DIR: dataDir };
  delete base['TESSERA_SECRET'];
  const receptionControl = `http://${topology.host}:${topology.reception.controlPort}`;
  const reception: ProcessSpec = {
    name: 'reception',
    role: 'reception',
    healthUrl: `http://${topology.host}:${topology.reception.publicPort}/healthz`,
    env: {
      ...base,
      TESSERA_SECRET_FILE: secretFile,
      TESSERA_PUBLIC_HOST: topology.host,
      TESSERA_PUBLIC_PORT: String(topology.reception.publicPort),
      TESSERA_CONTROL_HOST: topology.host,
      TESSERA_CONTROL_PORT: String(topology.reception.controlPort),
    },
  };
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
    // Content servers never see the root secret: only their own control token.
    delete env['TESSERA_SECRET_FILE'];
    return { name: s.id, role: 'content', healthUrl: `http://${topology.host}:${s.publicPort}/healthz`, env };
  });
  return [reception, ...servers];
}

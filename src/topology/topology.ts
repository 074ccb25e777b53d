import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/env.js';
import { isServerId } from '../core/ids.js';

// What `tessera up` starts on one machine. The built-in default is one reception and three
// content servers, all on loopback; a topology file (JSON) can describe any other mix.

export interface ReceptionSpec {
  readonly publicPort: number;
  readonly controlPort: number;
}

export interface ContentServerSpec {
  readonly id: string;
  readonly publicPort: number;
  readonly controlPort: number;
  readonly capacity: number;
  readonly area: string;
  readonly cost: number;
}

export interface Topology {
  readonly host: string;
  readonly reception: ReceptionSpec;
  readonly contentServers: readonly ContentServerSpec[];
}

export const defaultTopology: Topology = {
  host: '127.0.0.1',
  reception: { publicPort: 8080, controlPort: 9100 },
  contentServers: [
    { id: 'cs-1', publicPort: 8081, controlPort: 9101, capacity: 8, area: 'local', cost: 1 },
    { id: 'cs-2', publicPort: 8082, controlPort: 9102, capacity: 8, area: 'local', cost: 2 },
    { id: 'cs-3', publicPort: 8083, controlPort: 9103, capacity: 8, area: 'local', cost: 3 },
  ],
};

function port(value: unknown, where: string): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65_535) throw new ConfigError(where, 'must be a port number 1..65535');
  return value as number;
}

export function parseTopology(text: string, source: string): Topology {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(source, `is not valid JSON: ${(error as Error).message}`);
  }
  const t = raw as { host?: unknown; reception?: Record<string, unknown>; contentServers?: unknown };
  if (!t || typeof t !== 'object' || !t.reception || !Array.isArray(t.contentServers) || t.contentServers.length === 0) {
    throw new ConfigError(source, 'needs "reception" and a non-empty "contentServers" list');
  }
  const contentServers = (t.contentServers as Record<string, unknown>[]).map((s, i) => {
    const where = `${source} contentServers[${i}]`;
    if (!isServerId(s['id'])) throw new ConfigError(`${where}.id`, 'must match ^[a-z0-9][a-z0-9-]{0,31}$');
    const capacity = s['capacity'] ?? 8;
    if (!Number.isInteger(capacity) || (capacity as number) < 1) throw new ConfigError(`${where}.capacity`, 'must be a positive integer');
    return {
      id: s['id'] as string,
      publicPort: port(s['publicPort'], `${where}.publicPort`),
      controlPort: port(s['controlPort'], `${where}.controlPort`),
      capacity: capacity as number,
      area: typeof s['area'] === 'string' ? s['area'] : 'local',
      cost: typeof s['cost'] === 'number' ? s['cost'] : 0,
    };
  });
  const ids = new Set(contentServers.map((s) => s.id));
  if (ids.size !== contentServers.length) throw new ConfigError(source, 'content server ids must be unique');
  return {
    host: typeof t.host === 'string' ? t.host : '127.0.0.1',
    reception: { publicPort: port(t.reception['publicPort'], `${source} reception.publicPort`), controlPort: port(t.reception['controlPort'], `${source} reception.controlPort`) },
    contentServers,
  };
}

export function loadTopology(file: string | undefined): Topology {
  return file === undefined ? defaultTopology : parseTopology(readFileSync(file, 'utf8'), file);
}

import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/env.js';
import { isServerId } from '../core/ids.js';
import { parseRedisUrl } from '../adapters/redis/redis-url.js';

// What `tessera up` starts on one machine. The built-in default is one reception and three
// content servers, all on loopback; a topology file (JSON) can describe any other mix. Several
// receptions share one public entry: an nginx from the system, started and configured by
// `tessera up` (nginx-entry.ts), in front of them; they share one database.

export interface ReceptionSpec {
  readonly publicPort: number;
  readonly controlPort: number;
}

/** The public entry in front of several receptions. */
export interface EntrySpec {
  readonly publicPort: number;
  /** Only nginx for now (see docs/operations.md for why not a home-made proxy). */
  readonly balancer: 'nginx';
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
  /** At least one. */
  readonly receptions: readonly ReceptionSpec[];
  /** Required with more than one reception: where clients go. */
  readonly entry?: EntrySpec;
  /** The receptions' shared database; default SQLite in the data directory. */
  readonly databaseUrl?: string;
  /**
   * Shared state and the control channel on Redis for every process (TESSERA_REDIS_URL,
   * docs/scale-out.md); default: in each process, with HTTP control listeners.
   */
  readonly redisUrl?: string;
  readonly contentServers: readonly ContentServerSpec[];
}

export const defaultTopology: Topology = {
  host: '127.0.0.1',
  receptions: [{ publicPort: 8080, controlPort: 9100 }],
  contentServers: [
    { id: 'cs-1', publicPort: 8081, controlPort: 9101, capacity: 8, area: 'local', cost: 1 },
    { id: 'cs-2', publicPort: 8082, controlPort: 9102, capacity: 8, area: 'local', cost: 2 },
    { id: 'cs-3', publicPort: 8083, controlPort: 9103, capacity: 8, area: 'local', cost: 3 },
  ],
};

/** The port clients use: the entry's with several receptions, else the reception's own. */
export function publicPortOf(topology: Topology): number {
  return topology.entry?.publicPort ?? (topology.receptions[0] as ReceptionSpec).publicPort;
}

/** Control URLs of every reception, in topology order. */
export function receptionControlUrls(topology: Topology): string[] {
  return topology.receptions.map((r) => `http://${topology.host}:${r.controlPort}`);
}

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
  const t = raw as { host?: unknown; reception?: unknown; receptions?: unknown; entry?: unknown; databaseUrl?: unknown; redisUrl?: unknown; contentServers?: unknown };
  if (!t || typeof t !== 'object' || (t.reception === undefined && t.receptions === undefined) || !Array.isArray(t.contentServers) || t.contentServers.length === 0) {
    throw new ConfigError(source, 'needs "reception" (or "receptions") and a non-empty "contentServers" list');
  }
  if (t.reception !== undefined && t.receptions !== undefined) throw new ConfigError(source, 'give "reception" or "receptions", not both');
  const receptionList: unknown[] = t.receptions !== undefined ? (Array.isArray(t.receptions) ? t.receptions : []) : [t.reception];
  if (receptionList.length === 0) throw new ConfigError(`${source} receptions`, 'must be a non-empty list');
  const receptions = receptionList.map((r, i) => {
    const where = t.receptions !== undefined ? `${source} receptions[${i}]` : `${source} reception`;
    if (!r || typeof r !== 'object') throw new ConfigError(where, 'must be an object with publicPort and controlPort');
    const spec = r as Record<string, unknown>;
    return { publicPort: port(spec['publicPort'], `${where}.publicPort`), controlPort: port(spec['controlPort'], `${where}.controlPort`) };
  });
  let entry: EntrySpec | undefined;
  if (t.entry !== undefined) {
    const e = t.entry as Record<string, unknown>;
    if (!e || typeof e !== 'object') throw new ConfigError(`${source} entry`, 'must be an object with publicPort');
    const balancer = e['balancer'] ?? 'nginx';
    if (balancer !== 'nginx') throw new ConfigError(`${source} entry.balancer`, 'must be "nginx"');
    entry = { publicPort: port(e['publicPort'], `${source} entry.publicPort`), balancer };
  }
  if (receptions.length > 1 && entry === undefined) throw new ConfigError(`${source} entry`, 'is required with more than one reception: the public port clients use');
  if (t.databaseUrl !== undefined && (typeof t.databaseUrl !== 'string' || !/^(sqlite:|postgres(ql)?:\/\/)/.test(t.databaseUrl))) {
    throw new ConfigError(`${source} databaseUrl`, 'must be a sqlite: or postgres:// URL');
  }
  if (t.redisUrl !== undefined) {
    if (typeof t.redisUrl !== 'string') throw new ConfigError(`${source} redisUrl`, 'must be a redis:// or rediss:// URL');
    try {
      parseRedisUrl(t.redisUrl);
    } catch (error) {
      throw new ConfigError(`${source} redisUrl`, (error as Error).message);
    }
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
  const ports = [
    ...receptions.flatMap((r) => [r.publicPort, r.controlPort]),
    ...(entry ? [entry.publicPort] : []),
    ...contentServers.flatMap((s) => [s.publicPort, s.controlPort]),
  ];
  if (new Set(ports).size !== ports.length) throw new ConfigError(source, 'every port must be used once');
  return {
    host: typeof t.host === 'string' ? t.host : '127.0.0.1',
    receptions,
    ...(entry ? { entry } : {}),
    ...(typeof t.databaseUrl === 'string' ? { databaseUrl: t.databaseUrl } : {}),
    ...(typeof t.redisUrl === 'string' ? { redisUrl: t.redisUrl } : {}),
    contentServers,
  };
}

export function loadTopology(file: string | undefined): Topology {
  return file === undefined ? defaultTopology : parseTopology(readFileSync(file, 'utf8'), file);
}

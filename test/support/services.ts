import { Socket } from 'node:net';
import type { TestContext } from 'node:test';
import pg from 'pg';

// Real PostgreSQL and Redis on their standard local ports. Under CI=true a missing server is a
// failure, never a skip; elsewhere the test skips with a loud message.

export const POSTGRES_URL = process.env['TESSERA_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['TESSERA_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
    socket.connect(port, host);
  });
}

async function requireService(t: TestContext | undefined, name: string, host: string, port: number): Promise<boolean> {
  if (await reachable(host, port)) return true;
  const message = `${name} is not reachable on ${host}:${port}`;
  if (process.env['CI'] === 'true') throw new Error(`${message}; under CI=true this suite must run`);
  console.error(`\n!!! SKIPPING: ${message} !!!\n`);
  t?.skip(message);
  return false;
}

export function requirePostgres(t?: TestContext): Promise<boolean> {
  const url = new URL(POSTGRES_URL);
  return requireService(t, 'PostgreSQL', url.hostname, Number(url.port || 5432));
}

export function requireRedis(t?: TestContext): Promise<boolean> {
  const url = new URL(REDIS_URL);
  return requireService(t, 'Redis', url.hostname, Number(url.port || 6379));
}

/** A fresh schema in the test database, so parallel test files never see each other's rows. */
export async function freshPostgresSchema(): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

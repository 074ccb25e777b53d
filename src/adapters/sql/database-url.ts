import { join } from 'node:path';

// Which database a URL names. `sqlite:<path>` (or a bare path, or ":memory:") is the embedded
// default; `postgres://` and `postgresql://` are the scale adapter.

export type DatabaseTarget =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'postgres'; readonly url: string };

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/** Throws TypeError for a URL no adapter serves; the message never repeats the URL (it may hold a password). */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url === '') throw new TypeError('the database URL is empty');
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'sqlite', file: url };
  if (scheme === 'postgres' || scheme === 'postgresql') return { kind: 'postgres', url };
  if (scheme === 'sqlite') {
    // sqlite:./a.db, sqlite:/abs/a.db, sqlite:///abs/a.db, sqlite::memory:
    const rest = url.slice('sqlite:'.length);
    const file = rest.startsWith('//') ? rest.slice(2) : rest;
    if (file === '') throw new TypeError('the sqlite: database URL names no file');
    return { kind: 'sqlite', file };
  }
  throw new TypeError(`unsupported database URL scheme "${scheme}:" (use sqlite: or postgres://)`);
}

/** The embedded default: a SQLite file in the data directory. */
export function defaultDatabaseUrl(dataDir: string): string {
  return `sqlite:${join(dataDir, 'tessera.db')}`;
}

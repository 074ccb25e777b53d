import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './0001_initial.js';
import { serverDrains } from './0002_server_drains.js';
import { ticketReplacements } from './0003_ticket_replacements.js';

// Listed here, not found by scanning a folder at run time, so the same list works from src/
// under a test runner and from dist/ in production. Names sort in the order they must run.
const migrations: Readonly<Record<string, Migration>> = {
  '0001_initial': initial,
  '0002_server_drains': serverDrains,
  '0003_ticket_replacements': ticketReplacements,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...migrations }),
};

// Whether a failure that came back from a dependency (the order database, Redis, a peer over the
// network) means the dependency is unavailable for a while — answered 503 with Retry-After — or
// that our own request was wrong, which no retry mends and which must stay a loud 500.
//
// Judged by the error's shape alone, so the reception needs no driver: PostgreSQL's SQLSTATE
// (https://www.postgresql.org/docs/current/errcodes-appendix.html), SQLite's result codes
// (https://www.sqlite.org/rescode.html), Redis's reply-error prefixes, and Node's errno codes.

/** SQLSTATE classes of a server that cannot serve now: connection, resources, operator intervention, system, transaction rollback (serialisation, deadlock). */
const POSTGRES_OUTAGE_CLASSES = new Set(['08', '53', '57', '58', '40']);
/** lock_not_available (a NOWAIT lock held by someone else), idle-in-transaction timeout. */
const POSTGRES_OUTAGE_CODES = new Set(['55P03', '25P03']);
/** Primary SQLite result codes (extended ones, SQLITE_IOERR_WRITE, start with these) of a file that is busy, locked, full or unreadable. */
const SQLITE_OUTAGE_PREFIXES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN', 'SQLITE_NOMEM', 'SQLITE_PROTOCOL', 'SQLITE_READONLY'];
/** Redis reply errors that mean "not now" (loading, busy script, failover, out of memory, read-only replica, cannot persist). */
const REDIS_OUTAGE_PREFIXES = new Set(['LOADING', 'BUSY', 'TRYAGAIN', 'MASTERDOWN', 'CLUSTERDOWN', 'OOM', 'READONLY', 'NOREPLICAS', 'MISCONF']);

export function isOutage(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError) return false;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code)) return POSTGRES_OUTAGE_CLASSES.has(code.slice(0, 2)) || POSTGRES_OUTAGE_CODES.has(code);
    if (code.startsWith('SQLITE_')) return SQLITE_OUTAGE_PREFIXES.some((prefix) => code === prefix || code.startsWith(`${prefix}_`));
    // An errno (ECONNREFUSED, ETIMEDOUT, EPIPE…): the network or the disk.
    return true;
  }
  if (error.name === 'ReplyError') {
    const prefix = error.message.split(' ', 1)[0] ?? '';
    return REDIS_OUTAGE_PREFIXES.has(prefix) || error.message.startsWith('ERR max number of clients');
  }
  // Without a code: a connection that closed or a command that timed out ("Connection
  // terminated unexpectedly", "Command timed out", "Connection is closed.").
  return true;
}

import { hkdfSync } from 'node:crypto';
import { isServerId } from '../../core/ids.js';
import { controlToken } from '../../core/ticket/ticket-keys.js';
import type { MessageSeal } from './message-seal.js';

// Where the Redis seal keys come from: each server's control token, which receptions derive
// from the root secret for any server and a content server is given for itself alone. The
// key is a separate derivation, so the token itself never keys anything on Redis.

function keyOf(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token), Buffer.from('tessera/redis-seal/v1'), Buffer.alloc(0), 32));
}

/**
 * Keys kept derived at most. A deployment has far fewer servers; the server ID of a message comes
 * off Redis (a completion's field, a report's announcement), where any client can write any
 * name, so an unbounded cache would grow with made-up ones.
 */
const MAX_CACHED_KEYS = 1024;

/** A reception's seal: every server's key, from the root secret. */
export function receptionSeal(rootSecret: Buffer): MessageSeal {
  const cache = new Map<string, Buffer>();
  return {
    keyFor(serverId) {
      let key = cache.get(serverId);
      if (key === undefined) {
        // No server has such a name: nothing about it can be genuine.
        if (!isServerId(serverId)) return undefined;
        key = keyOf(controlToken(rootSecret, serverId));
        // The oldest goes: a real server's key is derived again (under 0.1 ms) if it was pushed out.
        if (cache.size >= MAX_CACHED_KEYS) cache.delete(cache.keys().next().value as string);
        cache.set(serverId, key);
      }
      return key;
    },
  };
}

/** A content server's seal: its own key only, from its control token (`<serverId>.<mac>`). */
export function contentServerSeal(ownControlToken: string): MessageSeal {
  const dot = ownControlToken.indexOf('.');
  if (dot <= 0) throw new TypeError('not a control token');
  const own = ownControlToken.slice(0, dot);
  const key = keyOf(ownControlToken);
  return { keyFor: (serverId) => (serverId === own ? key : undefined) };
}

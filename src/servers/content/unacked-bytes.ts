import { readFileSync } from 'node:fs';
import { addressToBytes } from '../../core/ip-address.js';

// How many bytes a TCP connection has sent that its peer has not acknowledged yet, read from
// Linux's /proc/net/tcp and /proc/net/tcp6 (the "tx_queue" column: write_seq - snd_una). Node
// exposes neither SIOCOUTQ nor TCP_INFO, and this is the one thing that tells "the client's
// kernel has every byte" from "a client that went away leaves megabytes in flight".
// Elsewhere (no /proc), `available` is false and callers fall back to weaker evidence.

export interface ConnectionAddress {
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

const FILES = ['/proc/net/tcp', '/proc/net/tcp6'];

export const unackedBytesAvailable: boolean = (() => {
  try {
    readFileSync(FILES[0] as string, 'latin1');
    return true;
  } catch {
    return false;
  }
})();

/** Key of a connection: peer address (16-byte hex), peer port, local port. */
export function connectionKey(connection: ConnectionAddress): string | undefined {
  const { remoteAddress, remotePort, localPort } = connection;
  if (remoteAddress === undefined || remotePort === undefined || localPort === undefined) return undefined;
  const bytes = addressToBytes(remoteAddress);
  if (!bytes) return undefined;
  return `${bytes.toString('hex')}:${remotePort}:${localPort}`;
}

/**
 * Unacknowledged bytes of each given connection that is still in the kernel's tables, by
 * connectionKey. One pass over the two files, whatever the number of connections asked for.
 */
export function readUnackedBytes(keys: ReadonlySet<string>): Map<string, number> {
  const found = new Map<string, number>();
  if (!unackedBytesAvailable || keys.size === 0) return found;
  for (const file of FILES) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    let lineStart = text.indexOf('\n') + 1;
    while (lineStart > 0 && lineStart < text.length) {
      const lineEnd = text.indexOf('\n', lineStart);
      const line = text.slice(lineStart, lineEnd < 0 ? text.length : lineEnd);
      lineStart = lineEnd < 0 ? text.length : lineEnd + 1;
      const fields = line.trim().split(/\s+/);
      const [, local = '', remote = '', , queues = ''] = fields;
      const localColon = local.lastIndexOf(':');
      const remoteColon = remote.lastIndexOf(':');
      if (localColon < 0 || remoteColon < 0) continue;
      const peer = procAddressToHex(remote.slice(0, remoteColon));
      if (peer === undefined) continue;
      const key = `${peer}:${parseInt(remote.slice(remoteColon + 1), 16)}:${parseInt(local.slice(localColon + 1), 16)}`;
      if (!keys.has(key)) continue;
      found.set(key, parseInt(queues.slice(0, queues.indexOf(':')), 16));
    }
  }
  return found;
}

/** /proc prints addresses as 32-bit words in host (little-endian) order; returns the 16-byte form in hex. */
function procAddressToHex(hex: string): string | undefined {
  if (hex.length === 8) {
    // IPv4 → ::ffff:a.b.c.d
    return `00000000000000000000ffff${hex.slice(6, 8)}${hex.slice(4, 6)}${hex.slice(2, 4)}${hex.slice(0, 2)}`.toLowerCase();
  }
  if (hex.length !== 32) return undefined;
  let out = '';
  for (let word = 0; word < 4; word++) {
    const w = hex.slice(word * 8, word * 8 + 8);
    out += `${w.slice(6, 8)}${w.slice(4, 6)}${w.slice(2, 4)}${w.slice(0, 2)}`;
  }
  return out.toLowerCase();
}

import { readFileSync } from 'node:fs';
import { addressToBytes } from '../../core/ip-address.js';

// How many bytes a TCP connection has sent that its peer has not acknowledged yet, read from
// Linux's /proc/net/tcp and /proc/net/tcp6 (the "tx_queue" column: write_seq - snd_una). Node
// exposes neither SIOCOUTQ nor TCP_INFO, and this is the one thing that tells "the client's
// kernel has every byte" from "a client that went away leaves megabytes in flight".
// Elsewhere (no /proc), `available` is false and callers fall back to weaker evidence.
//
// Reading is expensive, and not in proportion to the sockets listed: the kernel walks its whole
// established-connection hash table for each file, so one file costs about 4–5 ms of CPU on a
// host with 262,144 buckets (docs/content-server.md, "Performance notes") even when it lists a
// handful of sockets. So only the file of the sockets' family is read (an IPv4 socket is only
// in tcp, an IPv6 one, v4-mapped peers included, only in tcp6), and callers read rarely and
// for many connections at once (delivery-evidence.ts).

export interface ConnectionAddress {
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

const IPV4_FILE = '/proc/net/tcp';
const IPV6_FILE = '/proc/net/tcp6';

export const unackedBytesAvailable: boolean = (() => {
  try {
    readFileSync(IPV4_FILE, 'latin1');
    return true;
  } catch {
    return false;
  }
})();

/**
 * Key of a connection, spelled as /proc prints it so that a line can be matched without
 * converting it: the family ('4' or '6'), the peer's "address:port" field, a space, the local
 * port (uppercase hex, in host-order words as /proc writes them).
 */
export function connectionKey(connection: ConnectionAddress): string | undefined {
  const { localAddress, remoteAddress, remotePort, localPort } = connection;
  if (localAddress === undefined || remoteAddress === undefined || remotePort === undefined || localPort === undefined) return undefined;
  const bytes = addressToBytes(remoteAddress);
  if (!bytes) return undefined;
  // The socket's own family decides the file: an IPv6 socket lists even a v4-mapped peer in tcp6.
  const v6 = localAddress.includes(':');
  let peer = '';
  for (let word = v6 ? 0 : 3; word < 4; word++) {
    for (let i = 3; i >= 0; i--) peer += hex2(bytes[word * 4 + i] ?? 0);
  }
  return `${v6 ? '6' : '4'}${peer}:${hex4(remotePort)} ${hex4(localPort)}`;
}

/**
 * Unacknowledged bytes of each given connection that is still in the kernel's tables, by
 * connectionKey. One pass over each file needed (at most two), whatever the number of
 * connections asked for.
 */
export function readUnackedBytes(keys: ReadonlySet<string>): Map<string, number> {
  const found = new Map<string, number>();
  if (!unackedBytesAvailable || keys.size === 0) return found;
  let v4 = false;
  let v6 = false;
  for (const key of keys) {
    if (key.charCodeAt(0) === 54 /* '6' */) v6 = true;
    else v4 = true;
  }
  if (v4) scan(IPV4_FILE, '4', keys, found);
  if (v6) scan(IPV6_FILE, '6', keys, found);
  return found;
}

// A line: "<sl>: <local addr>:<port> <remote addr>:<port> <st> <tx_queue>:<rx_queue> ...", the
// fields separated by single spaces after the right-aligned slot number.
function scan(file: string, family: string, keys: ReadonlySet<string>, found: Map<string, number>): void {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return;
  }
  let lineStart = text.indexOf('\n') + 1;
  while (lineStart > 0 && lineStart < text.length) {
    const lineEnd = text.indexOf('\n', lineStart);
    const next = lineEnd < 0 ? text.length : lineEnd + 1;
    const slEnd = text.indexOf(': ', lineStart);
    if (slEnd < 0 || slEnd >= next) {
      lineStart = next;
      continue;
    }
    const localStart = slEnd + 2;
    const localEnd = text.indexOf(' ', localStart);
    const remoteEnd = localEnd < 0 ? -1 : text.indexOf(' ', localEnd + 1);
    if (remoteEnd < 0 || remoteEnd >= next) {
      lineStart = next;
      continue;
    }
    const key = `${family}${text.slice(localEnd + 1, remoteEnd)} ${text.slice(localEnd - 4, localEnd)}`;
    if (keys.has(key)) {
      // After the remote field: "<st> <tx_queue>:"
      const queueStart = remoteEnd + 4;
      found.set(key, parseInt(text.slice(queueStart, text.indexOf(':', queueStart)), 16));
    }
    lineStart = next;
  }
}

function hex2(byte: number): string {
  return (byte < 16 ? '0' : '') + byte.toString(16).toUpperCase();
}

function hex4(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

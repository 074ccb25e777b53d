import { readFileSync } from 'node:fs';

// The kernel's count of connections a listener could not take in time (Linux, whole machine):
// when a burst of clients connects faster than a server accepts, its accept queue overflows,
// SYNs are dropped or answered with cookies, and the clients retry seconds later — or get reset.
// Read before and after a run, the difference says whether that happened (other processes on
// the machine may add to it).

export const TCP_COUNTERS = ['ListenOverflows', 'ListenDrops', 'TCPReqQFullDoCookies', 'TCPReqQFullDrop'] as const;

export type TcpCounters = Readonly<Record<(typeof TCP_COUNTERS)[number], number>>;

export function readTcpCounters(): TcpCounters | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/netstat', 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const names = (lines[i] as string).split(/\s+/);
    const values = (lines[i + 1] as string).split(/\s+/);
    if (names[0] !== 'TcpExt:' || values[0] !== 'TcpExt:') continue;
    const out: Record<string, number> = {};
    for (const name of TCP_COUNTERS) {
      const at = names.indexOf(name);
      out[name] = at > 0 ? Number(values[at]) : 0;
    }
    return out as TcpCounters;
  }
  return undefined;
}

export function tcpCounterDelta(before: TcpCounters | undefined, after: TcpCounters | undefined): TcpCounters | undefined {
  if (!before || !after) return undefined;
  const out: Record<string, number> = {};
  for (const name of TCP_COUNTERS) out[name] = after[name] - before[name];
  return out as TcpCounters;
}

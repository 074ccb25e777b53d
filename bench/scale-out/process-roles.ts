import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { processTree } from '../harness/proc-stat.js';

// Which process of a running `tessera up` is which, and which PostgreSQL backends serve our
// receptions, from /proc: the CPU table of the scale-out bench names each process by its role.

export interface RoleProcess {
  /** reception-1, cs-2, entry (nginx, master and workers), up (the supervisor). */
  readonly name: string;
  readonly pids: readonly number[];
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function environ(pid: number): Map<string, string> {
  try {
    return new Map(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
    );
  } catch {
    return new Map();
  }
}

/**
 * The processes under `upPid`, named by role. Receptions are numbered in the order of their
 * public ports as the topology lists them (`receptionPorts`).
 */
export function rolesOf(upPid: number, receptionPorts: readonly number[]): RoleProcess[] {
  const roles = new Map<string, number[]>();
  const add = (name: string, pid: number): void => {
    const list = roles.get(name);
    if (list) list.push(pid);
    else roles.set(name, [pid]);
  };
  for (const pid of processTree(upPid)) {
    const args = cmdline(pid);
    const joined = args.join(' ');
    if (pid === upPid) add('up', pid);
    else if (joined.includes(' serve reception')) {
      const port = Number(environ(pid).get('TESSERA_PUBLIC_PORT'));
      const index = receptionPorts.indexOf(port);
      add(receptionPorts.length === 1 ? 'reception' : `reception-${index + 1}`, pid);
    } else if (joined.includes(' serve content')) add(environ(pid).get('TESSERA_SERVER_ID') ?? `content-${pid}`, pid);
    else if (/nginx/.test(args[0] ?? '') || /^nginx:/.test(joined)) add('entry (nginx)', pid);
    else add('other', pid);
  }
  return [...roles.entries()].map(([name, pids]) => ({ name, pids })).sort((a, b) => a.name.localeCompare(b.name));
}

/** Processes whose command name (/proc/PID/comm) is `comm`, machine-wide. */
export function pidsByCommand(comm: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === comm) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Local TCP ports of the connections `pids` hold to `remotePort` on any address: the client
 * side of our receptions' PostgreSQL connections, which pg_stat_activity lists as client_port.
 */
export function clientPortsTo(pids: readonly number[], remotePort: number): Set<number> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1] as string);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = f[1] as string;
      const remote = f[2] as string;
      if (parseInt(remote.slice(remote.indexOf(':') + 1), 16) !== remotePort) continue;
      if (inodes.has(f[9] as string)) ports.add(parseInt(local.slice(local.indexOf(':') + 1), 16));
    }
  }
  return ports;
}

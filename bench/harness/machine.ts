import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { nginxVersion } from './nginx.js';

// What a result table needs to be read later: when, on what, with which versions.

export interface MachineInfo {
  readonly date: string;
  readonly node: string;
  readonly nginx: string;
  readonly wrk: string;
  readonly curl: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly kernel: string;
  readonly memoryGiB: number;
  readonly loadAverage: string;
  /** Git commit, and a digest of the content server's sources (they may be uncommitted). */
  readonly code: string;
}

function firstLine(command: string, args: readonly string[]): string {
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0]?.trim() ?? '';
  } catch (error) {
    // wrk -v exits with 1 after printing its version.
    const e = error as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
  }
}

export function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) return match[1].trim();
  } catch {
    // Not Linux: fall back to what Node reports.
  }
  return cpus()[0]?.model ?? 'unknown';
}

/** The code measured: HEAD, whether the tree is dirty, and a digest of src/servers/content. */
export function codeVersion(repoRoot: string): string {
  const git = (args: readonly string[]): string => {
    try {
      return execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const head = git(['rev-parse', '--short', 'HEAD']) || 'no git';
  const dirty = git(['status', '--porcelain']) !== '' ? ' + uncommitted changes' : '';
  const hash = createHash('sha256');
  const dir = join(repoRoot, 'src', 'servers', 'content');
  try {
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort()) {
      hash.update(name).update(readFileSync(join(dir, name)));
    }
  } catch {
    return `${head}${dirty}`;
  }
  return `${head}${dirty}; src/servers/content/*.ts sha256 ${hash.digest('hex').slice(0, 12)}`;
}

export function machineInfo(repoRoot: string): MachineInfo {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    node: process.version,
    nginx: nginxVersion().replace(/^nginx version:\s*/, ''),
    wrk: firstLine('/usr/bin/wrk', ['-v']).replace(/\s*\[.*$/, ''),
    curl: firstLine('/usr/bin/curl', ['--version']).split(' ').slice(0, 2).join(' '),
    cpuModel: cpuModel(),
    cores: cpus().length,
    kernel: release(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadavg().map((n) => n.toFixed(2)).join(' '),
    code: codeVersion(repoRoot),
  };
}

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

export function machineInfo(): MachineInfo {
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
  };
}

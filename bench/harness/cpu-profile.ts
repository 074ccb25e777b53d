import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Where a content server's CPU time goes, from the .cpuprofile files `node --cpu-prof` writes
// at exit: self time per function and per source file, over the whole life of each process.

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const src = url.indexOf('/dist/');
  if (src >= 0) return url.slice(src + 6);
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + 14);
  return url;
}

function selfTimes(profile: CpuProfile): { byFunction: Map<string, number>; byFile: Map<string, number>; total: number; idle: number } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = nodes.get(profile.samples[i] ?? -1);
    // The delta before sample i+1 is the time sample i stood for.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (!node) continue;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const file = shortUrl(frame.url) || frame.functionName;
    const key = `${frame.functionName || '(anonymous)'} | ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  return { byFunction, byFile, total, idle };
}

function top(map: Map<string, number>, total: number, limit: number, header: string): string {
  const rows = [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit);
  return [
    header,
    '|---|--:|--:|',
    ...rows.map(([k, us]) => `| ${k.replace(/\|/g, '\\|').replace(' \\| ', ' | ')} | ${(us / 1000).toFixed(0)} | ${((us / total) * 100).toFixed(1)}% |`),
  ].join('\n');
}

/**
 * Who a native function's time was spent for: the self time of the samples in `functionNames`
 * (e.g. writev, writeUtf8String: writes to sockets and pipes), shared out by `callerOf`, which
 * is given the sample's stack, innermost frame first, as "functionName url" strings.
 */
function attribute(profile: CpuProfile, functionNames: ReadonlySet<string>, callerOf: (stack: readonly string[]) => string): Map<string, number> {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const byCaller = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] ?? -1;
    const node = nodes.get(id);
    if (!node || !functionNames.has(node.callFrame.functionName)) continue;
    const stack: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at)?.callFrame;
      if (frame) stack.push(`${frame.functionName} ${frame.url}`);
    }
    const caller = callerOf(stack);
    byCaller.set(caller, (byCaller.get(caller) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  return byCaller;
}

/** A table for summarizeCpuProfiles: which native functions to share out, and how. */
export interface Attribution {
  readonly functionNames: readonly string[];
  readonly callerOf: (stack: readonly string[]) => string;
}

export function summarizeCpuProfiles(dir: string, limit: number, attribution?: Attribution): string {
  if (!existsSync(dir)) return `(no CPU profiles in ${dir})`;
  const parts: string[] = [];
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    const profile = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
    const { byFunction, byFile, total, idle } = selfTimes(profile);
    parts.push(
      `#### ${name}: ${(total / 1e6).toFixed(1)} s busy, ${(idle / 1e6).toFixed(1)} s idle`,
      top(byFile, total, limit, '| Source (self time) | ms | share of busy |'),
      top(byFunction, total, limit, '| Function | Location | ms | share of busy |').replace('|---|--:|--:|', '|---|---|--:|--:|'),
    );
    if (attribution) {
      const byCaller = attribute(profile, new Set(attribution.functionNames), attribution.callerOf);
      parts.push(top(byCaller, total, limit, `| ${attribution.functionNames.join(' + ')}, by whom it wrote for | ms | share of busy |`));
    }
  }
  return parts.length > 0 ? parts.join('\n\n') : `(no CPU profiles in ${dir})`;
}

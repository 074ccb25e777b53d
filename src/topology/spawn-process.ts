import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ProcessSpec } from './process-plan.js';

// Starts one process of a plan: `node <cli> serve ROLE` for Tessera's own servers, the given
// argv for the entry (nginx), after writing the files it needs. Output is piped to the caller.

export function spawnProcess(spec: ProcessSpec, cli: string, extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  for (const dir of spec.dirs ?? []) mkdirSync(dir, { recursive: true });
  for (const file of spec.files ?? []) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.text);
  }
  const env = { ...spec.env, ...extraEnv };
  if (spec.argv !== undefined) {
    const [binary, ...args] = spec.argv;
    if (binary === undefined) throw new TypeError(`${spec.name}: empty argv`);
    return spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  }
  return spawn(process.execPath, [cli, 'serve', spec.role], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// A few small items so the first run has something to order. Generated, deterministic.

export interface Sample {
  readonly path: string;
  readonly title: string;
}

function pseudoRandom(bytes: number, seed: string): Buffer {
  const out = Buffer.alloc(bytes);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < bytes; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export function writeSamples(dir: string): Sample[] {
  mkdirSync(dir, { recursive: true });
  const files: [string, string, string | Buffer][] = [
    ['welcome.txt', 'Welcome to Tessera (text)', 'Welcome to Tessera.\n\nThis file was delivered under a single-use permission ticket.\nOrder it again and you get a new ticket, perhaps from another content server.\n'],
    [
      'tessera-tiles.svg',
      'Tessera tiles (SVG image)',
      `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 6 6">${Array.from({ length: 36 }, (_, i) => `<rect x="${i % 6}" y="${Math.floor(i / 6)}" width="1" height="1" fill="hsl(${(i * 47) % 360} 60% 55%)"/>`).join('')}</svg>\n`,
    ],
    ['sample-8MiB.bin', 'Sample archive, 8 MiB (binary)', pseudoRandom(8 * 1024 * 1024, 'tessera sample')],
  ];
  return files.map(([name, title, body]) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return { path, title };
  });
}

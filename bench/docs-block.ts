import { existsSync, readFileSync, writeFileSync } from 'node:fs';

// The docs hold hand-written analysis around generated blocks, each between its own pair of
// marker lines. A benchmark run replaces only what is between its markers (or appends the block
// when the markers are not there yet), so the analysis around it survives a re-run.

export interface BlockMarkers {
  readonly begin: string;
  readonly end: string;
}

export function replaceBlock(text: string, markers: BlockMarkers, generated: string): string {
  const block = `${markers.begin}\n${generated.trim()}\n${markers.end}`;
  const begin = text.indexOf(markers.begin);
  const end = text.indexOf(markers.end);
  if (begin >= 0 && end > begin) return text.slice(0, begin) + block + text.slice(end + markers.end.length);
  return `${text.trimEnd()}\n\n${block}\n`;
}

/** Replaces the block in `file`; a missing file starts from `skeleton`. */
export function writeBlock(file: string, markers: BlockMarkers, generated: string, skeleton = '# Benchmarks\n'): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : skeleton;
  writeFileSync(file, replaceBlock(text, markers, generated));
}

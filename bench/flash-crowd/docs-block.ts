import { replaceBlock, writeBlock } from '../docs-block.js';

// The flash-crowd section has its own markers in docs/benchmarks.md, apart from the block that
// `npm run bench` owns: a re-run replaces only what is between these two lines, and the
// hand-written reading of the results around them stays.

export const CROWD_BEGIN = '<!-- bench:crowd:begin -->';
export const CROWD_END = '<!-- bench:crowd:end -->';
const markers = { begin: CROWD_BEGIN, end: CROWD_END };

export function replaceCrowdBlock(text: string, generated: string): string {
  return replaceBlock(text, markers, generated);
}

export function writeCrowdBlock(file: string, generated: string): void {
  writeBlock(file, markers, generated);
}

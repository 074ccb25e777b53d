import { existsSync, readFileSync, writeFileSync } from 'node:fs';

// The flash-crowd section has its own markers in docs/benchmarks.md, apart from the block that
// `npm run bench` owns: a re-run replaces only what is between these two lines, and the
// hand-written reading of the results around them stays.

export const CROWD_BEGIN = '<!-- bench:crowd:begin -->';
export const CROWD_END = '<!-- bench:crowd:end -->';

export function replaceCrowdBlock(text: string, generated: string): string {
  const block = `${CROWD_BEGIN}\n${generated.trim()}\n${CROWD_END}`;
  const begin = text.indexOf(CROWD_BEGIN);
  const end = text.indexOf(CROWD_END);
  if (begin >= 0 && end > begin) return text.slice(0, begin) + block + text.slice(end + CROWD_END.length);
  return `${text.trimEnd()}\n\n${block}\n`;
}

export function writeCrowdBlock(file: string, generated: string): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  writeFileSync(file, replaceCrowdBlock(text, generated));
}

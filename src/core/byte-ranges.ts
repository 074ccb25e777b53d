// HTTP byte ranges (RFC 9110 §14) and the union of ranges delivered under one ticket.
// All intervals here are half-open: [start, end).

export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export type RangeRequest =
  | { readonly kind: 'whole' }
  | { readonly kind: 'range'; readonly range: ByteRange }
  | { readonly kind: 'unsatisfiable' };

/**
 * Parses a Range header for a representation of `size` bytes. One range is served; a
 * multi-range request is answered with the whole representation (allowed by RFC 9110 §14.2,
 * and what nginx does for overlapping sets), which keeps every response a single stream.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  // Range units are case-insensitive (RFC 9110 §14.1).
  const match = /^bytes=(\d*)-(\d*)$/i.exec(header.trim());
  if (!match) return { kind: 'whole' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', range: { start: Math.max(0, size - suffix), end: size } };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size : Math.min(size, Number(last) + 1);
  if (!(end > start)) return { kind: 'unsatisfiable' };
  return { kind: 'range', range: { start, end } };
}

/** A sorted set of disjoint intervals; adding merges overlapping and touching ones. */
export class RangeSet {
  #ranges: ByteRange[] = [];

  add(range: ByteRange): void {
    if (range.end <= range.start) return;
    let { start, end } = range;
    const kept: ByteRange[] = [];
    let inserted = false;
    for (const r of this.#ranges) {
      if (r.end < start) {
        kept.push(r);
      } else if (r.start > end) {
        if (!inserted) {
          kept.push({ start, end });
          inserted = true;
        }
        kept.push(r);
      } else {
        start = Math.min(start, r.start);
        end = Math.max(end, r.end);
      }
    }
    if (!inserted) kept.push({ start, end });
    this.#ranges = kept;
  }

  /** True when [0, size) is wholly covered. */
  covers(size: number): boolean {
    if (size <= 0) return true;
    // Ranges are sorted, disjoint and never touching, so [0, size) is covered exactly when the
    // first one spans it; ranges past `size` do not matter.
    const first = this.#ranges[0];
    return first !== undefined && first.start <= 0 && first.end >= size;
  }

  get bytes(): number {
    return this.#ranges.reduce((sum, r) => sum + (r.end - r.start), 0);
  }

  toArray(): readonly ByteRange[] {
    return this.#ranges;
  }
}

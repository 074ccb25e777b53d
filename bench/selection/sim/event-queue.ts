// A binary heap of timed actions. Ties on time run in the order they were scheduled, so a run
// depends on its seed only, never on how the heap happens to break ties.

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

export class EventQueue {
  readonly #heap: Entry[] = [];
  #seq = 0;
  #now = 0;

  /** Simulated seconds. */
  get now(): number {
    return this.#now;
  }

  at(time: number, run: () => void): void {
    if (!(time >= this.#now)) throw new RangeError(`cannot schedule at ${time}, before now (${this.#now})`);
    const heap = this.#heap;
    heap.push({ at: time, seq: this.#seq++, run });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Entry, heap[parent] as Entry)) break;
      [heap[i], heap[parent]] = [heap[parent] as Entry, heap[i] as Entry];
      i = parent;
    }
  }

  after(delay: number, run: () => void): void {
    this.at(this.#now + Math.max(0, delay), run);
  }

  /** Runs actions in time order until none is left or the next is past `until`. */
  run(until = Infinity): void {
    const heap = this.#heap;
    while (heap.length > 0 && (heap[0] as Entry).at <= until) {
      const top = heap[0] as Entry;
      const last = heap.pop() as Entry;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && before(heap[l] as Entry, heap[m] as Entry)) m = l;
          if (r < heap.length && before(heap[r] as Entry, heap[m] as Entry)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m] as Entry, heap[i] as Entry];
          i = m;
        }
      }
      this.#now = top.at;
      top.run();
    }
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

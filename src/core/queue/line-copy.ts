// The reception's copy of its waiting line. The line itself is in the database (it survives a
// restart, and the admission pass reads its front from there); this copy answers "what is my
// place, and who is ahead of me" for every waiting client without reading the whole line
// again. The reception changes it as it changes the line (an order joins, is admitted, lapses)
// and reloads it from the database when it starts and now and then. A reload reads the line
// page by page while orders keep joining and leaving: changes made meanwhile are journaled and
// made again on top of what was read, so none is lost and none is undone.

export interface LinePlace {
  readonly orderId: string;
  /** Arrival number: the order in line. */
  readonly seq: number;
  /** Bytes of the item the order waits for. */
  readonly size: number;
}

type Change =
  | { readonly kind: 'add'; readonly place: LinePlace }
  | { readonly kind: 'remove'; readonly orderId: string }
  | { readonly kind: 'removeBefore'; readonly seq: number };

export class LineCopy {
  /** Sorted by arrival number. */
  #places: LinePlace[] = [];
  #seqOf = new Map<string, number>();
  #journal: Change[] | undefined;
  #loaded = false;

  /** Whether a reload has completed: before that the copy may lack places the database holds. */
  get loaded(): boolean {
    return this.#loaded;
  }

  get length(): number {
    return this.#places.length;
  }

  get reloading(): boolean {
    return this.#journal !== undefined;
  }

  /** The line, front first. Not to be changed by the caller. */
  places(): readonly LinePlace[] {
    return this.#places;
  }

  /** Places with an arrival number above `seq`, front first. */
  after(seq: number): readonly LinePlace[] {
    return this.#places.slice(this.#lowerBound(seq + 1));
  }

  has(orderId: string): boolean {
    return this.#seqOf.has(orderId);
  }

  /** The order's arrival number, when it is in the copy. */
  seqOf(orderId: string): number | undefined {
    return this.#seqOf.get(orderId);
  }

  /** 1-based place in line, or undefined when the order is not in the copy. */
  position(orderId: string): number | undefined {
    const seq = this.#seqOf.get(orderId);
    return seq === undefined ? undefined : this.#lowerBound(seq) + 1;
  }

  /** An order joined the line. Idempotent. */
  add(place: LinePlace): void {
    this.#journal?.push({ kind: 'add', place });
    this.#add(place);
  }

  /** An order left the line (admitted, lapsed, rejected). Idempotent. */
  remove(orderId: string): void {
    this.#journal?.push({ kind: 'remove', orderId });
    this.#remove(orderId);
  }

  /** The line's front in the database has arrival number `seq`: everyone before it has left. Returns how many were dropped. */
  removeBefore(seq: number): number {
    this.#journal?.push({ kind: 'removeBefore', seq });
    return this.#removeBefore(seq);
  }

  /** A reload is about to read the line: journal changes from now on. */
  beginReload(): void {
    this.#journal = [];
  }

  /** The reload read `places` (the line at some moment since beginReload); changes made since are made again on top. */
  finishReload(places: readonly LinePlace[]): void {
    const journal = this.#journal ?? [];
    this.#journal = undefined;
    this.#places = [];
    this.#seqOf = new Map();
    const sorted = [...places].sort((a, b) => a.seq - b.seq);
    for (const place of sorted) {
      if (this.#seqOf.has(place.orderId)) continue;
      this.#places.push(place);
      this.#seqOf.set(place.orderId, place.seq);
    }
    for (const change of journal) {
      if (change.kind === 'add') this.#add(change.place);
      else if (change.kind === 'remove') this.#remove(change.orderId);
      else this.#removeBefore(change.seq);
    }
    this.#loaded = true;
  }

  /** The reload failed: keep the copy as it is, changes included. */
  abortReload(): void {
    this.#journal = undefined;
  }

  #add(place: LinePlace): void {
    if (this.#seqOf.has(place.orderId)) return;
    const i = this.#lowerBound(place.seq);
    // Arrival numbers are unique; orders join at the end but may finish joining out of order.
    this.#places.splice(i, 0, place);
    this.#seqOf.set(place.orderId, place.seq);
  }

  #remove(orderId: string): void {
    const seq = this.#seqOf.get(orderId);
    if (seq === undefined) return;
    const i = this.#lowerBound(seq);
    if (this.#places[i]?.orderId === orderId) this.#places.splice(i, 1);
    this.#seqOf.delete(orderId);
  }

  #removeBefore(seq: number): number {
    const n = this.#lowerBound(seq);
    if (n === 0) return 0;
    for (const place of this.#places.slice(0, n)) this.#seqOf.delete(place.orderId);
    this.#places.splice(0, n);
    return n;
  }

  /** Index of the first place with an arrival number ≥ seq. */
  #lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.#places.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#places[mid] as LinePlace).seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

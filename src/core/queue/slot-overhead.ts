// How much slot time an admission costs beyond its transfer, learnt from what the reception
// sees of its own admissions.
//
// The replay of the line (wait-estimate.ts) turns each slot over in size ÷ rate. Measured
// turnover is slower: the admitted client fetches its ticket and connects; after the last byte
// the content server keeps the slot until it has evidence of delivery; the reception hears of
// the release with the next load report or completion; its admission pass then sends the next
// notice. None of these is a constant worth tuning by hand — they move with the report
// interval, the way delivery is confirmed, and how busy the hosts are — so each is measured on
// every admission and smoothed:
//
//   admitted ── first byte ══ transfer ══ last byte ── release seen ── next admission on that server
//   |<──────────────── occupancy: release seen − admitted ──────────>|<─ reassignment ─>|
//                                       |<─ after transfer ─────────>|
//
//   overhead per admission = occupancy − size ÷ rate (what the replay assumes) + reassignment
//   after the last byte    = release seen − predicted end of transfer        + reassignment
//
// The first is added to every replayed admission; the second to the slots transferring now,
// whose end the load reports already predict. Samples are smoothed with a robust exponential
// mean so that a client who stalls a slot for seconds shifts the estimate a little, not a lot,
// while a lasting change (content servers that release slots sooner) is followed within a few
// dozen admissions.

import { defaultSmoothing, RobustMean, type SmoothingSettings } from './robust-mean.js';

/** One admitted order's slot, from admission to the reception seeing it free. */
export interface SlotOccupancy {
  /** Unix ms: the order was ticketed (its notice accepted). */
  readonly admittedAt: number;
  /** Unix ms: the reception learnt that the slot is free (a load report without it, or the completion). */
  readonly releasedAt: number;
  /** What the replay assumed the transfer takes: size ÷ per-transfer rate. */
  readonly transferMs: number;
  /** Unix ms: end of the transfer as the last report that showed it moving predicted it; undefined if none did. */
  readonly transferEndAt: number | undefined;
}

export interface SlotOverheadPriors {
  /** Overhead per admission before anything is measured. */
  readonly overheadMs: number;
  /** Part of it after the last byte, before anything is measured. */
  readonly afterTransferMs: number;
}

/** The learnt overheads (see the top of this file). Pure: times come in as arguments. */
export class SlotOverhead {
  readonly #occupancy: RobustMean;
  readonly #afterTransfer: RobustMean;
  readonly #reassignment: RobustMean;

  constructor(priors: SlotOverheadPriors, settings: SmoothingSettings = defaultSmoothing) {
    this.#occupancy = new RobustMean(priors.overheadMs, settings);
    this.#afterTransfer = new RobustMean(priors.afterTransferMs, settings);
    this.#reassignment = new RobustMean(0, settings);
  }

  /** Slot time each admission costs beyond size ÷ rate, ms. */
  get overheadMs(): number {
    return this.#occupancy.value + this.#reassignment.value;
  }

  /** Slot time after a transfer's last byte until the next admission on its server, ms. */
  get afterTransferMs(): number {
    return Math.max(0, this.#afterTransfer.value + this.#reassignment.value);
  }

  /** Priors better than the constructor's (e.g. from the report interval), until measurements come. */
  setPriors(priors: SlotOverheadPriors): void {
    this.#occupancy.setPrior(priors.overheadMs);
    this.#afterTransfer.setPrior(priors.afterTransferMs);
  }

  /** Admissions measured so far. */
  get samples(): number {
    return this.#occupancy.samples;
  }

  recordOccupancy(o: SlotOccupancy): void {
    if (!(o.releasedAt >= o.admittedAt) || !Number.isFinite(o.transferMs)) return;
    this.#occupancy.record(o.releasedAt - o.admittedAt - o.transferMs);
    if (o.transferEndAt !== undefined && Number.isFinite(o.transferEndAt)) this.#afterTransfer.record(o.releasedAt - o.transferEndAt);
  }

  /** A slot the reception saw free at `freedAt` went to the next client in line at `admittedAt`. */
  recordReassignment(freedAt: number, admittedAt: number): void {
    if (admittedAt >= freedAt) this.#reassignment.record(admittedAt - freedAt);
  }
}

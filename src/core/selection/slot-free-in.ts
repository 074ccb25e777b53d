import type { SlotReport } from '../control/messages.js';

/**
 * How long after a load report was sent one of the slots it shows taken is expected to free,
 * in ms, from the report's own figures: a transfer's bytes still to send at its current rate; a
 * slot held for a client not connected yet, its item at the rate transfers get on that server
 * (`perTransferRate`, bytes/s); an idle slot (its connection closed, the ticket resumable) at
 * its release deadline. Never later than the deadline the report gives (`releaseBy`: hold
 * deadline, ticket expiry, idle release), when nothing more happens the slot frees then.
 *
 * This is what lets a reception bring an old report forward: five seconds after a report,
 * the transfers it showed ending within a second are over, whoever issued them. A slow client
 * makes the guess early, which costs at most one refused notice (the content server still
 * checks the slot); a rate of 0 with no other figure leaves the deadline.
 */
export function slotFreeInMs(slot: SlotReport, sentAt: number, perTransferRate: number): number {
  const deadline = Math.max(0, slot.releaseBy - sentAt);
  if (slot.state === 'idle') return deadline;
  const rate = slot.state === 'active' && slot.bytesPerSecond > 0 ? slot.bytesPerSecond : perTransferRate;
  if (!(rate > 0)) return deadline;
  return Math.min(deadline, (slot.remainingBytes * 1000) / rate);
}

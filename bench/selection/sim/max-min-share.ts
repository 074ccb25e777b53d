/**
 * Max-min fair shares of `total` among flows that each can take at most their cap (TCP flows
 * through one uplink, each also held back by its own throttle and the client's downlink): the
 * smallest caps are met in full, the rest split what is left equally.
 */
export function maxMinShare(caps: readonly number[], total: number): number[] {
  const order = caps.map((cap, i) => ({ cap, i })).sort((a, b) => a.cap - b.cap || a.i - b.i);
  const rates = new Array<number>(caps.length).fill(0);
  let left = total;
  let n = caps.length;
  for (const { cap, i } of order) {
    const rate = Math.min(cap, left / n);
    rates[i] = rate;
    left -= rate;
    n--;
  }
  return rates;
}

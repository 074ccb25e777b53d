// The usual estimate of a wait, position ÷ recent outflow (Cloudflare's Waiting Room), which
// the reception sends beside its own for comparison (`estimate_baseline_s`). The outflow is
// the admissions from the line over the last 30 s — or over the line's life when that is
// shorter: three admissions in the 3 s since a line formed are 1/s, not 0.1/s. The bench
// (bench/flash-crowd/crowd-analysis.ts) recomputes it with this same function.

export const OUTFLOW_WINDOW_MS = 30_000;
/** Below this span the rate says more about the first admissions' timing than about the line. */
export const MIN_OUTFLOW_SPAN_MS = 1000;

/**
 * Admissions per second over the last `windowMs`, or over the time since `since` when that is
 * shorter; `since` is the first admission since the line was last empty (it starts the span
 * and is not counted in it). Undefined when the span is shorter than `minSpanMs` or holds no
 * admission. `admissions` are Unix ms, in any order.
 */
export function recentOutflowPerS(
  admissions: readonly number[],
  since: number,
  nowMs: number,
  windowMs = OUTFLOW_WINDOW_MS,
  minSpanMs = MIN_OUTFLOW_SPAN_MS,
): number | undefined {
  const spanMs = Math.min(windowMs, nowMs - since);
  if (!(spanMs >= minSpanMs)) return undefined;
  let count = 0;
  for (const t of admissions) if (t > nowMs - spanMs && t <= nowMs) count++;
  return count === 0 ? undefined : count / (spanMs / 1000);
}

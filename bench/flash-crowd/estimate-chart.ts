import type { EstimatePoint } from './crowd-analysis.js';

// The predicted-vs-actual chart of docs/benchmarks.md, as a plain SVG string (no dependency):
// two panels, the first answer of each client and every answer; x is the wait the client really
// had, y what it was told; our estimate and position ÷ outflow in two colours; the line y = x
// and the ±25 % band around it. Both axes are logarithmic, so that a given relative error is the
// same distance from the diagonal for a 2 s wait and for a 2 min one. Figures beyond the frame
// are drawn on its edge.

export interface ChartInput {
  readonly title: string;
  readonly subtitle: string;
  readonly first: readonly EstimatePoint[];
  readonly all: readonly EstimatePoint[];
}

const OURS = '#1f5fbf';
const BASELINE = '#e07b00';
const HEADER = 60;
const PANEL_W = 560;
const PANEL_H = 500;
const MARGIN = { left: 70, right: 20, top: 50, bottom: 60 };
const MAX_POINTS = 2000;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Every k-th point, so a panel stays a few hundred kilobytes at most. */
function thin<T>(points: readonly T[]): T[] {
  if (points.length <= MAX_POINTS) return [...points];
  const step = points.length / MAX_POINTS;
  return Array.from({ length: MAX_POINTS }, (_, i) => points[Math.floor(i * step)] as T);
}

function tickLabel(v: number): string {
  return v >= 1 ? String(Math.round(v)) : String(+v.toFixed(2));
}

interface Scale {
  /** log10 of the lowest and highest value on both axes. */
  readonly lo: number;
  readonly hi: number;
}

function panel(x0: number, id: string, heading: string, points: readonly EstimatePoint[], scale: Scale): string {
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const left = x0 + MARGIN.left;
  const top = HEADER + MARGIN.top;
  const min = 10 ** scale.lo;
  const max = 10 ** scale.hi;
  const t = (v: number): number => (Math.log10(v) - scale.lo) / (scale.hi - scale.lo);
  const clamp = (v: number): number => Math.min(max, Math.max(min, v));
  const sx = (v: number): number => left + t(clamp(v)) * w;
  const sy = (v: number): number => top + h - t(clamp(v)) * h;
  /** Unclamped, for lines that the clip path cuts at the frame. */
  const ux = (v: number): number => left + t(v) * w;
  const uy = (v: number): number => top + h - t(v) * h;
  const f = (n: number): string => n.toFixed(1);
  const out: string[] = [];
  out.push(`<clipPath id="${id}"><rect x="${left}" y="${top}" width="${w}" height="${h}"/></clipPath>`);
  out.push(`<text x="${f(left + w / 2)}" y="${top - 26}" text-anchor="middle" font-size="15" font-weight="bold">${esc(heading)}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="#fff" stroke="#888"/>`);
  for (let d = Math.floor(scale.lo); d <= Math.ceil(scale.hi); d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (v < min * 0.999 || v > max * 1.001) continue;
      out.push(`<line x1="${f(sx(v))}" y1="${top}" x2="${f(sx(v))}" y2="${top + h}" stroke="${m === 1 ? '#ddd' : '#f0f0f0'}"/>`);
      out.push(`<line x1="${left}" y1="${f(sy(v))}" x2="${left + w}" y2="${f(sy(v))}" stroke="${m === 1 ? '#ddd' : '#f0f0f0'}"/>`);
      out.push(`<text x="${f(sx(v))}" y="${top + h + 18}" text-anchor="middle" font-size="12">${tickLabel(v)}</text>`);
      out.push(`<text x="${left - 8}" y="${f(sy(v) + 4)}" text-anchor="end" font-size="12">${tickLabel(v)}</text>`);
    }
  }
  // The ±25 % band (the p90 goal) and y = x, cut at the frame.
  out.push(
    `<polygon clip-path="url(#${id})" points="${f(ux(min))},${f(uy(min * 0.75))} ${f(ux(max))},${f(uy(max * 0.75))} ${f(ux(max))},${f(uy(max * 1.25))} ${f(ux(min))},${f(uy(min * 1.25))}" fill="#2a9d4a" fill-opacity="0.12"/>`,
  );
  out.push(`<line x1="${f(sx(min))}" y1="${f(sy(min))}" x2="${f(sx(max))}" y2="${f(sy(max))}" stroke="#2a9d4a" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  const shown = thin(points);
  for (const p of shown) {
    if (p.baselineS === null) continue;
    const y = p.baselineS;
    if (y > max) out.push(`<path class="b" d="M${f(sx(p.actualS))},${f(top + 1)}l-3,6h6z"/>`);
    else out.push(`<circle class="b" cx="${f(sx(p.actualS))}" cy="${f(sy(y))}" r="2.2"/>`);
  }
  for (const p of shown) out.push(`<circle class="o" cx="${f(sx(p.actualS))}" cy="${f(sy(p.oursS))}" r="2.2"/>`);
  out.push(`<text x="${f(left + w / 2)}" y="${top + h + 42}" text-anchor="middle" font-size="13">actual wait until admission (s, log scale)</text>`);
  out.push(
    `<text x="${x0 + 18}" y="${f(top + h / 2)}" text-anchor="middle" font-size="13" transform="rotate(-90 ${x0 + 18} ${f(top + h / 2)})">predicted wait (s, log scale)</text>`,
  );
  const clipped = points.filter((p) => p.baselineS !== null && p.baselineS > max).length;
  const nulls = points.filter((p) => p.baselineS === null).length;
  const note = `${points.length} answers${shown.length < points.length ? ` (${shown.length} drawn)` : ''} · baseline: ${nulls} null, ${clipped} above ${tickLabel(max)} s (▲ top edge)`;
  out.push(`<text x="${f(left + w / 2)}" y="${top - 8}" text-anchor="middle" font-size="11" fill="#555">${esc(note)}</text>`);
  return out.join('\n');
}

export function estimateChartSvg(input: ChartInput): string {
  const points = [...input.first, ...input.all];
  const positive = (v: number): boolean => Number.isFinite(v) && v > 0;
  const actuals = points.map((p) => p.actualS).filter(positive);
  const ours = points.map((p) => p.oursS).filter(positive);
  const low = Math.min(1, ...actuals, ...ours);
  const high = Math.max(1, ...actuals, ...ours);
  // From the decade below the shortest wait to one beyond the longest: far-off baseline figures go on the edge.
  const scale: Scale = { lo: Math.max(-1, Math.floor(Math.log10(low))), hi: Math.ceil(Math.log10(high * 1.5)) };
  const width = PANEL_W * 2;
  const height = HEADER + PANEL_H + 40;
  const legendY = HEADER + PANEL_H + 18;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    // Thousands of points: their style once, in a class, keeps the file small.
    `<style>.o{fill:${OURS};fill-opacity:.55}.b{fill:${BASELINE};fill-opacity:.45}</style>`,
    `<rect width="${width}" height="${height}" fill="#fafafa"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold">${esc(input.title)}</text>`,
    `<text x="${width / 2}" y="44" text-anchor="middle" font-size="12" fill="#444">${esc(input.subtitle)}</text>`,
    panel(0, 'first', 'First answer of each client', input.first, scale),
    panel(PANEL_W, 'every', 'Every answer (each check of each client)', input.all, scale),
    `<circle cx="${width / 2 - 330}" cy="${legendY}" r="5" fill="${OURS}"/>`,
    `<text x="${width / 2 - 320}" y="${legendY + 4}" font-size="13">Tessera estimate (estimated_wait_s)</text>`,
    `<circle cx="${width / 2 - 60}" cy="${legendY}" r="5" fill="${BASELINE}"/>`,
    `<text x="${width / 2 - 50}" y="${legendY + 4}" font-size="13">position ÷ outflow (estimate_baseline_s)</text>`,
    `<line x1="${width / 2 + 220}" y1="${legendY}" x2="${width / 2 + 250}" y2="${legendY}" stroke="#2a9d4a" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    `<text x="${width / 2 + 256}" y="${legendY + 4}" font-size="13">exact (y = x), shaded ±25 %</text>`,
    '</svg>',
    '',
  ].join('\n');
}

import type { EstimatePoint } from './crowd-analysis.js';

// The predicted-vs-actual chart of docs/benchmarks.md, as a plain SVG string (no dependency):
// two panels, the first answer of each client and every answer; x is the wait the client really
// had, y what it was told; our estimate and position ÷ outflow in two colours; the line y = x
// and the ±25 % band around it. Baseline figures beyond the frame are drawn on its top edge.

export interface ChartInput {
  readonly title: string;
  readonly subtitle: string;
  readonly first: readonly EstimatePoint[];
  readonly all: readonly EstimatePoint[];
}

const OURS = '#1f5fbf';
const BASELINE = '#e07b00';
const PANEL_W = 560;
const PANEL_H = 470;
const MARGIN = { left: 70, right: 20, top: 70, bottom: 60 };
const MAX_POINTS = 2500;

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Every k-th point, so a panel stays a few hundred kilobytes at most. */
function thin<T>(points: readonly T[]): T[] {
  if (points.length <= MAX_POINTS) return [...points];
  const step = points.length / MAX_POINTS;
  return Array.from({ length: MAX_POINTS }, (_, i) => points[Math.floor(i * step)] as T);
}

function panel(x0: number, heading: string, points: readonly EstimatePoint[], limit: number): string {
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const left = x0 + MARGIN.left;
  const top = MARGIN.top;
  const sx = (v: number): number => left + (Math.min(v, limit) / limit) * w;
  const sy = (v: number): number => top + h - (Math.min(v, limit) / limit) * h;
  const f = (n: number): string => n.toFixed(1);
  const out: string[] = [];
  out.push(`<text x="${f(left + w / 2)}" y="${top - 28}" text-anchor="middle" font-size="15" font-weight="bold">${esc(heading)}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="#fff" stroke="#888"/>`);
  const step = niceStep(limit, 6);
  for (let v = 0; v <= limit + 1e-9; v += step) {
    out.push(`<line x1="${f(sx(v))}" y1="${top}" x2="${f(sx(v))}" y2="${top + h}" stroke="#eee"/>`);
    out.push(`<line x1="${left}" y1="${f(sy(v))}" x2="${left + w}" y2="${f(sy(v))}" stroke="#eee"/>`);
    out.push(`<text x="${f(sx(v))}" y="${top + h + 18}" text-anchor="middle" font-size="12">${v}</text>`);
    out.push(`<text x="${left - 8}" y="${f(sy(v) + 4)}" text-anchor="end" font-size="12">${v}</text>`);
  }
  // The ±25 % band (the p90 goal) and y = x.
  out.push(
    `<polygon points="${f(sx(0))},${f(sy(0))} ${f(sx(limit))},${f(sy(limit * 0.75))} ${f(sx(limit))},${f(sy(Math.min(limit, limit * 1.25)))} ${f(sx(limit / 1.25))},${f(sy(limit))}" fill="#2a9d4a" fill-opacity="0.10"/>`,
  );
  out.push(`<line x1="${f(sx(0))}" y1="${f(sy(0))}" x2="${f(sx(limit))}" y2="${f(sy(limit))}" stroke="#2a9d4a" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  const shown = thin(points);
  const base = shown.filter((p) => p.baselineS !== null);
  for (const p of base) {
    const y = p.baselineS as number;
    if (y > limit) out.push(`<path d="M${f(sx(p.actualS))},${f(top + 1)}l-3,6h6z" fill="${BASELINE}" fill-opacity="0.5"/>`);
    else out.push(`<circle cx="${f(sx(p.actualS))}" cy="${f(sy(y))}" r="2.2" fill="${BASELINE}" fill-opacity="0.45"/>`);
  }
  for (const p of shown) out.push(`<circle cx="${f(sx(p.actualS))}" cy="${f(sy(p.oursS))}" r="2.2" fill="${OURS}" fill-opacity="0.55"/>`);
  out.push(`<text x="${f(left + w / 2)}" y="${top + h + 42}" text-anchor="middle" font-size="13">actual wait until admission (s)</text>`);
  out.push(
    `<text x="${x0 + 18}" y="${f(top + h / 2)}" text-anchor="middle" font-size="13" transform="rotate(-90 ${x0 + 18} ${f(top + h / 2)})">predicted wait (s)</text>`,
  );
  const clipped = points.filter((p) => p.baselineS !== null && p.baselineS > limit).length;
  const nulls = points.filter((p) => p.baselineS === null).length;
  const note = `${points.length} answers${shown.length < points.length ? ` (${shown.length} drawn)` : ''}; baseline: ${nulls} null, ${clipped} beyond the frame (▲ on the top edge)`;
  out.push(`<text x="${f(left + w / 2)}" y="${top - 10}" text-anchor="middle" font-size="11" fill="#555">${esc(note)}</text>`);
  return out.join('\n');
}

export function estimateChartSvg(input: ChartInput): string {
  const actuals = [...input.first, ...input.all].map((p) => p.actualS);
  const ours = [...input.first, ...input.all].map((p) => p.oursS);
  const top = Math.max(1, ...actuals, ...ours) * 1.05;
  const limit = Math.ceil(top / niceStep(top, 6)) * niceStep(top, 6);
  const width = PANEL_W * 2;
  const height = PANEL_H + 70;
  const legendY = PANEL_H + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fafafa"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="17" font-weight="bold">${esc(input.title)}</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" font-size="12" fill="#444">${esc(input.subtitle)}</text>`,
    panel(0, 'First answer of each client', input.first, limit),
    panel(PANEL_W, 'Every answer (each check of each client)', input.all, limit),
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

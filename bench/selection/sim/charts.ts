import { find, mean, simPolicies, type Cell } from './matrix.js';
import { reportIntervalsS, receptionCounts } from './scenarios.js';
import type { RunResult, SimPolicy } from './simulate.js';

// Hand-written SVG (no chart library in the repo): bars of p99 by policy and report interval,
// and slots taken over time to show herding.

/** Each policy's colour in the charts (live and simulated). */
export const policyColours: Record<SimPolicy, string> = {
  dns: '#999999',
  'round-robin': '#e07b00',
  random: '#7a5195',
  'least-loaded': '#d62728',
  'best-of-two': '#2ca02c',
  default: '#1f5fbf',
};

const esc = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function p99Chart(cells: readonly Cell[], workload: 'flash' | 'steady', subtitle: string): string {
  const W = 1120;
  const H = 560;
  const panelW = 490;
  const top = 90;
  const plotH = 360;
  // The axis fits Tessera's policies; DNS round robin can be many times higher (its small servers
  // overload), so its bar is cut at the top and labelled with its value.
  const values = cells.filter((c) => c.fleet === 'mixed' && c.workload === workload && c.policy !== 'dns').map((c) => mean(c, (r) => r.p99S));
  const yMax = niceMax(1.2 * Math.max(...values));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fafafa"/>`,
    `<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">p99 time to complete an order — ${workload === 'flash' ? 'flash crowd (2,000 clients in 5 s)' : 'steady load (90 % of throughput)'}</text>`,
    `<text x="${W / 2}" y="46" text-anchor="middle" font-size="12" fill="#444">${esc(subtitle)}</text>`,
  ];
  receptionCounts.forEach((receptions, pi) => {
    const x0 = 70 + pi * (panelW + 50);
    out.push(`<text x="${x0 + panelW / 2}" y="${top - 12}" text-anchor="middle" font-size="14" font-weight="bold">${receptions} reception${receptions > 1 ? 's' : ''}</text>`);
    out.push(`<rect x="${x0}" y="${top}" width="${panelW}" height="${plotH}" fill="#fff" stroke="#888"/>`);
    for (let i = 0; i <= 5; i++) {
      const v = (yMax * i) / 5;
      const y = top + plotH - (plotH * i) / 5;
      out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + panelW}" y2="${y}" stroke="#eee"/>`);
      out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end" font-size="11">${v.toFixed(0)}</text>`);
    }
    out.push(`<text x="${x0 - 40}" y="${top + plotH / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 - 40} ${top + plotH / 2})">seconds</text>`);
    const groupW = panelW / reportIntervalsS.length;
    const barW = (groupW - 30) / simPolicies.length;
    reportIntervalsS.forEach((interval, gi) => {
      const gx = x0 + gi * groupW + 15;
      simPolicies.forEach((policy, bi) => {
        const cell = find(cells, { fleet: 'mixed', workload, receptions, reportIntervalS: interval }, policy);
        if (!cell) return;
        const v = mean(cell, (r) => r.p99S);
        const cut = v > yMax;
        const h = (plotH * Math.min(v, yMax)) / yMax;
        const bx = gx + bi * barW;
        out.push(`<rect x="${bx.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${policyColours[policy]}"><title>${policy}: ${v.toFixed(1)} s</title></rect>`);
        if (cut) {
          const cx = bx + (barW - 2) / 2;
          out.push(`<line x1="${bx.toFixed(1)}" y1="${top + 14}" x2="${(bx + barW - 2).toFixed(1)}" y2="${top + 8}" stroke="#fff" stroke-width="3"/>`);
          out.push(`<text x="${cx.toFixed(1)}" y="${top + 30}" text-anchor="middle" font-size="10" fill="#fff" transform="rotate(-90 ${cx.toFixed(1)} ${top + 30})" dy="3">${v.toFixed(0)} s</text>`);
        }
      });
      const floorCell = find(cells, { fleet: 'mixed', workload, receptions, reportIntervalS: interval }, 'default');
      if (floorCell) {
        const fy = top + plotH - (plotH * mean(floorCell, (r) => r.floorP99S)) / yMax;
        out.push(`<line x1="${gx - 4}" y1="${fy.toFixed(1)}" x2="${gx + groupW - 26}" y2="${fy.toFixed(1)}" stroke="#000" stroke-dasharray="5 3"/>`);
      }
      out.push(`<text x="${gx + (groupW - 30) / 2}" y="${top + plotH + 18}" text-anchor="middle" font-size="12">reports every ${interval} s</text>`);
    });
  });
  const ly = H - 40;
  let lx = 70;
  for (const policy of simPolicies) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${policyColours[policy]}"/>`);
    const name = policy === 'dns' ? 'DNS round robin (baseline)' : policy;
    out.push(`<text x="${lx + 16}" y="${ly}" font-size="12">${name}</text>`);
    lx += 30 + name.length * 7;
  }
  out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 24}" y2="${ly - 4}" stroke="#000" stroke-dasharray="5 3"/><text x="${lx + 30}" y="${ly}" font-size="12">floor: each client alone on the fleet</text>`);
  out.push('</svg>');
  return out.join('\n');
}

/** Share of slots taken on each server over a window of one run, one panel per run. */
export function herdingChart(runs: readonly { readonly title: string; readonly run: RunResult; readonly serverIds: readonly string[]; readonly slots: readonly number[] }[], fromS: number, toS: number, subtitle: string): string {
  const W = 1120;
  const panelH = 200;
  const gap = 60;
  const top = 80;
  const H = top + runs.length * (panelH + gap) + 30;
  const x0 = 70;
  const plotW = W - 160;
  const lineColours = ['#1f5fbf', '#e07b00', '#2ca02c', '#d62728', '#7a5195'];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fafafa"/>`,
    `<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">Slots taken on each server (share of its capacity)</text>`,
    `<text x="${W / 2}" y="46" text-anchor="middle" font-size="12" fill="#444">${esc(subtitle)}</text>`,
  ];
  runs.forEach(({ title, run, serverIds, slots }, pi) => {
    const y0 = top + pi * (panelH + gap);
    out.push(`<text x="${x0}" y="${y0 - 8}" font-size="14" font-weight="bold">${esc(title)}</text>`);
    out.push(`<rect x="${x0}" y="${y0}" width="${plotW}" height="${panelH}" fill="#fff" stroke="#888"/>`);
    for (const v of [0, 0.5, 1]) {
      const y = y0 + panelH - panelH * v;
      out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + plotW}" y2="${y}" stroke="#eee"/><text x="${x0 - 6}" y="${y + 4}" text-anchor="end" font-size="11">${v * 100} %</text>`);
    }
    for (let t = Math.ceil(fromS / 10) * 10; t <= toS; t += 10) {
      const x = x0 + (plotW * (t - fromS)) / (toS - fromS);
      out.push(`<text x="${x}" y="${y0 + panelH + 14}" text-anchor="middle" font-size="11">${t} s</text>`);
    }
    const inWindow = run.samples.filter((sm) => sm.t >= fromS && sm.t <= toS);
    serverIds.forEach((id, si) => {
      const pts = inWindow.map((sm) => `${(x0 + (plotW * (sm.t - fromS)) / (toS - fromS)).toFixed(1)},${(y0 + panelH - (panelH * (sm.taken[si] as number)) / (slots[si] as number)).toFixed(1)}`);
      out.push(`<polyline fill="none" stroke="${lineColours[si % lineColours.length]}" stroke-width="1.4" points="${pts.join(' ')}"/>`);
      out.push(`<text x="${x0 + plotW + 4}" y="${y0 + 14 + si * 14}" font-size="11" fill="${lineColours[si % lineColours.length]}">${esc(id)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n');
}

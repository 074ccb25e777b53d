import type { ContentRecord } from '../../ports/persistence.js';

// Server-rendered pages: they work in any browser without JavaScript (R1, seed 001 ¶0038).

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export const PAGE_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
table{border-collapse:collapse;width:100%}td,th{padding:.5rem;border-bottom:1px solid #ddd;text-align:left}
button{font:inherit;padding:.3rem .9rem;cursor:pointer}.muted{color:#666;font-size:.9em}`;

export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>`;
}

export function renderCatalogPage(items: readonly ContentRecord[]): string {
  const rows = items
    .map(
      (c) => `<tr><td>${escapeHtml(c.title)}<div class="muted">${escapeHtml(c.fileName)} · ${escapeHtml(c.mimeType)}</div></td>
<td>${formatBytes(c.size)}</td>
<td><form method="post" action="/orders"><input type="hidden" name="contentId" value="${c.id}"><button type="submit">Order</button></form></td></tr>`,
    )
    .join('\n');
  const table = items.length
    ? `<table><thead><tr><th>Item</th><th>Size</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p>The catalogue is empty. Add an item with <code>tessera content add FILE</code>.</p>';
  return layout(
    'Tessera — catalogue',
    `<h1>Catalogue</h1><p class="muted">Ordering gives you a single-use download link, valid for a short time, on the least-loaded content server.</p>${table}`,
  );
}

import type { StatusSnapshot } from '../../core/control/messages.js';
import { STATUS_COLUMNS, STATUS_HEADINGS, statusRow, type StatusRow } from '../../core/control/server-status-row.js';
import { SERVER_HEALTHS } from '../../core/server-health.js';
import { escapeHtml, layout } from './pages.js';

// The operator's status page (GET /status on the control listener): one row per content server.
// Without JavaScript it is a plain table that a meta refresh reloads; with it, status.js follows
// /status/events (Server-Sent Events) and rewrites the cells in place from the text cells the
// reception sends, formatted by the same code as `tessera status`.

/** How often a browser without JavaScript reloads the page. */
export const STATUS_REFRESH_S = 5;

/** One Server-Sent Event's data: what the page needs to redraw, already formatted. */
export interface StatusEvent {
  readonly at: number;
  readonly summary: string;
  readonly servers: readonly { readonly id: string; readonly health: string; readonly cells: StatusRow }[];
}

export function statusEvent(snapshot: StatusSnapshot): StatusEvent {
  return {
    at: snapshot.at,
    summary: summaryText(snapshot),
    servers: snapshot.servers.map((s) => ({ id: s.serverId, health: s.health, cells: statusRow(s, snapshot.at) })),
  };
}

export function summaryText(snapshot: StatusSnapshot): string {
  const n = snapshot.servers.length;
  if (n === 0) return 'No content server has reported to this reception yet.';
  const parts = SERVER_HEALTHS.map((h) => [h, snapshot.servers.filter((s) => s.health === h).length] as const)
    .filter(([, count]) => count > 0)
    .map(([h, count]) => `${count} ${h}`);
  return `${n} content server${n === 1 ? '' : 's'}: ${parts.join(', ')}.`;
}

const STYLE = `<style>body{max-width:80rem}
td,th{white-space:nowrap;font-variant-numeric:tabular-nums}
td.h-healthy{color:#1a7f37;font-weight:600}td.h-draining{color:#9a6700;font-weight:600}
td.h-drained{color:#0969da;font-weight:600}td.h-stale{color:#cf222e;font-weight:600}
.live{font-size:.85em;padding:.1rem .5rem;border-radius:1rem;background:#eee}.live.on{background:#dafbe1}.live.off{background:#ffebe9}</style>`;

function rowHtml(id: string, health: string, cells: StatusRow): string {
  const tds = STATUS_COLUMNS.map((c) => `<td data-col="${c}"${c === 'health' ? ` class="h-${escapeHtml(health)}"` : ''}>${escapeHtml(cells[c])}</td>`).join('');
  return `<tr data-server="${escapeHtml(id)}">${tds}</tr>`;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

export function renderStatusPage(snapshot: StatusSnapshot): string {
  const event = statusEvent(snapshot);
  const head = STATUS_COLUMNS.map((c) => `<th scope="col">${escapeHtml(STATUS_HEADINGS[c].toLowerCase())}</th>`).join('');
  const rows = event.servers.map((s) => rowHtml(s.id, s.health, s.cells)).join('\n');
  const body = `<h1>Content servers</h1>
<p><span id="summary">${escapeHtml(event.summary)}</span> <span class="muted">As of <time id="updated" datetime="${new Date(snapshot.at).toISOString()}">${clock(snapshot.at)} UTC</time>.</span>
<span id="live" class="live" hidden></span></p>
<noscript><p class="muted">This page reloads every ${STATUS_REFRESH_S} s.</p></noscript>
<table id="servers" data-columns="${escapeHtml(JSON.stringify(STATUS_COLUMNS))}"><thead><tr>${head}</tr></thead>
<tbody>${rows}</tbody></table>
<p class="muted">Health: <strong>healthy</strong> takes new tickets; <strong>draining</strong> gets none and is finishing its transfers; <strong>drained</strong> gets none and has nothing left (safe to stop); <strong>stale</strong> missed its load reports and gets none until it reports again. Drain with <code>tessera drain SERVER</code>, undo with <code>tessera undrain SERVER</code>.</p>`;
  const page = layout('Tessera — content servers', body);
  // After the layout's own style, so this page's wider body wins.
  return page
    .replace('</title>', `</title><noscript><meta http-equiv="refresh" content="${STATUS_REFRESH_S}"></noscript><script src="/status/status.js" defer></script>`)
    .replace('</head>', `${STYLE}</head>`);
}

/** The page's script, served from /status/status.js so the CSP needs no inline script. */
export const STATUS_SCRIPT = `'use strict';
(function () {
  var table = document.getElementById('servers');
  var live = document.getElementById('live');
  if (!table || !live || !window.EventSource) return;
  var columns = JSON.parse(table.getAttribute('data-columns'));
  var body = table.tBodies[0];
  var updates = 0;
  live.hidden = false;
  live.textContent = 'connecting';
  function row(id) {
    for (var i = 0; i < body.rows.length; i++) if (body.rows[i].getAttribute('data-server') === id) return body.rows[i];
    var tr = document.createElement('tr');
    tr.setAttribute('data-server', id);
    columns.forEach(function (c) {
      var td = document.createElement('td');
      td.setAttribute('data-col', c);
      tr.appendChild(td);
    });
    return tr;
  }
  function render(data) {
    var keep = [];
    data.servers.forEach(function (s) {
      var tr = row(s.id);
      columns.forEach(function (c, i) {
        var td = tr.cells[i];
        if (td.textContent !== s.cells[c]) td.textContent = s.cells[c];
        if (c === 'health') td.className = 'h-' + s.health;
      });
      body.appendChild(tr);
      keep.push(tr);
    });
    for (var i = body.rows.length - 1; i >= 0; i--) if (keep.indexOf(body.rows[i]) < 0) body.removeChild(body.rows[i]);
    document.getElementById('summary').textContent = data.summary;
    var updated = document.getElementById('updated');
    var at = new Date(data.at);
    updated.setAttribute('datetime', at.toISOString());
    updated.textContent = at.toISOString().slice(11, 19) + ' UTC';
    updates++;
    document.body.setAttribute('data-updates', String(updates));
  }
  var source = new EventSource('/status/events');
  source.addEventListener('status', function (event) {
    render(JSON.parse(event.data));
    live.textContent = 'live';
    live.className = 'live on';
  });
  source.onerror = function () {
    live.textContent = 'reconnecting';
    live.className = 'live off';
  };
})();
`;

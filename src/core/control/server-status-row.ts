import type { ServerStatus } from './messages.js';

// One content server's status as text cells, the same for `tessera status`, the status page's
// first rendering and its live updates (which send these cells, so the browser formats nothing
// and the three views cannot drift apart).

export const STATUS_COLUMNS = ['server', 'health', 'drain', 'load', 'slots', 'active', 'throughput', 'memory', 'report'] as const;

export type StatusColumn = (typeof STATUS_COLUMNS)[number];

export const STATUS_HEADINGS: Readonly<Record<StatusColumn, string>> = {
  server: 'SERVER',
  health: 'HEALTH',
  drain: 'DRAIN',
  load: 'LOAD',
  slots: 'SLOTS',
  active: 'ACTIVE',
  throughput: 'THROUGHPUT',
  memory: 'MEMORY',
  report: 'LAST REPORT',
};

export type StatusRow = Readonly<Record<StatusColumn, string>>;

/** `atMs` is the time the snapshot was taken (the reception's clock), for the drain's age. */
export function statusRow(s: ServerStatus, atMs: number): StatusRow {
  return {
    server: s.serverId,
    health: s.health,
    drain: drainText(s, atMs),
    load: s.capacity > 0 ? `${Math.round((100 * s.slotsTaken) / s.capacity)}%` : '-',
    slots: `${s.slotsTaken}/${s.capacity}`,
    active: String(s.activeTransfers),
    throughput: `${formatSize(s.bytesPerSecond)}/s`,
    memory: formatSize(s.memory.rssBytes),
    report: `${formatAge(s.reportAgeMs)} ago #${s.reportSeq}`,
  };
}

function drainText(s: ServerStatus, atMs: number): string {
  const d = s.drain;
  if (d === null) return '-';
  if (d.by === 'server') return 'stopping';
  const since = d.since === null ? '' : ` ${formatAge(atMs - d.since)} ago`;
  // Until the server's own report says it drains, only this reception knows.
  return d.acknowledged ? `operator${since}` : `operator${since} (pending)`;
}

/** Binary units, three significant figures. */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 'B';
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)} ${unit}`;
}

/** "0.4 s", "12 s", "5 min", "3 h", "2 d". */
export function formatAge(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** A plain-text table, columns padded to their widest cell. */
export function renderStatusTable(rows: readonly StatusRow[]): string {
  const widths = STATUS_COLUMNS.map((c) => Math.max(STATUS_HEADINGS[c].length, ...rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(STATUS_COLUMNS.map((c) => STATUS_HEADINGS[c])), ...rows.map((r) => line(STATUS_COLUMNS.map((c) => r[c])))].join('\n');
}

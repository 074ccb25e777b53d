import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatDuration } from './format.js';
import { ProgressReporter } from './progress-reporter.js';
import { safeFileName } from './safe-file-name.js';

test('sizes and durations read like a person would write them', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.00 KiB');
  assert.equal(formatBytes(1024 * 1024 * 1.5), '1.50 MiB');
  assert.equal(formatBytes(300_000_000), '286 MiB');
  assert.equal(formatBytes(5 * 1024 ** 4), '5.00 TiB');
  assert.equal(formatDuration(undefined), '--:--');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '--:--');
  assert.equal(formatDuration(0.2), '0:01');
  assert.equal(formatDuration(75), '1:15');
  assert.equal(formatDuration(3 * 3600 + 5), '3:00:05');
});

test('a catalogue file name becomes one plain, visible name', () => {
  assert.equal(safeFileName('film.mp4', 'id'), 'film.mp4');
  assert.equal(safeFileName('../../etc/passwd', 'id'), '___.._etc_passwd');
  assert.equal(safeFileName('a\\b/c', 'id'), 'a_b_c');
  assert.equal(safeFileName('.bashrc', 'id'), '_bashrc');
  assert.equal(safeFileName('evil\u001b[2Jname\u0000', 'id'), 'evil_[2Jname_');
  assert.equal(safeFileName('..', 'id'), 'id');
  assert.equal(safeFileName('  ', 'id'), 'id');
  assert.equal(safeFileName('/', 'id'), 'id');
  const long = safeFileName('é'.repeat(300), 'id');
  assert.ok(Buffer.byteLength(long) <= 255);
  assert.equal(safeFileName('日本語のファイル.txt', 'id'), '日本語のファイル.txt');
});

function capture(isTTY: boolean): { stream: { isTTY: boolean; columns: number; write(text: string): boolean }; text: () => string } {
  let out = '';
  return {
    stream: { isTTY, columns: 100, write: (t: string) => ((out += t), true) },
    text: () => out,
  };
}

test('on a TTY the bar is redrawn in place at most every 100 ms and notes do not tear it', () => {
  let now = 0;
  const { stream, text } = capture(true);
  const reporter = new ProgressReporter({ stream, now: () => now });
  reporter.update({ bytesDone: 0, total: 2048, rate: 0, etaS: undefined });
  reporter.update({ bytesDone: 512, total: 2048, rate: 512, etaS: 3 });
  now = 150;
  reporter.update({ bytesDone: 1024, total: 2048, rate: 1024, etaS: 1 });
  reporter.note('resuming');
  now = 300;
  reporter.update({ bytesDone: 2048, total: 2048, rate: 1024, etaS: 0 });
  reporter.finish();
  const frames = text().split('\r').filter(Boolean);
  assert.match(frames[0] ?? '', /^ {2}0\.0% \[\.{30}\] 0 B \/ 2\.00 KiB {2}0 B\/s {2}ETA --:--\x1b\[K$/);
  assert.match(frames[1] ?? '', /^ 50\.0% \[#{15}\.{15}\] 1\.00 KiB \/ 2\.00 KiB {2}1\.00 KiB\/s {2}ETA 0:01\x1b\[K$/);
  assert.equal(frames[2], '\x1b[Kresuming\n');
  assert.match(text(), /100% \[#{30}\] 2\.00 KiB \/ 2\.00 KiB.*\x1b\[K\n$/);
  assert.equal(frames.length, 6, 'the 512-byte reading came too soon to be drawn');
});

test('elsewhere it writes a plain line every few seconds', () => {
  let now = 0;
  const { stream, text } = capture(false);
  const reporter = new ProgressReporter({ stream, now: () => now, prefix: 'x: ' });
  reporter.update({ bytesDone: 0, total: undefined, rate: 0, etaS: undefined });
  now = 1000;
  reporter.update({ bytesDone: 10, total: undefined, rate: 10, etaS: undefined });
  now = 5000;
  reporter.update({ bytesDone: 4096, total: undefined, rate: 1024, etaS: undefined });
  reporter.finish();
  assert.equal(text(), 'x: 0 B, 0 B/s, ETA --:--\nx: 4.00 KiB, 1.00 KiB/s, ETA --:--\n');
});

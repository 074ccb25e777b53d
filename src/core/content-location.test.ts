import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { TesseraError } from './errors.js';
import { formatContentLocation, parseContentLocation, ticketUrl } from './content-location.js';

const ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

function refused(segments: readonly string[]): boolean {
  try {
    parseContentLocation(segments);
    return false;
  } catch (error) {
    assert.ok(error instanceof TesseraError, String(error));
    assert.equal(error.code, 'bad-content-location');
    assert.equal(error.status, 400);
    return true;
  }
}

describe('parseContentLocation', () => {
  it('reads one content ID and one plain file name, percent-decoded', () => {
    assert.deepEqual(parseContentLocation([ID, 'movie.mp4']), { contentId: ID, fileName: 'movie.mp4' });
    assert.deepEqual(parseContentLocation([ID, 'my%20file.txt']), { contentId: ID, fileName: 'my file.txt' });
    assert.deepEqual(parseContentLocation([ID, 'caf%C3%A9.jpg']), { contentId: ID, fileName: 'caf\u00e9.jpg' });
    assert.deepEqual(parseContentLocation([ID, '...']), { contentId: ID, fileName: '...' });
    assert.deepEqual(parseContentLocation([ID, '.hidden']), { contentId: ID, fileName: '.hidden' });
    assert.deepEqual(parseContentLocation([ID, 'x'.repeat(255)]), { contentId: ID, fileName: 'x'.repeat(255) });
  });

  it('refuses path traversal in every spelling', () => {
    const names = [
      '..', '.', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '%2e',
      '..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', 'a%2Fb', 'a%2fb', '%2F',
      'a\\b', 'a%5Cb', '..%5C..%5Cwindows', '%5c',
      '%00', 'a%00.txt', 'a\u0000b',
      // Overlong UTF-8 for '.', '/' and '\' (CVE-2000-0884 style), and other invalid UTF-8.
      '%c0%ae%c0%ae', '%c0%af', '%e0%80%ae', '%c1%9c', '%f0%80%80%af', '%ed%a0%80', '%ff',
      // Bad percent-encoding.
      '%', '%2', '%zz', '%%32%65',
      // Control characters that could split a header or a log line.
      '%0d%0aSet-Cookie:%20x', 'a%0Ab', 'a%09b', '%7f', '%1b[31m',
      // Empty and overlong names.
      '', 'x'.repeat(256), '%41'.repeat(256),
    ];
    for (const name of names) assert.ok(refused([ID, name]), JSON.stringify(name));
  });

  it('refuses a content ID that is not a lowercase UUID', () => {
    for (const id of [
      '', '..', '%2e%2e', 'movie', ID.toUpperCase(), `${ID} `, ` ${ID}`, `${ID}/`, ID.replaceAll('-', ''),
      `${ID.slice(0, -1)}g`, '%61aaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', `${ID}%00`,
    ]) {
      assert.ok(refused([id, 'movie.mp4']), JSON.stringify(id));
    }
  });

  it('refuses any segment count but two', () => {
    for (const segments of [[], [ID], ['movie.mp4'], [ID, 'a', 'b'], [ID, '..', 'etc'], ['x', ID, 'movie.mp4'], [ID, 'movie.mp4', '']]) {
      assert.ok(refused(segments), JSON.stringify(segments));
    }
  });
});

describe('formatContentLocation and ticketUrl', () => {
  const validName = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 40 })
    .filter((name) => name !== '.' && name !== '..' && !/[/\\\u0000-\u001f\u007f]/.test(name));

  it('parse(format(location)) is the location, for any valid file name', () => {
    fc.assert(
      fc.property(fc.uuid({ version: 4 }), validName, (contentId, fileName) => {
        const segments = formatContentLocation({ contentId, fileName }).split('/');
        assert.deepEqual(parseContentLocation(segments), { contentId, fileName });
      }),
      { numRuns: 2000 },
    );
  });

  it('builds server + /t/ + ticket + content location, and the path splits back into it', () => {
    const url = ticketUrl('http://127.0.0.1:8081/', 'AQAAAAcEY3MtYQ', { contentId: ID, fileName: 'a b/c.txt' });
    assert.equal(url, `http://127.0.0.1:8081/t/AQAAAAcEY3MtYQ/${ID}/a%20b%2Fc.txt`);
    assert.equal(ticketUrl('http://h:1///', 'T', { contentId: ID, fileName: 'x' }), `http://h:1/t/T/${ID}/x`);
    const [, t, ticket, ...rest] = new URL(url).pathname.split('/');
    assert.equal(t, 't');
    assert.equal(ticket, 'AQAAAAcEY3MtYQ');
    // A name that contains '/' is refused when parsed, so the URL still has exactly two segments.
    assert.equal(rest.length, 2);
    assert.ok(refused(rest));
  });
});

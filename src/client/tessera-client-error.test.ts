import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorFromResponse, parseRetryAfter, TesseraClientError } from './tessera-client-error.js';

test('Retry-After in seconds and as an HTTP date', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('12', now), 12);
  assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now), 30);
  assert.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('a problem document becomes a typed error; the retryAfterS extension wins over the header', () => {
  const body = JSON.stringify({ type: 't', title: 'Busy', status: 503, code: 'all-servers-busy', detail: 'wait', retryAfterS: 4, position: 3 });
  const error = errorFromResponse(503, 'Service Unavailable', { contentType: 'application/problem+json; charset=utf-8', retryAfter: '9' }, body, 0);
  assert.ok(error instanceof TesseraClientError);
  assert.equal(error.code, 'all-servers-busy');
  assert.equal(error.detail, 'wait');
  assert.equal(error.retryAfterS, 4);
  assert.equal(error.problem?.['position'], 3);
  assert.equal(error.message, 'wait (all-servers-busy)');
});

test('a body that is not a problem document still yields a coded error', () => {
  const error = errorFromResponse(500, 'Internal Server Error', { contentType: 'application/json', retryAfter: undefined }, '{oops', 0);
  assert.equal(error.code, 'http-500');
  assert.equal(error.title, 'Internal Server Error');
  assert.equal(error.problem, undefined);
  assert.equal(error.message, 'Internal Server Error (http-500)');
});

test('withResume keeps everything and adds where the download stands', () => {
  const error = TesseraClientError.local('connection-failed', 'dropped').withResume({ partFile: '/x.part', bytes: 10, etag: '"e"' });
  assert.equal(error.code, 'connection-failed');
  assert.equal(error.status, 0);
  assert.deepEqual(error.resume, { partFile: '/x.part', bytes: 10, etag: '"e"' });
});

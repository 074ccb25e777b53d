import * as assert from 'node:assert/strict';
import { TesseraClientError } from '../tessera-client-error.js';

/** Awaits `promise`, asserts it failed with a TesseraClientError of `code`, and returns it. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<TesseraClientError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof TesseraClientError)) assert.fail(`expected a TesseraClientError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

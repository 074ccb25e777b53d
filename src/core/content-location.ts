import { TesseraError } from './errors.js';
import { isUuid } from './ids.js';

// The content location is the last part of a ticket URL (seed 001 figure 4):
//   http://server/t/<ticket>/<contentId>/<fileName>
// The file name is there for people and for clients that name files from the URL; the server
// serves by content ID only, and refuses anything that is not exactly one ID and one plain
// name, so no path can ever reach the store's file system.

// No separators, and no control characters: the name may end up in a Content-Disposition
// header or a log line, where CR/LF would split it.
const FILE_NAME = /^[^/\\\u0000-\u001f\u007f]{1,255}$/;

export interface ContentLocation {
  readonly contentId: string;
  readonly fileName: string;
}

export function parseContentLocation(segments: readonly string[]): ContentLocation {
  if (segments.length !== 2) throw new TesseraError('bad-content-location', 'expected <content id>/<file name>');
  const [rawId = '', rawName = ''] = segments;
  if (!isUuid(rawId)) throw new TesseraError('bad-content-location', 'content id is not a UUID');
  let fileName: string;
  try {
    fileName = decodeURIComponent(rawName);
  } catch {
    throw new TesseraError('bad-content-location', 'file name is not valid percent-encoding');
  }
  if (!FILE_NAME.test(fileName) || fileName === '.' || fileName === '..') {
    throw new TesseraError('bad-content-location', 'file name is not a plain name');
  }
  return { contentId: rawId, fileName };
}

export function formatContentLocation(location: ContentLocation): string {
  return `${location.contentId}/${encodeURIComponent(location.fileName)}`;
}

/** The ticket URL: server address + ticket part + content location. */
export function ticketUrl(serverBaseUrl: string, ticket: string, location: ContentLocation): string {
  return `${serverBaseUrl.replace(/\/+$/, '')}/t/${ticket}/${formatContentLocation(location)}`;
}

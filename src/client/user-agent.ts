// Identifies the client in server logs; the version is the library's, not the server's.
export const CLIENT_VERSION = '0.1.0';

export function defaultUserAgent(): string {
  return `tessera-client/${CLIENT_VERSION} node/${process.versions.node}`;
}

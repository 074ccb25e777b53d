import { existsSync } from 'node:fs';
import { NGINX_BINARY } from '../../src/topology/nginx-entry.js';

/**
 * Whether Debian's nginx is installed for the tests that put it in front of several receptions.
 * Missing under CI=true is an error (.ci/run installs it), elsewhere a loud skip.
 */
export function nginxForTests(): boolean {
  if (existsSync(NGINX_BINARY)) return true;
  const message = `\n*** ${NGINX_BINARY} not found: the tests with several receptions need nginx (apt-get install nginx-light) ***\n`;
  if (process.env['CI'] === 'true') throw new Error(message);
  process.stderr.write(message);
  return false;
}

import { accessSync, constants } from 'node:fs';
import { CURL } from './curl-download.js';
import { NGINX, nginxHasSecureLink } from './nginx.js';
import { WRK } from './wrk.js';

// The bench needs Linux tools it does not install by itself (installing system packages is the
// operator's call): it says exactly what is missing and how to get it on Debian.

export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  const executable = (path: string): boolean => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (process.platform !== 'linux') missing.push('Linux (the bench reads /proc and pins processes with taskset)');
  if (!executable(NGINX)) missing.push(`nginx at ${NGINX}: apt-get update && apt-get install -y nginx-light`);
  else if (!nginxHasSecureLink()) {
    missing.push('nginx with the secure_link module (see `nginx -V`): apt-get update && apt-get install -y nginx-full  (or nginx-extras)');
  }
  if (!executable(WRK)) missing.push(`wrk at ${WRK}: apt-get install -y wrk`);
  if (!executable(CURL)) missing.push(`curl at ${CURL}: apt-get install -y curl`);
  if (!executable('/usr/bin/taskset')) missing.push('taskset: apt-get install -y util-linux');
  return missing;
}

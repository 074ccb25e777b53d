import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from './managed-process.js';
import { LOOPBACK, waitForHttp } from './net.js';
import { secureLinkMd5Expression } from './secure-link.js';

// nginx from the distribution, run in the foreground with its own prefix and configuration in
// the bench's temp directory, so it touches nothing of the system's nginx.

export const NGINX = '/usr/sbin/nginx';

export type NginxSite =
  /** Static files under /s/ behind secure_link (the peer of a ticket URL). */
  | { readonly kind: 'secure-link'; readonly root: string; readonly secret: string }
  /** In front of a content server in accel mode: proxies /t/ and serves X-Accel-Redirect from the store. */
  | { readonly kind: 'accel-front'; readonly upstreamPort: number; readonly storeDir: string; readonly accelPrefix: string };

export interface NginxOptions {
  readonly label: string;
  readonly dir: string;
  readonly port: number;
  /** A number, or 'auto' (one per CPU). */
  readonly workers: number | 'auto';
  readonly site: NginxSite;
}

export interface RunningNginx {
  readonly label: string;
  readonly port: number;
  readonly process: ManagedProcess;
  readonly workers: number | 'auto';
}

// nginx prints -v and -V to stderr.
function nginxSays(flag: string): string {
  const result = spawnSync(NGINX, [flag], { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`;
}

export function nginxVersion(): string {
  return nginxSays('-v').trim();
}

/** `nginx -V` lists the modules compiled in; secure_link is not in every Debian flavour. */
export function nginxHasSecureLink(): boolean {
  return nginxSays('-V').includes('http_secure_link_module');
}

export function nginxConfig(options: NginxOptions): string {
  const temp = join(options.dir, 'temp');
  const site = options.site;
  const common = [
    `worker_processes ${options.workers};`,
    `pid ${join(options.dir, 'nginx.pid')};`,
    `error_log ${join(options.dir, 'error.log')} warn;`,
    'events { worker_connections 4096; }',
    'http {',
    '  include /etc/nginx/mime.types;',
    '  default_type application/octet-stream;',
    // The content server writes no access log in the bench either (TESSERA_LOG_LEVEL=warn).
    '  access_log off;',
    '  sendfile on;',
    '  tcp_nopush on;',
    '  tcp_nodelay on;',
    '  keepalive_requests 1000000;',
    '  keepalive_timeout 65;',
    `  client_body_temp_path ${temp}/body;`,
    `  proxy_temp_path ${temp}/proxy;`,
    `  fastcgi_temp_path ${temp}/fastcgi;`,
    `  uwsgi_temp_path ${temp}/uwsgi;`,
    `  scgi_temp_path ${temp}/scgi;`,
  ];
  let server: string[];
  if (site.kind === 'secure-link') {
    server = [
      '  server {',
      `    listen ${LOOPBACK}:${options.port};`,
      '    location /s/ {',
      `      alias ${site.root}/;`,
      '      secure_link $arg_md5,$arg_expires;',
      `      secure_link_md5 "${secureLinkMd5Expression(site.secret)}";`,
      '      if ($secure_link = "") { return 403; }',
      '      if ($secure_link = "0") { return 410; }',
      '    }',
      '    location = /healthz { return 200 "ok\\n"; }',
      '  }',
    ];
  } else {
    server = [
      '  upstream tessera_content {',
      `    server ${LOOPBACK}:${site.upstreamPort};`,
      '    keepalive 64;',
      '  }',
      '  server {',
      `    listen ${LOOPBACK}:${options.port};`,
      '    location /t/ {',
      '      proxy_pass http://tessera_content;',
      '      proxy_http_version 1.1;',
      '      proxy_set_header Connection "";',
      '      proxy_set_header Host $host;',
      '      proxy_set_header X-Forwarded-For $remote_addr;',
      '    }',
      `    location ${site.accelPrefix}/ {`,
      '      internal;',
      `      alias ${site.storeDir}/;`,
      '    }',
      '    location = /healthz { return 200 "ok\\n"; }',
      '  }',
    ];
  }
  return [...common, ...server, '}', ''].join('\n');
}

export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  mkdirSync(join(options.dir, 'temp'), { recursive: true });
  const conf = join(options.dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(options));
  const process = startProcess({
    label: options.label,
    command: NGINX,
    args: ['-p', options.dir, '-c', conf, '-g', 'daemon off;'],
    logFile: join(options.dir, 'stdout.log'),
  });
  try {
    await Promise.race([
      waitForHttp(`http://${LOOPBACK}:${options.port}/healthz`, 10_000),
      process.exited.then((code) => {
        throw new Error(`${options.label} exited at start (${code}); see ${options.dir}/error.log`);
      }),
    ]);
  } catch (error) {
    await process.stop();
    throw error;
  }
  return { label: options.label, port: options.port, process, workers: options.workers };
}

import { join } from 'node:path';
import type { Topology } from './topology.js';

// The public entry in front of several receptions: nginx from the system, not a proxy of our
// own (docs/operations.md). It spreads requests over the receptions by fewest active
// connections (a long-polling client holds one, so a reception busy with waiters gets fewer
// new ones), and takes a reception that refuses connections out for a few seconds. A request
// is passed to the next reception only when the first could not be reached or failed before
// answering; nginx never repeats a POST that a reception may have acted on (its default for
// non-idempotent requests), so an order is never placed twice by the entry.
//
// Every reception can answer every request: they share the database and the root secret, so
// any of them reads any order and checks any queue token; the waiting page's cookie works
// whichever reception answers.

export interface NginxEntry {
  /** nginx's prefix directory (pid, logs, temp files): created by the caller. */
  readonly prefix: string;
  readonly configFile: string;
  readonly config: string;
  /** argv for spawn: the binary first. */
  readonly argv: readonly string[];
}

export const NGINX_BINARY = process.env['TESSERA_NGINX'] ?? '/usr/sbin/nginx';

export function nginxEntry(topology: Topology, dataDir: string): NginxEntry | undefined {
  const entry = topology.entry;
  if (entry === undefined) return undefined;
  const prefix = join(dataDir, 'entry');
  const configFile = join(prefix, 'nginx.conf');
  const upstreams = topology.receptions.map((r) => `    server ${topology.host}:${r.publicPort} max_fails=1 fail_timeout=3s;`).join('\n');
  const config = `# Written by tessera up; changes are overwritten at the next start.
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 8192; }
http {
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  access_log off;
  server_tokens off;
  upstream tessera_receptions {
    least_conn;
${upstreams}
    keepalive 64;
  }
  server {
    listen ${topology.host}:${entry.publicPort} backlog=4096;
    client_max_body_size 64k;
    location / {
      proxy_pass http://tessera_receptions;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      # Long-polling waiters (Prefer: wait, at most 30 s) and server-sent events.
      proxy_read_timeout 75s;
      proxy_buffering off;
      proxy_connect_timeout 2s;
      # Not on a 503: a busy reception's 503 is an answer (a place in line), not a failure.
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 2;
    }
  }
}
`;
  return { prefix, configFile, config, argv: [NGINX_BINARY, '-p', prefix, '-c', configFile] };
}

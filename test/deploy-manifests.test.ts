import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { checkControlToken } from '../src/core/ticket/ticket-keys.js';
import { loadContentServerConfig } from '../src/servers/content/config.js';
import { adminToken } from '../src/servers/reception/control-app.js';
import { loadReceptionConfig } from '../src/servers/reception/config.js';
import { NGINX_BINARY } from '../src/topology/nginx-entry.js';

// The many-machine deployment in deploy/ cannot be run here (no Docker engine, no cluster), so
// this checks everything about it that can be checked for real, so that the manifests cannot
// drift from the code: every YAML file parses; every TESSERA_* variable they set is one the
// servers (or the image's own scripts) read; the servers' own config loaders accept each
// container's environment as the manifests give it, with the secrets deploy/make-secrets.mjs
// makes; every port, probe, Service, Ingress backend and control URL points at a listener that
// exists; the nginx entry's configuration passes `nginx -t`; the image's entrypoint turns
// *_FILE secrets into variables.

const REPO = process.cwd();
const DEPLOY = join(REPO, 'deploy');

type Env = Record<string, string>;
type Obj = Record<string, unknown>;

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'secrets') out.push(...yamlFiles(path));
    } else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out.sort();
}

/** The names the servers, their shared config code and the image's scripts read. */
function namesRead(): { byServers: Set<string>; byScripts: Set<string> } {
  const sources = [
    ...['reception', 'content'].flatMap((role) => ['config.ts', 'main.ts'].map((f) => join(REPO, 'src/servers', role, f))),
    ...readdirSync(join(REPO, 'src/config')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => join(REPO, 'src/config', f)),
    join(REPO, 'src/observability/logger.ts'),
    join(REPO, 'src/cli/admin-client.ts'),
  ].filter(existsSync);
  const byServers = new Set<string>();
  for (const file of sources) for (const m of readFileSync(file, 'utf8').matchAll(/['"`](TESSERA_[A-Z0-9_]+)['"`]/g)) byServers.add(m[1] as string);
  const byScripts = new Set<string>();
  const scripts = join(DEPLOY, 'docker');
  for (const f of readdirSync(scripts).filter((n) => n.endsWith('.sh'))) {
    for (const m of readFileSync(join(scripts, f), 'utf8').matchAll(/\$\{?(TESSERA_[A-Z0-9_]+)/g)) byScripts.add(m[1] as string);
  }
  return { byServers, byScripts };
}

/** Compose's ${VAR:-default} with the defaults (the values a plain `docker compose up` uses). */
function interpolateDefaults(text: string): string {
  return text.replace(/\$\{([A-Z0-9_]+):-([^}]*)\}/g, (_m, _name, fallback: string) => fallback);
}

function loadCompose(): Obj {
  return parse(interpolateDefaults(readFileSync(join(DEPLOY, 'compose/compose.yaml'), 'utf8')), { merge: true }) as Obj;
}

function loadKubernetes(): Obj[] {
  const dir = join(DEPLOY, 'kubernetes');
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8'))
      .map((d) => d.toJS() as Obj | null)
      .filter((d): d is Obj => d !== null),
  );
}

const at = (o: unknown, ...path: (string | number)[]): unknown => path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);
const isTessera = (service: Obj): boolean => String(service['image'] ?? '').startsWith('tessera');
const portOfUrl = (url: string): number => Number(new URL(url).port || (url.startsWith('https:') ? 443 : 80));

/** Runs the image's entrypoint for real: what environment does the command see? */
function throughEntrypoint(env: Env): { status: number | null; env: Env; stderr: string } {
  const result = spawnSync('sh', [join(DEPLOY, 'docker/entrypoint.sh'), 'env'], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' });
  const seen: Env = {};
  for (const line of result.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) seen[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { status: result.status, env: seen, stderr: result.stderr };
}

let secretsDir: string;
let k8sSecrets: Map<string, Record<string, string>>;

before(() => {
  secretsDir = mkdtempSync(join(tmpdir(), 'tessera-deploy-secrets-'));
  const make = (servers: string, extra: string[] = []): string => {
    const result = spawnSync(process.execPath, [join(DEPLOY, 'make-secrets.mjs'), '--out', join(secretsDir, servers.split(',')[0] as string), '--servers', servers, ...extra], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
  };
  make('cs-1,cs-2,cs-3');
  const k8s = make('content-0,content-1,content-2', ['--kubernetes']);
  k8sSecrets = new Map(
    parseAllDocuments(k8s).map((d) => {
      const s = d.toJS() as { kind: string; metadata: { name: string }; stringData: Record<string, string> };
      assert.equal(s.kind, 'Secret');
      return [s.metadata.name, s.stringData];
    }),
  );
});
after(() => rmSync(secretsDir, { recursive: true, force: true }));

describe('deploy/: every YAML file parses', () => {
  test('each document of each file, with no parse errors or warnings', () => {
    const files = yamlFiles(DEPLOY);
    assert.ok(files.length >= 8, `found only ${files.map((f) => relative(REPO, f)).join(', ')}`);
    for (const file of files) {
      const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
      assert.ok(docs.length > 0, `${relative(REPO, file)} is empty`);
      for (const doc of docs) {
        assert.deepEqual(doc.errors.map((e) => e.message), [], relative(REPO, file));
        assert.deepEqual(doc.warnings.map((e) => e.message), [], relative(REPO, file));
      }
    }
  });

  test('every Kubernetes document has apiVersion, kind and a name; kustomization lists every manifest', () => {
    const dir = join(DEPLOY, 'kubernetes');
    const listed = new Set((parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] }).resources);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) assert.ok(listed.has(file), `${file} is not in kustomization.yaml`);
    for (const doc of loadKubernetes()) {
      assert.equal(typeof doc['apiVersion'], 'string');
      assert.equal(typeof doc['kind'], 'string');
      assert.match(String(at(doc, 'metadata', 'name')), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  test('kubectl kustomize builds the set (when kubectl is installed)', (t) => {
    const which = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
    if (which.status !== 0) return t.skip('kubectl is not installed');
    const result = spawnSync('kubectl', ['kustomize', join(DEPLOY, 'kubernetes')], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const kinds = parseAllDocuments(result.stdout).map((d) => (d.toJS() as Obj)['kind']);
    for (const kind of ['StatefulSet', 'Service', 'ConfigMap', 'Ingress', 'PodDisruptionBudget', 'NetworkPolicy']) assert.ok(kinds.includes(kind), kind);
  });
});

describe('deploy/: every TESSERA_* variable is read by the code', () => {
  const { byServers, byScripts } = namesRead();

  function assertKnown(name: string, where: string): void {
    if (byServers.has(name) || byScripts.has(name)) return;
    // The entrypoint reads TESSERA_X_FILE into TESSERA_X.
    if (name.endsWith('_FILE') && byServers.has(name.slice(0, -5))) return;
    assert.fail(`${where} sets ${name}, which no server config loader (src/servers/*/config.ts, main.ts, src/config/) or deploy/docker script reads`);
  }

  test('the loaders are found (the scan is not empty)', () => {
    for (const name of ['TESSERA_SERVER_ID', 'TESSERA_DATABASE_URL', 'TESSERA_SECRET_FILE', 'TESSERA_TRUST_PROXY', 'TESSERA_CONTROL_TOKEN', 'TESSERA_LOG_LEVEL']) assert.ok(byServers.has(name), name);
    assert.ok(!byServers.has('TESSERA_NO_SUCH_SETTING'));
  });

  test('compose.yaml', () => {
    const services = loadCompose()['services'] as Record<string, Obj>;
    let checked = 0;
    for (const [name, service] of Object.entries(services)) {
      for (const key of Object.keys((service['environment'] as Env | undefined) ?? {})) {
        if (!key.startsWith('TESSERA_')) continue;
        assertKnown(key, `compose service ${name}`);
        checked++;
      }
    }
    assert.ok(checked > 30, `only ${checked} variables found`);
  });

  test('Kubernetes: env of every container and the ConfigMaps it reads', () => {
    let checked = 0;
    for (const doc of loadKubernetes()) {
      if (doc['kind'] === 'ConfigMap') {
        for (const key of Object.keys((doc['data'] as Env | undefined) ?? {})) {
          assert.match(key, /^TESSERA_/, `ConfigMap ${String(at(doc, 'metadata', 'name'))} holds ${key}`);
          assertKnown(key, `ConfigMap ${String(at(doc, 'metadata', 'name'))}`);
          checked++;
        }
      }
      for (const c of (at(doc, 'spec', 'template', 'spec', 'containers') as Obj[] | undefined) ?? []) {
        for (const e of (c['env'] as { name: string }[] | undefined) ?? []) {
          if (!e.name.startsWith('TESSERA_')) continue;
          assertKnown(e.name, `${String(doc['kind'])} ${String(at(doc, 'metadata', 'name'))}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 25, `only ${checked} variables found`);
  });

  test('a made-up variable is caught', () => {
    assert.throws(() => assertKnown('TESSERA_NO_SUCH_SETTING', 'this test'), /no server config loader/);
  });
});

describe('deploy/compose: the servers accept each container environment', () => {
  const compose = loadCompose();
  const services = compose['services'] as Record<string, Obj>;
  const secretFiles = compose['secrets'] as Record<string, { file: string }>;

  /** The environment as the process sees it: secrets mounted, then the entrypoint run. */
  function containerEnv(name: string): Env {
    const service = services[name] as Obj;
    const env: Env = { ...(service['environment'] as Env) };
    const granted = new Set((service['secrets'] as string[] | undefined) ?? []);
    for (const [key, value] of Object.entries(env)) {
      const m = /^\/run\/secrets\/(.+)$/.exec(value);
      if (!m) continue;
      const secret = m[1] as string;
      assert.ok(granted.has(secret), `${name}: ${key} names secret ${secret}, which the service is not given`);
      assert.ok(secretFiles[secret], `secret ${secret} is not declared`);
      const file = join(secretsDir, 'cs-1', basename((secretFiles[secret] as { file: string }).file));
      assert.ok(existsSync(file), `make-secrets.mjs does not write ${basename(file)}`);
      env[key] = file;
    }
    const run = throughEntrypoint(env);
    assert.equal(run.status, 0, run.stderr);
    const out: Env = {};
    for (const key of Object.keys(run.env)) if (key.startsWith('TESSERA_')) out[key] = run.env[key] as string;
    return out;
  }

  test('two receptions and three content servers', () => {
    const receptions = Object.keys(services).filter((n) => isTessera(services[n] as Obj) && at(services[n], 'command', 2) === 'reception');
    const contents = Object.keys(services).filter((n) => isTessera(services[n] as Obj) && at(services[n], 'command', 2) === 'content');
    assert.equal(receptions.length, 2);
    assert.equal(contents.length, 3);
    assert.ok(services['entry'] && services['postgres'] && services['redis']);
  });

  test('receptions: loadReceptionConfig accepts them; database URL and root secret come from secrets', () => {
    const root = readFileSync(join(secretsDir, 'cs-1', 'root_secret'), 'utf8').trim();
    for (const name of ['reception-1', 'reception-2']) {
      const env = containerEnv(name);
      assert.equal(env['TESSERA_DATABASE_URL_FILE'], undefined, 'the entrypoint consumed the _FILE variable');
      const config = loadReceptionConfig(env);
      assert.match(config.databaseUrl, /^postgres:\/\/tessera:[^@]+@postgres:5432\/tessera$/);
      assert.equal(config.rootSecret.toString('base64url'), root);
      assert.equal(config.publicHost, '0.0.0.0');
      assert.equal(config.controlHost, `${name}.back`);
      assert.equal(config.receptionId, name, 'a stable reception ID on Redis');
      assert.equal(config.redisUrl, 'redis://redis:6379');
      // Nothing secret inline in the manifest itself.
      const inline = JSON.stringify((services[name] as Obj)['environment']);
      assert.ok(!inline.includes(root) && !inline.includes('postgres://'), `${name} has a secret inline`);
    }
  });

  test('content servers: loadContentServerConfig accepts them; each token is its own, derived from the root secret', () => {
    const root = Buffer.from(readFileSync(join(secretsDir, 'cs-1', 'root_secret'), 'utf8').trim(), 'base64url');
    for (const name of ['cs-1', 'cs-2', 'cs-3']) {
      const config = loadContentServerConfig(containerEnv(name));
      assert.equal(config.serverId, name);
      assert.equal(checkControlToken(root, config.controlToken), name);
      assert.equal(config.controlHost, `${name}.back`);
      assert.equal(config.redisUrl, 'redis://redis:6379');
      assert.ok(!JSON.stringify((services[name] as Obj)['environment']).includes(config.controlToken), `${name} has its token inline`);
    }
  });
});

describe('deploy/compose: ports, names and networks agree', () => {
  const compose = loadCompose();
  const services = compose['services'] as Record<string, Obj>;
  const env = (name: string): Env => (services[name] as Obj)['environment'] as Env;
  const aliasesOn = (name: string, network: string): string[] => [name, ...((at(services[name], 'networks', network, 'aliases') as string[] | undefined) ?? [])];
  const networksOf = (name: string): string[] => {
    const n = (services[name] as Obj)['networks'];
    return Array.isArray(n) ? (n as string[]) : Object.keys((n as Obj | undefined) ?? {});
  };
  const healthPort = (name: string): number => {
    const testCmd = (at(services[name], 'healthcheck', 'test') as string[]).join(' ');
    const m = /127\.0\.0\.1[:/](\d+)/.exec(testCmd);
    assert.ok(m, `${name}'s health check names no port`);
    return Number(m[1]);
  };

  test('each health check and published port is the public listener', () => {
    for (const name of Object.keys(services).filter((n) => isTessera(services[n] as Obj))) {
      const publicPort = Number(env(name)['TESSERA_PUBLIC_PORT']);
      assert.equal(healthPort(name), publicPort, `${name} health check`);
      assert.match(JSON.stringify(at(services[name], 'healthcheck', 'test')), /\/healthz/);
      for (const mapping of ((services[name] as Obj)['ports'] as string[] | undefined) ?? []) {
        assert.equal(Number(mapping.split(':').at(-1)), publicPort, `${name} publishes ${mapping}`);
        // A ticket URL must name the port clients reach.
        assert.equal(portOfUrl(env(name)['TESSERA_PUBLIC_URL'] as string), Number(mapping.split(':')[0]), `${name} TESSERA_PUBLIC_URL`);
      }
    }
  });

  test('control URLs name each reception by its alias on the internal network and its control port', () => {
    const receptions = ['reception-1', 'reception-2'];
    for (const cs of ['cs-1', 'cs-2', 'cs-3']) {
      const urls = (env(cs)['TESSERA_RECEPTION_CONTROL_URL'] as string).split(',');
      assert.equal(urls.length, receptions.length, `${cs} reports to every reception`);
      for (const [i, url] of urls.entries()) {
        const r = receptions[i] as string;
        const u = new URL(url);
        assert.ok(aliasesOn(r, 'back').includes(u.hostname), `${cs}: ${u.hostname} is not ${r} on back`);
        assert.equal(Number(u.port), Number(env(r)['TESSERA_CONTROL_PORT']));
        assert.equal(env(r)['TESSERA_CONTROL_HOST'], u.hostname, `${r} binds its control listener where it is reached`);
      }
      assert.ok(aliasesOn(cs, 'back').includes(env(cs)['TESSERA_CONTROL_HOST'] as string), `${cs} control host is its back alias`);
      assert.equal(new URL(env(cs)['TESSERA_REDIS_URL'] as string).hostname, 'redis');
    }
    assert.equal(at(compose, 'networks', 'back', 'internal'), true, 'the control network has no way out');
    for (const name of ['postgres', 'redis']) assert.deepEqual(networksOf(name), ['back']);
    assert.deepEqual(networksOf('entry'), ['front']);
  });

  test('the entry passes to each reception public port; nginx -t accepts its configuration', (t) => {
    const conf = readFileSync(join(DEPLOY, 'compose/nginx.conf'), 'utf8');
    const upstreams = [...conf.matchAll(/^\s*server\s+([a-z0-9.-]+):(\d+)/gm)].map((m) => ({ host: m[1] as string, port: Number(m[2]) }));
    assert.deepEqual(upstreams.map((u) => u.host), ['reception-1', 'reception-2']);
    for (const u of upstreams) assert.equal(u.port, Number(env(u.host)['TESSERA_PUBLIC_PORT']));
    const listen = Number(/^\s*listen\s+(\d+)/m.exec(conf)?.[1]);
    assert.equal(Number((((services['entry'] as Obj)['ports'] as string[])[0] as string).split(':').at(-1)), listen);
    assert.equal(healthPort('entry'), listen);
    if (!existsSync(NGINX_BINARY)) {
      if (process.env['CI'] === 'true') assert.fail(`${NGINX_BINARY} is missing`);
      return t.skip(`${NGINX_BINARY} not installed`);
    }
    // The receptions' names only resolve inside compose: stand loopback in for them.
    const dir = mkdtempSync(join(tmpdir(), 'tessera-nginx-t-'));
    try {
      writeFileSync(join(dir, 'default.conf'), conf.replace(/server\s+reception-\d+:/g, 'server 127.0.0.1:'));
      writeFileSync(
        join(dir, 'nginx.conf'),
        `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  access_log off;\n  include ${dir}/default.conf;\n}\n`,
      );
      const result = spawnSync(NGINX_BINARY, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every volume and secret a service uses is declared', () => {
    const volumes = new Set(Object.keys(compose['volumes'] as Obj));
    const secrets = new Set(Object.keys(compose['secrets'] as Obj));
    for (const [name, service] of Object.entries(services)) {
      for (const v of (service['volumes'] as string[] | undefined) ?? []) {
        const source = v.split(':')[0] as string;
        if (source.startsWith('.')) assert.ok(existsSync(join(DEPLOY, 'compose', source)), `${name}: ${source}`);
        else assert.ok(volumes.has(source), `${name}: volume ${source}`);
      }
      for (const s of (service['secrets'] as string[] | undefined) ?? []) assert.ok(secrets.has(s), `${name}: secret ${s}`);
    }
  });
});

describe('deploy/kubernetes: the servers accept each pod environment; ports and names agree', () => {
  const docs = loadKubernetes();
  const named = (kind: string, name: string): Obj => {
    const d = docs.find((x) => x['kind'] === kind && at(x, 'metadata', 'name') === name);
    assert.ok(d, `${kind} ${name} is missing`);
    return d;
  };
  const podSpec = (sts: string): Obj => at(named('StatefulSet', sts), 'spec', 'template', 'spec') as Obj;
  const container = (sts: string): Obj => (podSpec(sts)['containers'] as Obj[])[0] as Obj;
  const portsOf = (sts: string): Map<string, number> => new Map(((container(sts)['ports'] as { name: string; containerPort: number }[]) ?? []).map((p) => [p.name, p.containerPort]));

  /** The pod's environment: ConfigMaps, env (with $(VAR) expansion), mounted secrets, entrypoint. */
  function podEnv(sts: string, podName: string): Env {
    const c = container(sts);
    const env: Env = {};
    for (const from of (c['envFrom'] as { configMapRef: { name: string } }[] | undefined) ?? []) Object.assign(env, named('ConfigMap', from.configMapRef.name)['data'] as Env);
    const fields: Env = { 'metadata.name': podName, 'status.podIP': '10.1.2.3' };
    for (const e of c['env'] as { name: string; value?: string; valueFrom?: Obj }[]) {
      if (e.value !== undefined) env[e.name] = e.value.replace(/\$\(([A-Z_]+)\)/g, (_m, v: string) => env[v] ?? `$(${v})`);
      else if (at(e.valueFrom, 'fieldRef')) env[e.name] = fields[at(e.valueFrom, 'fieldRef', 'fieldPath') as string] as string;
      else {
        const ref = at(e.valueFrom, 'secretKeyRef') as { name: string; key: string };
        const value = k8sSecrets.get(ref.name)?.[ref.key];
        assert.ok(value !== undefined, `${sts}: ${e.name} needs Secret ${ref.name} key ${ref.key}, which make-secrets.mjs does not make`);
        env[e.name] = value;
      }
    }
    // Mounted secrets become files where the manifest mounts them.
    // Under secretsDir, removed after the suite: TESSERA_SECRET_FILE stays a path the loader reads.
    const dir = mkdtempSync(join(secretsDir, 'pod-'));
    const volumes = new Map((podSpec(sts)['volumes'] as { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] } }[]).map((v) => [v.name, v]));
    const files = new Map<string, string>();
    for (const m of c['volumeMounts'] as { name: string; mountPath: string }[]) {
      const secret = volumes.get(m.name)?.secret;
      if (!secret) continue;
      const data = k8sSecrets.get(secret.secretName);
      assert.ok(data, `${sts} mounts Secret ${secret.secretName}, which make-secrets.mjs does not make`);
      const items = secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
      for (const item of items) {
        assert.ok(data[item.key] !== undefined, `Secret ${secret.secretName} has no key ${item.key}`);
        files.set(`${m.mountPath}/${item.path}`, data[item.key] as string);
      }
    }
    for (const [key, value] of Object.entries(env)) {
      if (!value.startsWith('/run/secrets/')) continue;
      assert.ok(files.has(value), `${sts} ${podName}: ${key}=${value} is not a mounted secret file`);
      const local = join(dir, key);
      writeFileSync(local, `${files.get(value) as string}\n`);
      env[key] = local;
    }
    const run = throughEntrypoint(env);
    assert.equal(run.status, 0, run.stderr);
    const out: Env = {};
    for (const key of Object.keys(run.env)) if (key.startsWith('TESSERA_')) out[key] = run.env[key] as string;
    return out;
  }

  test('receptions: loadReceptionConfig accepts every replica', () => {
    const replicas = at(named('StatefulSet', 'reception'), 'spec', 'replicas') as number;
    assert.ok(replicas >= 2);
    const config = loadReceptionConfig(podEnv('reception', 'reception-0'));
    assert.match(config.databaseUrl, /^postgres:\/\//);
    assert.equal(config.receptionId, 'reception-0', 'the pod name: stable across restarts');
    assert.equal(config.redisUrl, 'redis://redis:6379');
    assert.equal(config.publicPort, portsOf('reception').get('public'));
    assert.equal(config.controlPort, portsOf('reception').get('control'));
  });

  test('content servers: loadContentServerConfig accepts every replica; the server ID is the pod name and its token its own', () => {
    const replicas = at(named('StatefulSet', 'content'), 'spec', 'replicas') as number;
    assert.equal(replicas, 3);
    const root = Buffer.from(k8sSecrets.get('tessera-reception')?.['root-secret'] as string, 'base64url');
    assert.equal(k8sSecrets.get('tessera-admin')?.['admin-token'], adminToken(root));
    for (let i = 0; i < replicas; i++) {
      const config = loadContentServerConfig(podEnv('content', `content-${i}`));
      assert.equal(config.serverId, `content-${i}`);
      assert.equal(checkControlToken(root, config.controlToken), `content-${i}`);
      assert.equal(config.controlHost, '10.1.2.3', 'the control listener binds the pod IP it announces');
      assert.equal(config.redisUrl, k8sSecrets.get('tessera-content')?.['redis-url']);
      assert.equal(config.publicPort, portsOf('content').get('public'));
      assert.equal(config.controlPort, portsOf('content').get('control'));
      assert.equal(new URL(config.publicUrl as string).hostname, `content-${i}.dl.example.com`);
      // Each reception by its stable DNS name, on its control port.
      const receptionReplicas = at(named('StatefulSet', 'reception'), 'spec', 'replicas') as number;
      assert.deepEqual(
        config.receptionControlUrls,
        Array.from({ length: receptionReplicas }, (_, r) => `http://reception-${r}.${String(at(named('StatefulSet', 'reception'), 'spec', 'serviceName'))}:${portsOf('reception').get('control')}`),
      );
    }
  });

  test('probes: /healthz on the public port; the content server drains in preStop within the grace period', () => {
    for (const sts of ['reception', 'content']) {
      const c = container(sts);
      assert.equal(at(c, 'readinessProbe', 'httpGet', 'path'), '/healthz');
      assert.ok(portsOf(sts).has(at(c, 'readinessProbe', 'httpGet', 'port') as string));
      const live = (at(c, 'livenessProbe', 'httpGet', 'port') ?? at(c, 'livenessProbe', 'tcpSocket', 'port')) as string;
      assert.ok(portsOf(sts).has(live), `${sts} liveness port ${live}`);
    }
    assert.equal(at(container('content'), 'livenessProbe', 'httpGet', 'path'), '/healthz');
    const hook = at(container('content'), 'lifecycle', 'preStop', 'exec', 'command') as string[];
    assert.deepEqual(hook, ['tessera-drain-before-stop']);
    const script = readFileSync(join(DEPLOY, 'docker/drain-before-stop.sh'), 'utf8');
    assert.match(script, /tessera drain "\$TESSERA_SERVER_ID" --wait/);
    assert.match(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'), /drain-before-stop\.sh \/usr\/local\/bin\/tessera-drain-before-stop/);
    const timeout = Number((named('ConfigMap', 'tessera-content')['data'] as Env)['TESSERA_DRAIN_TIMEOUT_S']);
    assert.ok(timeout + 10 < (podSpec('content')['terminationGracePeriodSeconds'] as number), 'drain timeout + 10 s fits the grace period');
    const drainUrl = new URL((named('ConfigMap', 'tessera-content')['data'] as Env)['TESSERA_DRAIN_CONTROL_URL'] as string);
    assert.equal(Number(drainUrl.port), portsOf('reception').get('control'));
  });

  test('Services select pods that exist, on ports they listen on; Ingress backends are Services; PDBs select pods', () => {
    const pods = docs
      .filter((d) => ['StatefulSet', 'Deployment'].includes(d['kind'] as string))
      .flatMap((d) => {
        const labels = at(d, 'spec', 'template', 'metadata', 'labels') as Env;
        const ports = new Map(((at(d, 'spec', 'template', 'spec', 'containers', 0, 'ports') as { name: string; containerPort: number }[]) ?? []).map((p) => [p.name, p.containerPort]));
        const replicas = (at(d, 'spec', 'replicas') as number) ?? 1;
        return Array.from({ length: replicas }, (_, i) => ({
          labels: d['kind'] === 'StatefulSet' ? { ...labels, 'statefulset.kubernetes.io/pod-name': `${String(at(d, 'metadata', 'name'))}-${i}` } : labels,
          ports,
        }));
      });
    const matches = (selector: Env, labels: Env): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
    const services = docs.filter((d) => d['kind'] === 'Service');
    for (const s of services) {
      const selected = pods.filter((p) => matches(at(s, 'spec', 'selector') as Env, p.labels));
      const name = String(at(s, 'metadata', 'name'));
      assert.ok(selected.length > 0, `Service ${name} selects no pod`);
      for (const port of at(s, 'spec', 'ports') as { targetPort: string | number }[]) {
        for (const p of selected) assert.ok(typeof port.targetPort === 'number' ? [...p.ports.values()].includes(port.targetPort) : p.ports.has(port.targetPort), `Service ${name} targets ${port.targetPort}`);
      }
    }
    for (const ing of docs.filter((d) => d['kind'] === 'Ingress')) {
      for (const rule of at(ing, 'spec', 'rules') as Obj[]) {
        for (const path of at(rule, 'http', 'paths') as Obj[]) {
          const backend = at(path, 'backend', 'service') as { name: string; port: { number: number } };
          const svc = services.find((s) => at(s, 'metadata', 'name') === backend.name);
          assert.ok(svc, `Ingress backend ${backend.name}`);
          assert.ok((at(svc, 'spec', 'ports') as { port: number }[]).some((p) => p.port === backend.port.number), `${backend.name}:${backend.port.number}`);
          // A content server's host name is its server ID: the ticket URL's host.
          if (backend.name.startsWith('content-')) assert.equal(rule['host'], `${backend.name}.dl.example.com`);
        }
      }
    }
    for (const pdb of docs.filter((d) => d['kind'] === 'PodDisruptionBudget')) {
      assert.ok(pods.some((p) => matches(at(pdb, 'spec', 'selector', 'matchLabels') as Env, p.labels)), `PDB ${String(at(pdb, 'metadata', 'name'))}`);
    }
    const headless = named('Service', 'reception-control');
    assert.equal(at(headless, 'spec', 'clusterIP'), 'None');
    assert.equal(at(headless, 'spec', 'publishNotReadyAddresses'), true);
  });

  test('network policies open exactly the listeners the pods have', () => {
    const reception = new Set(portsOf('reception').values());
    const content = new Set(portsOf('content').values());
    const portsIn = (name: string): number[] => (at(named('NetworkPolicy', name), 'spec', 'ingress') as { ports: { port: number }[] }[]).flatMap((r) => r.ports.map((p) => p.port));
    assert.deepEqual(new Set(portsIn('reception')), reception);
    assert.deepEqual(new Set(portsIn('content')), content);
  });
});

describe('deploy/docker: the image', () => {
  test('the entrypoint reads TESSERA_*_FILE into the variable, leaves TESSERA_SECRET_FILE alone, and fails on an unreadable file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-entrypoint-'));
    try {
      writeFileSync(join(dir, 'db'), 'postgres://u:p@h/d\n');
      const ok = throughEntrypoint({ TESSERA_DATABASE_URL_FILE: join(dir, 'db'), TESSERA_SECRET_FILE: join(dir, 'root'), OTHER_FILE: 'x' });
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(ok.env['TESSERA_DATABASE_URL'], 'postgres://u:p@h/d');
      assert.equal(ok.env['TESSERA_DATABASE_URL_FILE'], undefined);
      assert.equal(ok.env['TESSERA_SECRET_FILE'], join(dir, 'root'));
      assert.equal(ok.env['TESSERA_SECRET'], undefined);
      assert.equal(ok.env['OTHER_FILE'], 'x');
      const bad = throughEntrypoint({ TESSERA_CONTROL_TOKEN_FILE: join(dir, 'missing') });
      assert.equal(bad.status, 64);
      assert.match(bad.stderr, /TESSERA_CONTROL_TOKEN_FILE/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Dockerfile: node:20-bookworm-slim, npm ci --omit=dev, built with tsc; every COPY source exists', () => {
    const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    assert.match(text, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    assert.match(text, /npm ci --omit=dev/);
    assert.match(text, /npx tsc -p tsconfig\.json/);
    for (const m of text.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const parts = (m[1] as string).trim().split(/\s+/);
      for (const source of parts.slice(0, -1)) assert.ok(existsSync(join(REPO, source)), `COPY ${source}`);
    }
    // The build context keeps what the COPY lines need (Dockerfile.dockerignore).
    const ignore = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8');
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/**', 'deploy/docker/**']) assert.ok(ignore.includes(`!${needed}`), needed);
    assert.ok(existsSync(join(dirname(join(DEPLOY, 'Dockerfile')), 'docker/entrypoint.sh')));
  });

  test('make-secrets.mjs keeps existing secrets on a re-run and adds tokens for new servers', () => {
    const out = join(secretsDir, 'cs-1');
    const before = readFileSync(join(out, 'root_secret'), 'utf8');
    const result = spawnSync(process.execPath, [join(DEPLOY, 'make-secrets.mjs'), '--out', out, '--servers', 'cs-1,cs-4'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(join(out, 'root_secret'), 'utf8'), before);
    const root = Buffer.from(before.trim(), 'base64url');
    assert.equal(checkControlToken(root, readFileSync(join(out, 'cs-4_control_token'), 'utf8').trim()), 'cs-4');
    assert.equal(statSync(out).mode & 0o777, 0o700);
    const refused = spawnSync(process.execPath, [join(DEPLOY, 'make-secrets.mjs'), '--out', out, '--servers', 'Bad_Id'], { encoding: 'utf8' });
    assert.equal(refused.status, 2);
  });
});

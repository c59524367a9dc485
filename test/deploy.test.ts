// The deploy files parse, and they set the variables the code actually reads (src/config.ts).
// And they hold up as an operator uses them: no placeholder Secret, probes that do not restart a pod
// waiting for GitLab, memory limits the concurrency follows, the admin port kept off the public one, a hardened unit,
// CI with Redis, the npm cache and both Node versions.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ENV_NAMES } from '../src/config.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const DEPLOY = path.join(ROOT, 'deploy');
const REQUIRED = ['GITLAB_URL', 'GITLAB_TOKEN', 'GITLAB_WEBHOOK_SECRET', 'DATA_DIR'];
/** set for Node or the container, not read by the bot's config */
const NOT_OURS = new Set(['NODE_ENV']);

const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
const yamlFiles = [...walk(DEPLOY).filter((f) => /\.ya?ml$/.test(f)), path.join(ROOT, '.gitlab-ci.yml')];
const docs = (file: string) => {
  const all = parseAllDocuments(fs.readFileSync(file, 'utf8'), { merge: true });
  for (const d of all) expect(d.errors, `${file}: ${d.errors.join('; ')}`).toEqual([]);
  return all.map((d) => d.toJS() as any).filter(Boolean);
};
const read = (rel: string) => fs.readFileSync(path.join(DEPLOY, rel), 'utf8');

/** Env names a compose file sets, per service. */
function composeEnv(file: string): Record<string, string[]> {
  const [doc] = docs(file);
  return Object.fromEntries(Object.entries(doc.services as Record<string, any>).map(([name, s]) => [name, Object.keys(s.environment ?? {})]));
}

const envFileNames = (text: string) => [...text.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]!);
const k8sDocs = () => walk(path.join(DEPLOY, 'k8s')).filter((f) => f.endsWith('.yaml')).flatMap(docs);

/**
 * Env names the k8s manifests provide: the generated Secret's keys (envFrom; its env file is made from
 * deploy/env.example, as the kustomization says) and explicit env entries.
 */
function k8sEnv(): string[] {
  const [kustomization] = docs(path.join(DEPLOY, 'k8s', 'kustomization.yaml'));
  const generator = kustomization.secretGenerator[0];
  const deployment = k8sDocs().find((d) => d.kind === 'Deployment');
  const container = deployment.spec.template.spec.containers[0];
  expect(container.envFrom.map((e: any) => e.secretRef?.name)).toContain(generator.name);
  return [...envFileNames(read('env.example')), ...container.env.map((e: any) => e.name)];
}

const unknown = (names: string[]) => names.filter((n) => !NOT_OURS.has(n) && !ENV_NAMES.includes(n));

describe('deploy files', () => {
  it('every YAML file parses', () => {
    expect(yamlFiles.length).toBeGreaterThanOrEqual(6);
    for (const f of yamlFiles) expect(docs(f).length, f).toBeGreaterThan(0);
  });

  it('compose: the single instance and the scale-out (Redis, one web, two workers) set the variables the config reads, and only those', () => {
    const env = composeEnv(path.join(DEPLOY, 'compose.yaml'));
    const [doc] = docs(path.join(DEPLOY, 'compose.yaml'));
    const byProfile = (p: string) => Object.keys(doc.services).filter((s) => doc.services[s].profiles?.includes(p)).sort();
    expect(byProfile('single')).toEqual(['mr-reviewer']);
    expect(env['mr-reviewer']).toEqual(expect.arrayContaining(REQUIRED));
    expect(unknown(env['mr-reviewer']!)).toEqual([]);

    expect(byProfile('scale')).toEqual(['redis', 'web', 'worker-1', 'worker-2']);
    const scale = env;
    for (const s of ['web', 'worker-1', 'worker-2']) {
      expect(scale[s]).toEqual(expect.arrayContaining([...REQUIRED, 'REDIS_URL', 'MR_REVIEWER_ROLE']));
      expect(unknown(scale[s]!)).toEqual([]);
    }
    expect(doc.services.web.environment.MR_REVIEWER_ROLE).toBe('web');
    expect(doc.services['worker-1'].environment.MR_REVIEWER_ROLE).toBe('worker');
    expect(doc.services['worker-2'].environment.MR_REVIEWER_ROLE).toBe('worker');
  });

  it('compose: memory limits everywhere; only the webhook port is published beyond the host\'s loopback', () => {
    const [doc] = docs(path.join(DEPLOY, 'compose.yaml'));
    for (const [name, s] of Object.entries(doc.services as Record<string, any>)) {
      expect(s.deploy?.resources?.limits?.memory, `${name} memory limit`).toMatch(/^\d+[mg]$/);
      expect(s.environment?.MAX_CONCURRENT_SESSIONS, name).toBeUndefined();
      const published: string[] = s.ports ?? [];
      if (!published.length) continue;
      const env = s.environment;
      expect(env.ADMIN_PORT, name).toBeTruthy();
      expect(env.ADMIN_PORT, name).not.toBe(env.PORT);
      // "host:container" is every interface; "127.0.0.1:host:container" is loopback only
      const open = published.filter((p) => !p.startsWith('127.0.0.1:')).map((p) => p.split(':').at(-1));
      const local = published.filter((p) => p.startsWith('127.0.0.1:')).map((p) => p.split(':').at(-1));
      expect(open, name).toEqual([env.PORT]);
      expect(local, name).toEqual([env.ADMIN_PORT]);
    }
  });

  it('kubernetes: Deployment, Service and PVC, wired together, with the config variables', () => {
    const all = k8sDocs();
    expect(all.map((d) => d.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'PersistentVolumeClaim']));
    const names = k8sEnv();
    expect(names).toEqual(expect.arrayContaining(REQUIRED));
    expect(unknown(names)).toEqual([]);
    const dep = all.find((d) => d.kind === 'Deployment');
    const pvc = all.find((d) => d.kind === 'PersistentVolumeClaim');
    const pod = dep.spec.template.spec;
    expect(pod.volumes[0].persistentVolumeClaim.claimName).toBe(pvc.metadata.name);
    const dataDir = pod.containers[0].env.find((e: any) => e.name === 'DATA_DIR').value;
    expect(pod.containers[0].volumeMounts.map((m: any) => m.mountPath)).toContain(dataDir);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const svc = all.find((d) => d.kind === 'Service');
    expect(svc.spec.selector).toEqual(dep.spec.selector.matchLabels);
  });

  it('kubernetes: `kubectl apply -k` generates the Secret from an uncommitted env file, never from a placeholder', () => {
    const [k] = docs(path.join(DEPLOY, 'k8s', 'kustomization.yaml'));
    const committed = k8sDocs();
    expect(committed.map((d) => d.kind)).not.toContain('Secret');
    // every resource the kustomization lists exists
    for (const r of k.resources) expect(fs.existsSync(path.join(DEPLOY, 'k8s', r)), r).toBe(true);
    expect(k.secretGenerator).toHaveLength(1);
    const envFiles: string[] = k.secretGenerator[0].envs;
    expect(envFiles).toHaveLength(1);
    expect(k.secretGenerator[0].literals).toBeUndefined();
    const ignored = fs.readFileSync(path.join(ROOT, '.gitignore'), 'utf8').split('\n').map((l) => l.trim());
    // gitignore: a pattern without a slash matches the name in any directory
    expect(ignored.some((p) => p === path.basename(envFiles[0]!) || p === `deploy/k8s/${envFiles[0]}`), `${envFiles[0]} is gitignored`).toBe(true);
    expect(read('k8s/kustomization.yaml')).toContain(`cp deploy/env.example deploy/k8s/${envFiles[0]}`);
  });

  it('kubernetes: startup and liveness on /healthz, readiness on /readyz (admin port), concurrency from the memory limit', () => {
    const all = k8sDocs();
    const dep = all.find((d) => d.kind === 'Deployment');
    const c = dep.spec.template.spec.containers[0];
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    const ports = Object.fromEntries(c.ports.map((p: any) => [p.name, String(p.containerPort)]));
    expect(ports.http).toBe(env.PORT);
    expect(ports.admin).toBe(env.ADMIN_PORT);
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    // the startup probe gives the bot a while; liveness then restarts only a process that stopped answering
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(60);
    expect(c.livenessProbe.initialDelaySeconds ?? 0).toBe(0);
    // MAX_CONCURRENT_SESSIONS left unset: the bot derives it from this limit (its cgroup)
    expect(c.resources.limits.memory).toMatch(/^\d+(Gi|Mi)$/);
    expect(env.MAX_CONCURRENT_SESSIONS).toBeUndefined();
    // metrics are scraped on the admin port; the Service carries only the webhook port
    expect(dep.spec.template.metadata.annotations['prometheus.io/port']).toBe(env.ADMIN_PORT);
    const svc = all.find((d) => d.kind === 'Service');
    expect(svc.spec.ports.map((p: any) => p.targetPort)).toEqual(['http']);
  });

  it('Dockerfile: Node 22 slim, production install, non-root, DATA_DIR volume, health check', () => {
    const df = read('Dockerfile');
    expect(df).toMatch(/^FROM node:22-slim$/m);
    expect(df).toContain('npm ci --omit=dev');
    expect(df).toMatch(/apt-get install[^\n]*\bgit\b/);
    expect(df).toMatch(/^USER (?!root)\w+/m);
    expect(df).toMatch(/DATA_DIR=\/data/);
    expect(df).toContain('VOLUME ["/data"]');
    expect(df).toMatch(/^HEALTHCHECK [\s\S]*\/healthz/m);
    expect(df).toContain('bin/mr-reviewer.js", "serve"');
    // tsx runs the TypeScript at run time, so it must survive --omit=dev
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.dependencies.tsx).toBeTruthy();
    const envNames = [...df.matchAll(/^ENV ([\s\S]*?)(?:\n(?!\s))/gm)].flatMap((m) => [...m[1]!.matchAll(/([A-Z_]+)=/g)].map((x) => x[1]!));
    expect(envNames).toEqual(expect.arrayContaining(['DATA_DIR', 'PORT']));
    expect(unknown(envNames)).toEqual([]);
  });

  it('systemd unit: runs serve as its own user with DATA_DIR set, from an env file', () => {
    const unit = read('mr-reviewer.service');
    expect(unit).toMatch(/^ExecStart=.*bin\/mr-reviewer\.js serve$/m);
    expect(unit).toMatch(/^User=(?!root)\S+$/m);
    expect(unit).toMatch(/^EnvironmentFile=/m);
    const envNames = [...unit.matchAll(/^Environment=([A-Z_]+)=/gm)].map((m) => m[1]!);
    expect(envNames).toContain('DATA_DIR');
    expect(unknown(envNames)).toEqual([]);
    const example = read('env.example');
    const exampleNames = [...example.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]!);
    expect(exampleNames).toEqual(expect.arrayContaining(REQUIRED.filter((n) => n !== 'DATA_DIR')));
    expect(unknown(exampleNames)).toEqual([]);
  });

  it('systemd unit: says how to create its user, and is sandboxed to DATA_DIR', () => {
    const unit = read('mr-reviewer.service');
    const user = /^User=(\S+)$/m.exec(unit)![1]!;
    expect(unit).toMatch(new RegExp(`^# +useradd --system .*\\b${user}$`, 'm'));
    const directive = (k: string) => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);
    expect(directive('NoNewPrivileges')).toEqual(['yes']);
    expect(directive('ProtectSystem')).toEqual(['strict']);
    expect(directive('ProtectHome')).toEqual(['yes']);
    expect(directive('PrivateTmp')).toEqual(['yes']);
    expect(directive('CapabilityBoundingSet')).toEqual(['']);
    const dataDir = /^Environment=DATA_DIR=(\S+)$/m.exec(unit)![1]!;
    expect(directive('ReadWritePaths').join(' ').split(/\s+/)).toContain(dataDir);
    // StateDirectory=x is /var/lib/x, created for the service user
    expect(directive('StateDirectory').map((d) => `/var/lib/${d}`)).toContain(dataDir);
    expect(directive('MemoryMax')).toHaveLength(1);
    // V8 needs W+X memory: this directive would make node crash at start
    expect(directive('MemoryDenyWriteExecute')).toEqual([]);
    const envNames = [...unit.matchAll(/^Environment=([A-Z_]+)=/gm)].map((m) => m[1]!);
    expect(envNames).toEqual(expect.arrayContaining(['PORT', 'ADMIN_PORT']));
  });

  it('.gitlab-ci.yml installs, typechecks, lints, tests and builds the image', () => {
    const [ci] = docs(path.join(ROOT, '.gitlab-ci.yml'));
    const scripts = (job: string) => [...(ci[job].before_script ?? ci.default.before_script ?? []), ...ci[job].script].join('\n');
    expect(scripts('install')).toContain('npm ci');
    expect(scripts('typecheck')).toContain('npm run typecheck');
    expect(scripts('lint')).toContain('npm run lint');
    expect(scripts('test')).toContain('npm test');
    expect(scripts('test')).toMatch(/apt-get install[^\n]* git /); // real git; Chromium comes with npm ci
    expect(scripts('build-image')).toContain('docker build -f deploy/Dockerfile');
    for (const job of ['install', 'typecheck', 'lint', 'test', 'build-image']) expect(ci.stages).toContain(ci[job].stage);
  });

  it('.gitlab-ci.yml: tests on Node 20 and 22 with a Redis service; npm cache, no node_modules artifact', () => {
    const [ci] = docs(path.join(ROOT, '.gitlab-ci.yml'));
    const jobs = Object.entries(ci as Record<string, any>).filter(([, j]) => j && typeof j === 'object' && 'script' in j);
    // the cache holds npm's download cache, and every install reads it
    expect(ci.default.cache.paths).toEqual(['.npm/']);
    for (const [name, j] of jobs) {
      expect(JSON.stringify(j.artifacts?.paths ?? []), name).not.toContain('node_modules');
      const installs = [...(j.before_script ?? ci.default.before_script ?? []), ...j.script].filter((l: string) => /\bnpm ci\b/.test(l));
      for (const l of installs) expect(l, name).toContain('npm ci --cache .npm --prefer-offline');
    }
    const test = ci.test;
    const versions = test.parallel.matrix.flatMap((m: Record<string, string[]>) => m.NODE_VERSION);
    expect(versions).toEqual(['20', '22']);
    expect(test.image).toContain('${NODE_VERSION}');
    const redis = test.services.find((s: any) => /^redis:/.test(typeof s === 'string' ? s : s.name));
    expect(redis).toBeTruthy();
    // the tests find Redis at REDIS_URL (default 127.0.0.1:6379, which a service container is not)
    expect(test.variables.REDIS_URL).toBe(`redis://${redis.alias}:6379`);
    expect(fs.readFileSync(path.join(ROOT, 'test', 'redis-queue.test.ts'), 'utf8')).toContain('process.env.REDIS_URL');
    expect(fs.readFileSync(path.join(ROOT, 'test', 'scale.e2e.test.ts'), 'utf8')).toContain('process.env.REDIS_URL');
  });
});

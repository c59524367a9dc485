// Issue 8: the deploy files parse, and they set the variables the code actually reads (src/config.ts).
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

/** Env names the k8s manifests provide: the Secret's keys (envFrom) and explicit env entries. */
function k8sEnv(): string[] {
  const all = walk(path.join(DEPLOY, 'k8s')).filter((f) => f.endsWith('.yaml')).flatMap(docs);
  const secret = all.find((d) => d.kind === 'Secret');
  const deployment = all.find((d) => d.kind === 'Deployment');
  const container = deployment.spec.template.spec.containers[0];
  expect(container.envFrom.map((e: any) => e.secretRef?.name)).toContain(secret.metadata.name);
  return [...Object.keys(secret.stringData), ...container.env.map((e: any) => e.name)];
}

const unknown = (names: string[]) => names.filter((n) => !NOT_OURS.has(n) && !ENV_NAMES.includes(n));

describe('deploy files', () => {
  it('every YAML file parses', () => {
    expect(yamlFiles.length).toBeGreaterThanOrEqual(7);
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

  it('kubernetes: Deployment, Service, Secret and PVC, wired together, with the config variables', () => {
    const all = walk(path.join(DEPLOY, 'k8s')).filter((f) => f.endsWith('.yaml')).flatMap(docs);
    expect(all.map((d) => d.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'Secret', 'PersistentVolumeClaim']));
    const names = k8sEnv();
    expect(names).toEqual(expect.arrayContaining(REQUIRED));
    expect(unknown(names)).toEqual([]);
    const dep = all.find((d) => d.kind === 'Deployment');
    const pvc = all.find((d) => d.kind === 'PersistentVolumeClaim');
    const pod = dep.spec.template.spec;
    expect(pod.volumes[0].persistentVolumeClaim.claimName).toBe(pvc.metadata.name);
    const dataDir = pod.containers[0].env.find((e: any) => e.name === 'DATA_DIR').value;
    expect(pod.containers[0].volumeMounts.map((m: any) => m.mountPath)).toContain(dataDir);
    expect(pod.containers[0].readinessProbe.httpGet.path).toBe('/healthz');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const svc = all.find((d) => d.kind === 'Service');
    expect(svc.spec.selector).toEqual(dep.spec.selector.matchLabels);
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

  it('.gitlab-ci.yml installs, typechecks, lints, tests and builds the image', () => {
    const [ci] = docs(path.join(ROOT, '.gitlab-ci.yml'));
    const scripts = (job: string) => [...(ci[job].before_script ?? []), ...ci[job].script].join('\n');
    expect(scripts('install')).toContain('npm ci');
    expect(scripts('typecheck')).toContain('npm run typecheck');
    expect(scripts('lint')).toContain('npm run lint');
    expect(scripts('test')).toContain('npm test');
    expect(scripts('test')).toContain('chromium');
    expect(scripts('build-image')).toContain('docker build -f deploy/Dockerfile');
    for (const job of ['install', 'typecheck', 'lint', 'test', 'build-image']) expect(ci.stages).toContain(ci[job].stage);
  });
});

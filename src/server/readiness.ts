// Readiness (`/readyz`): can this replica do its work now? GitLab answered at start-up, DATA_DIR is writable, and
// Redis answers a PING when REDIS_URL is set. `/healthz` is liveness only (the process is up and serving), so an
// orchestrator does not restart a bot that is merely waiting for GitLab.
import fs from 'node:fs';
import path from 'node:path';
import type { Hono } from 'hono';
import { within } from '../deadline.js';

export interface DependencyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** Where start-up's GET /user stands; /readyz, the status page and the mr_reviewer_gitlab_up gauge read it. */
export class GitLabStatus {
  private up = false;
  private cause = 'no answer yet';

  /** waiting from start-up until the first answer */
  constructor(readonly url: string, private since = new Date()) {}

  get isUp(): boolean {
    return this.up;
  }

  /** A failed attempt: `since` stays where the wait began, the cause is the latest one. */
  waiting(cause: string, now = new Date()): void {
    if (this.up) this.since = now;
    this.up = false;
    this.cause = cause;
  }

  reachable(now = new Date()): void {
    this.up = true;
    this.since = now;
  }

  /** undefined once GitLab answered; else the sentence an operator needs. */
  get problem(): string | undefined {
    return this.up ? undefined : `waiting for GitLab at ${this.url} since ${this.since.toISOString()}: ${this.cause}`;
  }
}

export interface ReadinessDeps {
  gitlab: GitLabStatus;
  dataDir: string;
  /** Redis mode: a PING (or any round trip) */
  redisPing?: () => Promise<unknown>;
  isShuttingDown?: () => boolean;
  timeoutMs?: number;
}

/** Creates, writes and removes a file in dir; throws what the file system says. */
export function probeWritable(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const probe = path.join(dir, `.probe-${process.pid}-${Date.now()}`);
  fs.writeFileSync(probe, 'ok');
  fs.rmSync(probe);
}


export async function checkReadiness(d: ReadinessDeps): Promise<{ ready: boolean; checks: DependencyCheck[] }> {
  const problem = d.gitlab.problem;
  const checks: DependencyCheck[] = [
    problem ? { name: 'gitlab', ok: false, detail: problem } : { name: 'gitlab', ok: true, detail: `${d.gitlab.url} answered` },
  ];
  try {
    probeWritable(d.dataDir);
    checks.push({ name: 'store', ok: true, detail: `${d.dataDir} is writable` });
  } catch (e) {
    checks.push({ name: 'store', ok: false, detail: `${d.dataDir} is not writable: ${(e as Error).message}` });
  }
  if (d.redisPing) {
    try {
      await within(d.redisPing(), d.timeoutMs ?? 1_000);
      checks.push({ name: 'redis', ok: true, detail: 'PING answered' });
    } catch (e) {
      checks.push({ name: 'redis', ok: false, detail: `PING failed: ${(e as Error).message}` });
    }
  }
  if (d.isShuttingDown?.()) checks.push({ name: 'process', ok: false, detail: 'shutting down' });
  return { ready: checks.every((c) => c.ok), checks };
}

/** GET /readyz: 200 or 503, one line per dependency. */
export function mountReadiness(app: Hono, d: ReadinessDeps): void {
  app.get('/readyz', async (c) => {
    const r = await checkReadiness(d);
    const body = r.checks.map((x) => `${x.ok ? 'ok  ' : 'FAIL'} ${x.name}: ${x.detail}`).join('\n');
    return c.text(`${body}\n`, r.ready ? 200 : 503);
  });
}

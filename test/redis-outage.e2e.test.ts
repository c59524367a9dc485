// A Redis outage in scale-out mode: a web replica and a worker (real processes) on a private
// redis-server that the test kills for longer than ioredis's give-up point (~10 s), then starts again, empty (no
// persistence: what Redis held is Redis's durability, see README). Deliveries that arrive during the outage are
// acknowledged from the web replica's local spool and, once Redis is back, each is reviewed exactly once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_HEADER } from '../src/server/app.js';
import { readMarker } from '../src/gitlab/markers.js';
import { startBotProcess, type BotProcess } from '../standins/bot-process.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';
import { ALICE, BOT, reviewOutput, SECRET, TOKEN } from '../standins/harness.js';
import { startModelStandin, type ModelStandin } from '../standins/model.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** GitLab gives up on a webhook after 10 s (gitlab.md); a replica must answer well inside that even with Redis down. */
const ACK_DEADLINE_MS = 5_000;

let gitlab: GitlabStandin;
let model: ModelStandin;
let redis: RedisServer;
const procs: BotProcess[] = [];
const dirs: string[] = [];

async function replica(role: 'web' | 'worker'): Promise<BotProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `mrr-outage-${role}-`));
  dirs.push(dataDir);
  const p = await startBotProcess({
    gitlab,
    model,
    dataDir,
    env: { MR_REVIEWER_ROLE: role, REDIS_URL: redis.url, REDIS_PREFIX: 'outage', JOB_LOCK_MS: '3000', LOG_LEVEL: 'info' },
  });
  procs.push(p);
  return p;
}

async function waitFor(fn: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

beforeAll(async () => {
  gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  gitlab.addUser(ALICE);
  model = await startModelStandin();
  redis = await startRedisServer();
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill9()));
  await redis?.close();
  await model?.close();
  await gitlab?.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('Redis outage in scale-out mode', () => {
  it('acknowledges deliveries while Redis is down, then reviews each exactly once when it is back', async () => {
    model.setDefault({ structured: reviewOutput([]) });
    const web = await replica('web');
    const worker = await replica('worker');
    const project = await gitlab.createProject('acme/outage', { 'README.md': '# outage\n', 'src/a.js': 'export const a = 1;\n' });
    const mrs: Awaited<ReturnType<GitlabStandin["createMr"]>>[] = [];
    for (let i = 0; i < 3; i++) {
      await gitlab.commit(project, `o${i}`, { [`src/o${i}.js`]: `export const o${i} = ${i};\n` }, `add o${i}`);
      mrs.push(await gitlab.createMr(project, { sourceBranch: `o${i}`, title: `Add o${i}`, authorId: ALICE.id }));
    }

    const killedAt = Date.now();
    await redis.kill();
    const deliver = async (payload: object, idempotencyKey: string) => {
      const started = Date.now();
      const res = await fetch(`${web.url}/webhooks/gitlab`, {
        method: 'POST',
        headers: gitlab.hookHeaders(payload, { token: SECRET, idempotencyKey }),
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(ACK_DEADLINE_MS),
      });
      return { status: res.status, outcome: res.headers.get(OUTCOME_HEADER), ms: Date.now() - started };
    };
    const acks = [];
    for (const [i, mr] of mrs.entries()) acks.push(await deliver(gitlab.mrHook(project, mr.iid, 'open'), `outage-${i}`));
    // GitLab sends the first one again (a manual "Resend"): acknowledged, and not reviewed twice.
    acks.push(await deliver(gitlab.mrHook(project, mrs[0]!.iid, 'open'), 'outage-0'));
    console.log('acknowledgements during the outage (ms):', acks.map((a) => a.ms).join(', '));
    expect(acks.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(acks[3]!.outcome).toBe('duplicate');

    // /metrics answers whatever is down (its queue gauges use the last value they got).
    const metrics = await fetch(`${web.url}/metrics`, { signal: AbortSignal.timeout(ACK_DEADLINE_MS) });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('mr_reviewer_queue_jobs{state="pending"} 3');
    // Liveness is not readiness: the process is alive.
    expect((await fetch(`${web.url}/healthz`)).status).toBe(200);

    // Longer than ioredis's give-up point (20 reconnects, ~10 s), so its MaxRetriesPerRequestError is seen.
    await sleep(Math.max(0, 16_000 - (Date.now() - killedAt)));
    expect(model.requests).toHaveLength(0);
    await redis.restart();

    const summaries = (iid: number) => gitlab.notes(project, iid).filter((n) => readMarker(n.body)?.kind === 'summary');
    await waitFor(() => mrs.every((mr) => summaries(mr.iid).length > 0), 120_000, 'a review of every MR delivered during the outage');
    await web.waitForLog((l) => l.msg === 'spooled delivery forwarded to redis' && l.orderKey === `mr:${project.id}:${mrs[2]!.iid}`, 30_000, 'the last forward');
    // Nothing else is on its way: the worker's queue is empty.
    await waitFor(() => worker.logs.filter((l) => l.msg === 'job started').length >= 3, 30_000, 'three jobs');
    for (const mr of mrs) expect(summaries(mr.iid)).toHaveLength(1);
    expect(model.requests).toHaveLength(3);
    expect(web.logs.filter((l) => l.msg === 'redis unreachable: delivery spooled locally')).toHaveLength(3);
    // In the order GitLab sent them.
    const forwarded = web.logs.filter((l) => l.msg === 'spooled delivery forwarded to redis').map((l) => l.orderKey);
    expect(forwarded).toEqual(mrs.map((mr) => `mr:${project.id}:${mr.iid}`));
    expect(worker.logs.filter((l) => l.msg === 'job started')).toHaveLength(3);
  }, 240_000);
});

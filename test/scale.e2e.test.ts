// With real processes on the real Redis: one web replica and two workers (`node bin/mr-reviewer.js
// serve`), each worker with its own DATA_DIR, so nothing but Redis is shared. The stand-ins run in this process.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { RedisQueue } from '../src/jobs/redis-queue.js';
import { redisStore } from '../src/store/redis.js';
import { startBotProcess, type BotProcess } from '../standins/bot-process.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';
import { ALICE, BOT, finding, reviewOutput, sampleMr, TOKEN, type Harness } from '../standins/harness.js';
import { startModelStandin, type ModelStandin } from '../standins/model.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `mrr-e2e-${randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let gitlab: GitlabStandin;
const running = new Set<BotProcess>();
const models: ModelStandin[] = [];
const dirs: string[] = [];

async function model(): Promise<ModelStandin> {
  const m = await startModelStandin();
  models.push(m);
  return m;
}

function dataDir(name: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `mrr-scale-${name}-`));
  dirs.push(d);
  return d;
}

/** One replica; every test has its own Redis prefix, so the replicas of one test see only each other. */
async function replica(role: 'web' | 'worker', o: { model: ModelStandin; dataDir: string; prefix: string }): Promise<BotProcess> {
  const p = await startBotProcess({
    gitlab,
    model: o.model,
    dataDir: o.dataDir,
    env: { MR_REVIEWER_ROLE: role, REDIS_URL, REDIS_PREFIX: o.prefix, JOB_LOCK_MS: '3000', SHUTDOWN_DEADLINE_MS: '10000', LOG_LEVEL: 'info' },
  });
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const jobsRan = (p: BotProcess, kind?: string) => p.logs.filter((l) => l.msg === 'job started' && (!kind || l.kind === kind)).length;
const summaries = (project: { id: number }, iid: number) => gitlab.notes(project as never, iid).filter((n) => readMarker(n.body)?.kind === 'summary');

beforeAll(async () => {
  gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  gitlab.addUser(ALICE);
});

afterEach(async () => {
  await Promise.all([...running].map((p) => p.kill9()));
});

afterAll(async () => {
  for (const m of models) await m.close();
  await gitlab?.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${PREFIX}*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
});

describe('scale-out on Redis', () => {
  it('moves an MR\'s sessions between workers: the trunk on worker 1, a thread on worker 2, a follow-up on worker 1 without its local files', async () => {
    const prefix = `${PREFIX}-move`;
    const m = await model();
    const d1 = dataDir('w1');
    const d2 = dataDir('w2');
    const web = await replica('web', { model: m, dataDir: dataDir('web'), prefix });
    let w1 = await replica('worker', { model: m, dataDir: d1, prefix });
    // A worker does not take webhooks.
    expect((await w1.send({ object_kind: 'merge_request' })).status).toBe(404);

    const { project, mr } = await sampleMr({ gitlab } as unknown as Harness, { path: 'acme/move' });
    m.script({ structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero PAPAYA' })]) });
    expect((await web.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(() => summaries(project, mr.iid).length === 1, 300_000, 'the trunk review');
    expect(jobsRan(w1, 'review')).toBe(1);
    expect(jobsRan(web)).toBe(0);
    const trunkRequest = m.requests.at(-1)!;
    const store = redisStore(REDIS_URL, prefix);
    const rec = await store.getMr(project.id, mr.iid);
    expect(rec?.trunkSessionId).toBe(trunkRequest.headers['x-claude-code-session-id']);

    // Worker 1 goes away; worker 2, which never saw this project, answers the thread.
    await w1.term();
    const w2 = await replica('worker', { model: m, dataDir: d2, prefix });
    const thread = gitlab.discussions(project, mr.iid).find((d) => d.notes.some((n) => n.body.includes('PAPAYA')))!;
    m.script({ structured: { reply: 'Because b can be zero: MANGO-ONE.', verdict: 'answered' } });
    const q1 = gitlab.addNote(project, mr.iid, ALICE.id, '@review-bot why does this matter? KIWI-ONE', { discussionId: thread.id });
    expect((await web.send(gitlab.noteHook(project, mr.iid, q1.note, q1.discussion))).status).toBe(200);
    await waitFor(() => gitlab.discussions(project, mr.iid).find((d) => d.id === thread.id)!.notes.some((n) => n.body.includes('MANGO-ONE')), 300_000, 'the first answer');
    expect(jobsRan(w2, 'reply')).toBe(1);
    const forkRequest = m.requests.at(-1)!;
    // The fork carries the trunk's conversation: its review prompt (the diff) and its answer.
    expect(forkRequest.text).toContain('## File: src/math.js');
    expect(forkRequest.text).toContain('Division by zero PAPAYA');
    expect(forkRequest.text).toContain('KIWI-ONE');
    expect(w2.logs.some((l) => l.msg === 'session restored from redis' && l.sessionId === rec!.trunkSessionId)).toBe(true);
    const t = await store.getThread(project.id, mr.iid, thread.id);
    expect(t?.forkSessionId).toBe(forkRequest.headers['x-claude-code-session-id']);

    // Worker 2 goes away; worker 1 comes back with its session files gone and resumes the thread.
    await w2.term();
    fs.rmSync(path.join(d1, 'claude', 'projects'), { recursive: true, force: true });
    w1 = await replica('worker', { model: m, dataDir: d1, prefix });
    m.script({ structured: { reply: 'Negative numbers are fine: MANGO-TWO.', verdict: 'answered' } });
    const q2 = gitlab.addNote(project, mr.iid, ALICE.id, 'and negative numbers? KIWI-TWO', { discussionId: thread.id });
    expect((await web.send(gitlab.noteHook(project, mr.iid, q2.note, q2.discussion))).status).toBe(200);
    await waitFor(() => gitlab.discussions(project, mr.iid).find((d) => d.id === thread.id)!.notes.some((n) => n.body.includes('MANGO-TWO')), 300_000, 'the second answer');
    expect(jobsRan(w1, 'reply')).toBe(1);
    const followUp = m.requests.at(-1)!;
    expect(followUp.headers['x-claude-code-session-id']).toBe(t!.forkSessionId);
    for (const s of ['## File: src/math.js', 'KIWI-ONE', 'MANGO-ONE', 'KIWI-TWO']) expect(followUp.text).toContain(s);
    expect(w1.logs.some((l) => l.msg === 'session restored from redis' && l.sessionId === t!.forkSessionId)).toBe(true);
    await store.close();
  });

  it('a worker killed with SIGKILL mid-review: the other finishes the job, and the MR gets one set of comments', async () => {
    const prefix = `${PREFIX}-kill`;
    const [mA, mB] = [await model(), await model()];
    const web = await replica('web', { model: mA, dataDir: dataDir('web'), prefix });
    const wA = await replica('worker', { model: mA, dataDir: dataDir('wa'), prefix });
    const wB = await replica('worker', { model: mB, dataDir: dataDir('wb'), prefix });
    const out = reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' })]);
    mA.setDefault({ structured: out });
    mB.setDefault({ structured: out });
    const releases = [mA.hold(), mB.hold()];

    const { project, mr } = await sampleMr({ gitlab } as unknown as Harness, { path: 'acme/kill' });
    expect((await web.send(gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(() => mA.requests.length + mB.requests.length > 0, 300_000, 'the review to reach the model');
    const [victim, survivor, survivorModel] = mA.requests.length ? [wA, wB, mB] : [wB, wA, mA];
    expect((await victim.kill9()).signal).toBe('SIGKILL');
    for (const r of releases) r();

    await waitFor(() => summaries(project, mr.iid).length > 0, 300_000, 'the survivor to finish the review');
    const drained = new RedisQueue({ redis: new Redis(REDIS_URL), prefix, concurrency: 1, policy: { maxAttempts: 1, delayFor: () => null } });
    await drained.drained(30_000);
    await drained.close();
    expect(survivorModel.requests).toHaveLength(1);
    expect(survivor.logs.filter((l) => l.msg === 'job started').map((l) => l.attempt)).toEqual([2]);
    expect(summaries(project, mr.iid)).toHaveLength(1);
    const findings = gitlab.notes(project, mr.iid).filter((n) => readMarker(n.body)?.kind === 'finding');
    expect(findings).toHaveLength(1);
  });

  it('a burst of MRs opened at once across two workers: each reviewed once, at most MAX_CONCURRENT_SESSIONS CLI processes per worker', async () => {
    const prefix = `${PREFIX}-burst`;
    // Sized to prove the properties, not to load the machine: more MRs than the two workers' four slots, so both
    // workers take several and every slot is contended. (50 took ~105 s on two cores and timed out when busy.)
    const N = 12;
    const LIMIT = 2; // MAX_CONCURRENT_SESSIONS (bot-process default)
    // One model stand-in per worker: its requests in flight are that worker's running CLI processes. A request is held
    // until a second one reaches the same worker (then a short grace, so a third would be seen) or a few seconds pass:
    // overlap is produced by the condition, not by the machine's speed.
    const load = [0, 0];
    const peak = [0, 0];
    const wake: (() => void)[][] = [[], []];
    const [mA, mB] = [await model(), await model()];
    [mA, mB].forEach((m, i) =>
      m.respond(async () => {
        load[i]!++;
        peak[i] = Math.max(peak[i]!, load[i]!);
        if (load[i]! >= LIMIT) {
          await sleep(250);
          for (const w of wake[i]!.splice(0)) w();
        } else {
          await new Promise<void>((r) => {
            wake[i]!.push(r);
            setTimeout(r, 3_000);
          });
        }
        load[i]!--;
        return { structured: reviewOutput([]) };
      }),
    );
    const web = await replica('web', { model: mA, dataDir: dataDir('web'), prefix });
    await replica('worker', { model: mA, dataDir: dataDir('wa'), prefix });
    await replica('worker', { model: mB, dataDir: dataDir('wb'), prefix });

    const project = await gitlab.createProject('acme/burst', { 'README.md': '# burst\n', 'src/a.js': 'export const a = 1;\n' });
    const mrs: Awaited<ReturnType<GitlabStandin["createMr"]>>[] = [];
    for (let i = 0; i < N; i++) {
      await gitlab.commit(project, `f${i}`, { [`src/f${i}.js`]: `export const f${i} = ${i};\n` }, `add f${i}`);
      mrs.push(await gitlab.createMr(project, { sourceBranch: `f${i}`, title: `Add f${i}`, authorId: ALICE.id }));
    }
    const answers = await Promise.all(mrs.map((mr) => web.send(gitlab.mrHook(project, mr.iid, 'open'))));
    expect(answers.map((a) => a.status)).toEqual(mrs.map(() => 200));

    // Generous bounds: they only turn a hang into a readable failure, the test does not race them.
    await waitFor(() => mrs.every((mr) => summaries(project, mr.iid).length > 0), 600_000, 'all reviews');
    const q = new RedisQueue({ redis: new Redis(REDIS_URL), prefix, concurrency: 1, policy: { maxAttempts: 1, delayFor: () => null } });
    await q.drained(120_000);
    expect(await q.stats()).toMatchObject({ pending: 0, running: 0, failed: 0 });
    await q.close();

    for (const mr of mrs) expect(summaries(project, mr.iid)).toHaveLength(1);
    const sessions = [...mA.requests, ...mB.requests].map((r) => r.headers['x-claude-code-session-id']);
    expect(sessions).toHaveLength(N);
    expect(new Set(sessions).size).toBe(N);
    expect(mA.requests.length).toBeGreaterThan(0);
    expect(mB.requests.length).toBeGreaterThan(0);
    expect(Math.max(...peak)).toBeLessThanOrEqual(LIMIT);
    expect(Math.max(...peak)).toBe(LIMIT); // the measure sees overlap: the limit was actually exercised
  }, 900_000);
});

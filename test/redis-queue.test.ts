// What only the Redis queue has, against the real Redis on this machine: a lane whose holder (a real process) is
// killed, session locks across replicas, a Redis outage. What both queues promise is in queue-contract.test.ts.
// Each test has its own key prefix and deletes its keys.
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisQueue } from '../src/jobs/redis-queue.js';
import { AwaitJob, type Job, type JobSpec } from '../src/jobs/queue.js';
import { backoffPolicy } from '../src/jobs/retry.js';
import { startRedisServer } from './support/redis-server.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = path.resolve(import.meta.dirname, '..');
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(opts: { lockMs?: number } = {}) {
  const prefix = `mrrtest-${randomUUID().slice(0, 8)}`;
  const conns: Redis[] = [];
  const queues: RedisQueue[] = [];
  const events = { retries: [] as { attempt: number; delayMs: number }[], dead: [] as Job[] };
  const make = (o: { maxAttempts?: number } = {}) => {
    const redis = new Redis(REDIS_URL);
    conns.push(redis);
    const q = new RedisQueue({
      redis,
      prefix,
      concurrency: 4,
      policy: backoffPolicy({ baseMs: 20, maxAttempts: o.maxAttempts ?? 3 }),
      lockMs: opts.lockMs ?? 2_000,
      laneWaitMs: 50,
      sweepMs: 500,
      parkMs: 60_000, // a parked job's own timer is out of these tests' reach: only a wake-up or the sweeper moves it
      events: {
        onRetry: (job, _e, delayMs) => events.retries.push({ attempt: job.attempt, delayMs }),
        onDead: (job) => void events.dead.push(job),
      },
    });
    queues.push(q);
    return q;
  };
  cleanups.push(async () => {
    for (const q of queues) await q.close();
    const r = conns[0] ?? new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length) await r.del(...keys);
    for (const c of new Set([...conns, r])) c.disconnect();
  });
  return { make, prefix, events };
}

const spec = (orderKey: string, n: number, dedupeKeys: string[] = []): JobSpec => ({ kind: 'review', orderKey, dedupeKeys, data: { n } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RedisQueue: a killed replica', () => {
  it('a killed holder\'s lane lock expires: another instance finishes its job, then the next of the lane', async () => {
    const { make, prefix } = setup({ lockMs: 1_500 });
    const b = make();
    // The holder is a real process killed with SIGKILL: no release, no renewal, BullMQ's lock left behind.
    const child = execa('node', ['--import', 'tsx', '--input-type=module', '-e', `
      import { Redis } from 'ioredis';
      import { RedisQueue } from './src/jobs/redis-queue.ts';
      const q = new RedisQueue({ redis: new Redis(${JSON.stringify(REDIS_URL)}), prefix: ${JSON.stringify(prefix)}, concurrency: 1,
        policy: { maxAttempts: 3, delayFor: () => 10 }, lockMs: 1500, laneWaitMs: 50 });
      q.start(async (job) => { console.log('started ' + job.data.n); await new Promise(() => {}); });
    `], { cwd: ROOT, reject: false, buffer: false });
    const started = new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('started 1') && resolve()));
    await b.enqueue(spec('mr:9', 1));
    await b.enqueue(spec('mr:9', 2));
    await started;
    const runs: string[] = [];
    b.start(async (job) => void runs.push(`${(job.data as { n: number }).n}@${job.attempt}`));
    await sleep(300);
    expect(runs).toEqual([]); // the lane is held: job 2 must not overtake job 1
    child.kill('SIGKILL');
    await child;
    await waitUntil(() => runs.length === 2, 20_000);
    expect(runs).toEqual(['1@2', '2@1']);
    await b.drained(5_000);
  });
});

describe('RedisQueue: dependent jobs', () => {
  it('a waiter whose wake-up was lost (a crash between the finish and the promote) is woken by the sweeper', async () => {
    const { make, prefix } = setup();
    const q = make();
    const r = new Redis(REDIS_URL);
    cleanups.push(async () => void r.disconnect());
    const log: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((res) => (release = res));
    q.start(async (job, ctx) => {
      const n = (job.data as { n: number }).n;
      log.push(`${n}/${ctx.waited}`);
      if (n === 2) await held;
      if (n === 1 && ctx.waited === 0) throw new AwaitJob(spec('mr:1', 2, ['trunk:1']));
    });
    await q.enqueue(spec('thread:1', 1));
    await waitUntil(() => log.includes('2/0'));
    // The dependency runs; its list of waiters is lost, as if the process died after FINISH and before the promote.
    const waiters = await r.keys(`${prefix}:jobs:mrr:waiters:*`);
    expect(waiters).toHaveLength(1);
    await r.del(...waiters);
    release();
    await waitUntil(() => log.includes('1/1'), 10_000);
    await q.drained(10_000);
    expect(log).toEqual(['1/0', '2/0', '1/1']);
  });
});

async function waitUntil(fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(20);
  }
}

describe('RedisQueue during a Redis outage', () => {
  it('a job whose work finished while Redis was down is finished once it is back: not failed, not run again', async () => {
    // A private Redis with an append-only file synced on every write, so its restart keeps the queue's state.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-aof-'));
    const server = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] });
    // ioredis gives a queued command up with MaxRetriesPerRequestError after this many reconnects (20 by default,
    // ~10 s and more; 1 here so that the test is short).
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    const dead: Job[] = [];
    const done: Job[] = [];
    const errors: string[] = [];
    const q = new RedisQueue({
      redis,
      prefix: 'outage',
      concurrency: 1,
      policy: backoffPolicy({ baseMs: 20, maxAttempts: 3 }),
      lockMs: 3_000,
      laneWaitMs: 50,
      sweepMs: 500,
      events: { onDead: (j) => void dead.push(j), onDone: (j) => void done.push(j) },
      onError: (_e, where) => errors.push(where),
    });
    cleanups.push(async () => {
      await q.close();
      redis.disconnect();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const runs: number[] = [];
    let outageOver!: () => void;
    const redisDown = new Promise<void>((r) => (outageOver = r));
    q.start(async (job) => {
      runs.push(job.attempt);
      if (runs.length === 1) await redisDown; // the CLI's answer arrives while Redis is down
    });
    await q.enqueue(spec('mr:1', 1, ['delivery:1']));
    await waitUntil(() => runs.length === 1);
    await server.kill();
    await waitUntil(() => redis.status !== 'ready');
    await sleep(2_000);
    outageOver();
    // The finish met the outage (retried by the queue; without that, the job would now be dead).
    await waitUntil(() => dead.length > 0 || errors.some((w) => w.startsWith('redis command')), 20_000);
    await server.restart();
    await waitUntil(() => done.length === 1, 30_000);
    await q.drained(20_000);
    expect(runs).toEqual([1]);
    expect(dead).toEqual([]);
    expect((await q.stats()).failed).toBe(0);
  }, 60_000);
});

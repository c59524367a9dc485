// The Redis queue against the real Redis on this machine: dedupe, per-key order across two instances, retries,
// and a lane whose holder is killed. Each test has its own key prefix and deletes its keys.
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisQueue } from '../src/jobs/redis-queue.js';
import type { Job, JobHandler, JobSpec } from '../src/jobs/queue.js';
import { backoffPolicy, PermanentError } from '../src/jobs/retry.js';
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

describe('RedisQueue', () => {
  it('dedupes atomically: all of a job\'s keys are checked and set together, across instances', async () => {
    const { make } = setup();
    const a = make();
    const b = make();
    const first = await a.enqueue(spec('k', 1, ['delivery:1', 'head:x']));
    expect(first.duplicate).toBe(false);
    // one key seen before: a duplicate, and its other key is not remembered
    const dup = await b.enqueue(spec('k', 2, ['delivery:2', 'head:x']));
    expect(dup).toEqual({ duplicate: true, key: 'head:x', id: first.id });
    expect((await a.enqueue(spec('k', 3, ['delivery:2']))).duplicate).toBe(false);
    // a delivery raced on two replicas is accepted once
    const raced = await Promise.all([a, b, a, b].map((q) => q.enqueue(spec('k', 4, ['delivery:race']))));
    expect(raced.filter((r) => !r.duplicate)).toHaveLength(1);
    expect((await a.stats()).pending).toBe(3);
  });

  it('runs one job per order key at a time, in arrival order, across two instances', async () => {
    const { make } = setup();
    const a = make();
    const b = make();
    const log: { key: string; n: number; by: string }[] = [];
    const active = new Map<string, number>();
    let overlap = 0;
    const handler = (by: string): JobHandler => async (job) => {
      const n = (active.get(job.orderKey) ?? 0) + 1;
      active.set(job.orderKey, n);
      if (n > 1) overlap++;
      log.push({ key: job.orderKey, n: (job.data as { n: number }).n, by });
      await sleep(30);
      active.set(job.orderKey, active.get(job.orderKey)! - 1);
    };
    for (let i = 0; i < 8; i++) {
      await a.enqueue(spec('lane:1', i));
      await b.enqueue(spec('lane:2', i));
    }
    a.start(handler('a'));
    b.start(handler('b'));
    await a.drained(30_000);
    await b.drained(30_000);
    expect(overlap).toBe(0);
    for (const key of ['lane:1', 'lane:2']) expect(log.filter((l) => l.key === key).map((l) => l.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(log.map((l) => l.by))).toEqual(new Set(['a', 'b']));
  });

  it('starts a job no earlier than its notBefore (the per-project rate limit); its lane waits, other lanes do not', async () => {
    const { make } = setup();
    const q = make();
    const done: number[] = [];
    const started: Record<number, number> = {};
    q.start(async (job) => {
      const n = (job.data as { n: number }).n;
      started[n] = Date.now();
      done.push(n);
    });
    const notBefore = Date.now() + 500;
    await q.enqueue({ ...spec('lane:a', 1), notBefore });
    await q.enqueue(spec('lane:a', 2));
    await q.enqueue(spec('lane:b', 3));
    await q.drained(30_000);
    expect(done.indexOf(3)).toBeLessThan(done.indexOf(1));
    expect(done.indexOf(1)).toBeLessThan(done.indexOf(2));
    expect(started[1]).toBeGreaterThanOrEqual(notBefore);
  });

  it('retries transient errors with backoff and Retry-After, keeps the lane, and gives up after the last try', async () => {
    const { make, events } = setup();
    const q = make({ maxAttempts: 3 });
    const runs: string[] = [];
    q.start(async (job) => {
      const n = (job.data as { n: number }).n;
      runs.push(`${n}@${job.attempt}`);
      if (n === 1 && job.attempt < 3) throw Object.assign(new Error('503'), { transient: true, retryAfterMs: job.attempt === 1 ? 300 : undefined });
      if (n === 2) throw new PermanentError('404 project gone');
      if (n === 3) throw Object.assign(new Error('still down'), { transient: true });
    });
    await q.enqueue(spec('mr:1', 1));
    await q.enqueue(spec('mr:1', 2));
    await q.enqueue(spec('mr:1', 3));
    await q.enqueue(spec('mr:1', 4));
    await waitUntil(() => runs.includes('4@1'));
    await q.drained(10_000);
    // order held through the retries: 1 three times, 2 once (permanent), 3 three times (then dead), then 4
    expect(runs).toEqual(['1@1', '1@2', '1@3', '2@1', '3@1', '3@2', '3@3', '4@1']);
    expect(events.retries[0]!.delayMs).toBeGreaterThanOrEqual(300);
    expect(events.retries.map((r) => r.attempt)).toEqual([1, 2, 1, 2]);
    expect(events.dead.map((j) => [(j.data as { n: number }).n, j.attempt])).toEqual([[2, 1], [3, 3]]);
    expect((await q.stats()).failed).toBe(2);
  });

  it('releases the dedupe keys of a job that failed for good, so a resend runs again', async () => {
    const { make, events } = setup();
    const q = make({ maxAttempts: 1 });
    const runs: number[] = [];
    q.start(async (job) => {
      const n = (job.data as { n: number }).n;
      runs.push(n);
      if (n === 1) throw new PermanentError('403');
    });
    await q.enqueue(spec('mr:1', 1, ['delivery:A', 'head:x']));
    await q.enqueue(spec('mr:2', 2, ['delivery:B']));
    await waitUntil(() => events.dead.length === 1 && runs.includes(2));
    await q.drained(10_000);
    expect((await q.enqueue(spec('mr:2', 2, ['delivery:B']))).duplicate).toBe(true);
    expect((await q.enqueue(spec('mr:1', 3, ['delivery:A', 'head:x']))).duplicate).toBe(false);
    await waitUntil(() => runs.includes(3));
  });

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

// The Queue contract, run against both backends: the embedded SQLite queue and the Redis (BullMQ) one. Each case
// gets fresh storage (a temp file, a unique Redis prefix); queues opened by one case share it, as a restarted
// process or a second replica would. "crash" leaves a running job as a killed process does: not settled, not stopped.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { AwaitJob, type Job, type JobContext, type JobSpec, type Queue, type QueueEvents } from '../src/jobs/queue.js';
import { RedisQueue } from '../src/jobs/redis-queue.js';
import { backoffPolicy, PermanentError, type RetrySettings } from '../src/jobs/retry.js';
import { SqliteQueue } from '../src/jobs/sqlite-queue.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Opts extends Partial<RetrySettings> {
  concurrency?: number;
  events?: QueueEvents;
  dedupeTtlMs?: number;
}
interface Fixture {
  open(o?: Opts): Queue;
  crash(q: Queue): Promise<void>;
}
/** replicas: several instances may run jobs from one storage at once (Redis); SQLite is one process per DATA_DIR. */
type Backend = { name: string; replicas: boolean; fixture(): Fixture };

const policy = (o: Opts) => backoffPolicy({ baseMs: 10, maxAttempts: 3, ...o, random: o.random });

const sqlite: Backend = {
  name: 'SQLite',
  replicas: false,
  fixture() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-contract-'));
    const file = path.join(dir, 'queue.sqlite');
    const open: Queue[] = [];
    cleanups.push(async () => {
      for (const q of open) await q.close().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    return {
      open: (o = {}) => {
        const q = new SqliteQueue({ file, concurrency: o.concurrency ?? 4, policy: policy(o), events: o.events, dedupeTtlMs: o.dedupeTtlMs, pollMs: 20 });
        open.push(q);
        return q;
      },
      crash: (q) => q.close(),
    };
  },
};

const redis: Backend = {
  name: 'Redis',
  replicas: true,
  fixture() {
    const prefix = `mrrtest-${randomUUID().slice(0, 8)}`;
    const made: { q: Queue; conn: Redis }[] = [];
    cleanups.push(async () => {
      for (const m of made) await m.q.close().catch(() => undefined);
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${prefix}:*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
      for (const m of made) m.conn.disconnect();
    });
    return {
      open: (o = {}) => {
        const conn = new Redis(REDIS_URL);
        conn.on('error', () => undefined);
        const q = new RedisQueue({
          redis: conn, prefix, concurrency: o.concurrency ?? 4, policy: policy(o), events: o.events, dedupeTtlMs: o.dedupeTtlMs,
          lockMs: 1_000, laneWaitMs: 30, sweepMs: 200, parkMs: 2_000,
        });
        made.push({ q, conn });
        return q;
      },
      crash: async (q) => {
        await q.close();
        made.find((m) => m.q === q)?.conn.disconnect(); // no renewal reaches Redis any more: the locks expire
      },
    };
  },
};

const spec = (orderKey: string, dedupeKeys: string[] = [], data: Record<string, unknown> = {}): JobSpec => ({ kind: 'review', orderKey, dedupeKeys, data });
const name = (job: Job) => (job.data as { name?: string }).name ?? '';
const transient = (message = 'GitLab 502', retryAfterMs?: number) => Object.assign(new Error(message), { transient: true, retryAfterMs });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const forever = () => new Promise<void>(() => undefined);
/** Starts `q` with a handler that never returns; answers whether a job has started in it. */
function stuckIn(q: Queue): () => boolean {
  let started = false;
  q.start(() => {
    started = true;
    return forever();
  });
  return () => started;
}

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

async function until(fn: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe.each([sqlite, redis])('Queue contract: $name', (backend) => {
  describe('enqueue and dedupe', () => {
    it('a job is a duplicate if any of its keys was seen: the key and the first job are named, the other keys not remembered', async () => {
      const q = backend.fixture().open();
      const a = await q.enqueue(spec('mr:1', ['delivery:A', 'head:1:abc']));
      expect(a.duplicate).toBe(false);
      expect(await q.enqueue(spec('mr:1', ['delivery:B', 'head:1:abc']))).toEqual({ duplicate: true, key: 'head:1:abc', id: a.id });
      expect(await q.enqueue(spec('mr:1', ['delivery:A']))).toMatchObject({ duplicate: true, key: 'delivery:A', id: a.id });
      expect((await q.enqueue(spec('mr:1', ['delivery:B']))).duplicate).toBe(false);
      expect((await q.stats()).pending).toBe(2);
    });

    it('accepts one of many concurrent enqueues of one delivery, across two instances', async () => {
      const f = backend.fixture();
      const qs = [f.open(), f.open()];
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => qs[i % 2]!.enqueue(spec('k', ['delivery:same']))));
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect((await qs[0]!.stats()).pending).toBe(1);
    });

    it('forgets dedupe keys after their time to live', async () => {
      const q = backend.fixture().open({ dedupeTtlMs: 1_000 });
      expect((await q.enqueue(spec('k', ['delivery:X']))).duplicate).toBe(false);
      expect((await q.enqueue(spec('k', ['delivery:X']))).duplicate).toBe(true);
      await sleep(1_100);
      expect((await q.enqueue(spec('k', ['delivery:X']))).duplicate).toBe(false);
    });
  });

  describe('lanes', () => {
    it('runs the jobs of one order key one at a time, in arrival order (across replicas where it has them)', async () => {
      const f = backend.fixture();
      const qs = backend.replicas ? [f.open({ concurrency: 3 }), f.open({ concurrency: 3 })] : [f.open({ concurrency: 3 })];
      const log: string[] = [];
      const active = new Map<string, number>();
      let overlap = 0;
      for (let i = 0; i < 6; i++) {
        await qs[0]!.enqueue(spec('lane:1', [], { name: `1.${i}` }));
        await qs.at(-1)!.enqueue(spec('lane:2', [], { name: `2.${i}` }));
      }
      for (const q of qs) {
        q.start(async (job) => {
          const n = (active.get(job.orderKey) ?? 0) + 1;
          active.set(job.orderKey, n);
          if (n > 1) overlap++;
          log.push(name(job));
          await sleep(5 + Math.random() * 20);
          active.set(job.orderKey, active.get(job.orderKey)! - 1);
        });
      }
      for (const q of qs) await q.drained(30_000);
      expect(overlap).toBe(0);
      for (const lane of ['1', '2']) expect(log.filter((l) => l.startsWith(`${lane}.`))).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${lane}.${i}`));
    });

    it('never runs more jobs at once than its concurrency', async () => {
      const q = backend.fixture().open({ concurrency: 2 });
      const g = gate();
      const started: string[] = [];
      let running = 0;
      let peak = 0;
      q.start(async (job) => {
        started.push(job.orderKey);
        peak = Math.max(peak, ++running);
        await g.promise;
        running--;
      });
      for (let i = 0; i < 5; i++) await q.enqueue(spec(`mr:${i}`));
      await until(() => started.length === 2, 'two jobs running');
      await sleep(150); // time for a third to start, if the limit were broken
      expect(started).toHaveLength(2);
      g.open();
      await q.drained(20_000);
      expect(peak).toBe(2);
      expect(started).toHaveLength(5);
    });

    it('starts a job no earlier than its notBefore; its lane waits behind it, other lanes do not', async () => {
      const q = backend.fixture().open({ concurrency: 2 });
      const started: Record<string, number> = {};
      const done: string[] = [];
      q.start(async (job) => {
        started[name(job)] = Date.now();
        done.push(name(job));
      });
      const notBefore = Date.now() + 400;
      await q.enqueue({ ...spec('A', [], { name: 'a1' }), notBefore });
      await q.enqueue(spec('A', [], { name: 'a2' }));
      await q.enqueue(spec('B', [], { name: 'b1' }));
      await q.drained(20_000);
      expect(done).toEqual(['b1', 'a1', 'a2']);
      expect(started.a1).toBeGreaterThanOrEqual(notBefore);
    });
  });

  describe('retries', () => {
    it('retries transient failures with growing, jittered delays, in place: the lane waits, other lanes pass', async () => {
      const retries: { attempt: number; delay: number }[] = [];
      const q = backend.fixture().open({ maxAttempts: 5, baseMs: 40, events: { onRetry: (job, _e, delay) => void retries.push({ attempt: job.attempt, delay }) } });
      const runs: string[] = [];
      const at: number[] = [];
      await q.enqueue(spec('A', [], { name: 'a1' }));
      await q.enqueue(spec('A', [], { name: 'a2' }));
      await q.enqueue(spec('B', [], { name: 'b1' }));
      q.start(async (job) => {
        runs.push(`${name(job)}#${job.attempt}`);
        if (name(job) === 'a1') {
          at.push(Date.now());
          if (job.attempt < 3) throw transient();
        }
      });
      await q.drained(20_000);
      expect(runs.filter((r) => r.startsWith('a'))).toEqual(['a1#1', 'a1#2', 'a1#3', 'a2#1']);
      expect(runs.indexOf('b1#1')).toBeLessThan(runs.indexOf('a1#3'));
      expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
      // jitter over the upper half: attempt n waits between base·2^(n-1)/2 and base·2^(n-1)
      expect(retries[0]!.delay).toBeGreaterThanOrEqual(20);
      expect(retries[0]!.delay).toBeLessThanOrEqual(40);
      expect(retries[1]!.delay).toBeGreaterThanOrEqual(40);
      expect(retries[1]!.delay).toBeLessThanOrEqual(80);
      expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(retries[0]!.delay - 2);
      expect(await q.stats()).toMatchObject({ pending: 0, running: 0, failed: 0 });
    });

    it('honours a Retry-After hint longer than the backoff', async () => {
      const delays: number[] = [];
      const q = backend.fixture().open({ events: { onRetry: (_j, _e, d) => void delays.push(d) } });
      const at: number[] = [];
      q.start(async (job) => {
        at.push(Date.now());
        if (job.attempt === 1) throw transient('429 Too Many Requests', 400);
      });
      await q.enqueue(spec('k'));
      await q.drained(20_000);
      expect(delays).toEqual([400]);
      expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(398);
    });

    it('a permanent failure (or an error without a verdict) is not retried and is reported once', async () => {
      const dead: { job: Job; err: unknown }[] = [];
      const retried: Job[] = [];
      const q = backend.fixture().open({ events: { onDead: (job, err) => void dead.push({ job, err }), onRetry: (job) => void retried.push(job) } });
      q.start(async (job) => {
        throw name(job) === 'bug' ? new Error('a bug') : new PermanentError('GitLab 403: forbidden');
      });
      await q.enqueue(spec('k', [], { name: 'forbidden' }));
      await q.enqueue(spec('j', [], { name: 'bug' }));
      await until(() => dead.length === 2, 'both dead');
      await q.drained(20_000);
      expect(retried).toHaveLength(0);
      expect(dead.map((d) => [name(d.job), d.job.attempt, (d.err as Error).message]).sort()).toEqual([['bug', 1, 'a bug'], ['forbidden', 1, 'GitLab 403: forbidden']]);
      expect((await q.stats()).failed).toBe(2);
    });

    it('gives up after the last attempt, reports once, releases its dedupe keys; the next job of the lane runs', async () => {
      const dead: Job[] = [];
      const q = backend.fixture().open({ maxAttempts: 3, events: { onDead: (job) => void dead.push(job) } });
      const runs: string[] = [];
      q.start(async (job) => {
        runs.push(`${name(job)}#${job.attempt}`);
        if (name(job) === 'bad') throw transient('API overloaded');
      });
      await q.enqueue(spec('k', ['delivery:1', 'head:x'], { name: 'bad' }));
      await q.enqueue(spec('k', ['delivery:2'], { name: 'good' }));
      await q.drained(20_000);
      expect(runs).toEqual(['bad#1', 'bad#2', 'bad#3', 'good#1']);
      expect(dead.map((j) => j.attempt)).toEqual([3]);
      expect(await q.stats()).toMatchObject({ pending: 0, running: 0, failed: 1 });
      // finished work stays deduplicated; a resend of the job that failed for good is accepted and runs
      expect((await q.enqueue(spec('k', ['delivery:2']))).duplicate).toBe(true);
      expect((await q.enqueue(spec('k', ['delivery:1', 'head:x'], { name: 'resent' }))).duplicate).toBe(false);
      await q.drained(20_000);
      expect(runs).toContain('resent#1');
    });

    it('retries for its horizon, not a number of attempts', async () => {
      const dead: Job[] = [];
      const q = backend.fixture().open({ baseMs: 5, maxDelayMs: 20, horizonMs: 600, maxAttempts: 0, events: { onDead: (j) => void dead.push(j) } });
      q.start(async () => {
        throw transient('GitLab 502');
      });
      await q.enqueue(spec('k'));
      await until(() => dead.length === 1, 'the job to reach its horizon');
      expect(dead[0]!.attempt).toBeGreaterThan(5);
      expect(Date.now() - dead[0]!.createdAt).toBeGreaterThan(500);
    });
  });

  describe('crashes and shutdown', () => {
    it('a job whose worker died mid-job runs again elsewhere (attempt 2), before the next job of its lane', async () => {
      const f = backend.fixture();
      const q1 = f.open();
      const started = stuckIn(q1);
      const { id } = await q1.enqueue(spec('mr:1', ['delivery:A'], { name: 'first' }));
      await q1.enqueue(spec('mr:1', ['delivery:B'], { name: 'second' }));
      await until(started, 'first job running');
      await f.crash(q1);

      const q2 = f.open();
      expect(await q2.enqueue(spec('mr:1', ['delivery:A']))).toMatchObject({ duplicate: true, id }); // dedupe survives
      const ran: string[] = [];
      q2.start(async (job) => void ran.push(`${name(job)}#${job.attempt}`));
      await until(() => ran.length === 2, 'both jobs');
      await q2.drained(20_000);
      expect(ran).toEqual(['first#2', 'second#1']);
    });

    it('a job that takes its worker down on every run is declared dead after 3 interrupted runs, not crash-looped', async () => {
      const f = backend.fixture();
      const dead: Job[] = [];
      let runs = 0;
      await f.open().enqueue(spec('k', ['delivery:loop'], { name: 'oom' }));
      for (let life = 1; life <= 6 && dead.length === 0; life++) {
        const q = f.open({ maxAttempts: 0, events: { onDead: (job) => void dead.push(job) } });
        const before = runs;
        q.start(() => {
          runs++;
          return forever();
        });
        await until(() => runs > before || dead.length > 0, `life ${life}: a run or the verdict`);
        if (dead.length === 0) await f.crash(q);
        else await q.drained(20_000);
      }
      expect(runs).toBe(3);
      expect(dead.map((j) => [name(j), j.attempt])).toEqual([['oom', 3]]);
      const q = f.open();
      expect((await q.stats()).failed).toBe(1);
      expect((await q.enqueue(spec('k', ['delivery:loop']))).duplicate).toBe(false); // a resend runs again
    });

    it('on stop, lets running jobs finish within the deadline and starts no new ones', async () => {
      const q = backend.fixture().open({ concurrency: 1 });
      const ran: string[] = [];
      let started = 0;
      q.start(async (job) => {
        started++;
        await sleep(150);
        ran.push(job.orderKey);
      });
      await q.enqueue(spec('A'));
      await until(() => started === 1, 'A running');
      await q.enqueue(spec('B'));
      await q.stop(10_000);
      expect(ran).toEqual(['A']);
      expect(await q.stats()).toMatchObject({ pending: 1, running: 0 });
    });

    it('past the deadline, aborts running jobs and leaves them queued without counting the attempt', async () => {
      const f = backend.fixture();
      const q1 = f.open();
      let signal: AbortSignal | undefined;
      q1.start((_job, ctx) => new Promise((_r, reject) => {
        signal = ctx.signal;
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      }));
      await q1.enqueue(spec('k'));
      await until(() => !!signal, 'job running');
      await q1.stop(300);
      expect(signal!.aborted).toBe(true);
      expect(await q1.stats()).toMatchObject({ pending: 1, running: 0, failed: 0 });
      await q1.close();

      const q2 = f.open();
      const attempts: number[] = [];
      q2.start(async (job) => void attempts.push(job.attempt));
      await until(() => attempts.length === 1, 'the job again');
      await q2.drained(20_000);
      expect(attempts).toEqual([1]);
    });

    it('returns by the deadline even if a job ignores its signal; that job runs again after the process ends', async () => {
      const f = backend.fixture();
      const q1 = f.open();
      const started = stuckIn(q1);
      await q1.enqueue(spec('k'));
      await until(started, 'job running');
      const t0 = Date.now();
      await q1.stop(400);
      expect(Date.now() - t0).toBeLessThan(5_000); // bounded by the deadline (generous: a behaviour, not a figure)
      await f.crash(q1);

      const q2 = f.open();
      const attempts: number[] = [];
      q2.start(async (job) => void attempts.push(job.attempt));
      await until(() => attempts.length === 1, 'the job again');
      expect(attempts).toEqual([2]);
    });
  });

  describe('retention', () => {
    it('keeps failed jobs until retention removes those older than its window', async () => {
      const dead: Job[] = [];
      const q = backend.fixture().open({ events: { onDead: (j) => void dead.push(j) } });
      q.start(async () => {
        throw new PermanentError('gone');
      });
      await q.enqueue(spec('k'));
      await until(() => dead.length === 1, 'the job to fail');
      await q.drained(20_000);
      expect(await q.retain!({ now: Date.now(), failedJobMs: 3_600_000 })).toBe(0);
      expect((await q.stats()).failed).toBe(1);
      await sleep(20);
      expect(await q.retain!({ now: Date.now(), failedJobMs: 10 })).toBeGreaterThanOrEqual(1);
      expect((await q.stats()).failed).toBe(0);
    });
  });

  describe('dependent jobs (AwaitJob)', () => {
    const trunk = (n = 1) => spec(`mr:${n}`, [`trunk:${n}`], { name: `trunk${n}` });

    it('a job waits for another lane\'s job without holding a slot, keeps its own lane, then runs again at the same attempt', async () => {
      const q = backend.fixture().open({ concurrency: 1 });
      const log: string[] = [];
      q.start(async (job, ctx: JobContext) => {
        log.push(`${name(job)}#${job.attempt}/${ctx.waited}`);
        if (name(job) === 'reply' && ctx.waited === 0) throw new AwaitJob(trunk());
        if (name(job) === 'trunk1') await sleep(100);
      });
      await q.enqueue(spec('thread:1', ['note:1'], { name: 'reply' }));
      await q.enqueue(spec('thread:1', ['note:2'], { name: 'reply2' }));
      await q.drained(20_000);
      // one slot: the trunk could only run because the waiting reply gave its slot up; reply2 stayed behind it
      expect(log).toEqual(['reply#1/0', 'trunk1#1/0', 'reply#1/1', 'reply2#1/0']);
      expect(await q.stats()).toMatchObject({ pending: 0, running: 0, failed: 0 });
    });

    it('waits for a live job that shares a dedupe key instead of adding one; a finished one is run again', async () => {
      const q = backend.fixture().open({ concurrency: 4 });
      const g = gate();
      const log: string[] = [];
      q.start(async (job, ctx) => {
        log.push(`${name(job)}/${ctx.waited}`);
        if (name(job).startsWith('reply') && ctx.waited === 0) throw new AwaitJob(trunk());
        if (name(job) === 'trunk1') await g.promise;
      });
      await q.enqueue(trunk()); // already queued by its webhook
      await q.enqueue(spec('thread:a', [], { name: 'replyA' }));
      await q.enqueue(spec('thread:b', [], { name: 'replyB' }));
      await until(() => log.filter((l) => l.endsWith('/0')).length === 3, 'trunk running and both replies parked');
      await sleep(100);
      expect(log.filter((l) => l.endsWith('/1'))).toEqual([]); // nobody woke while the trunk ran
      g.open();
      await q.drained(20_000);
      expect(log.filter((l) => l.startsWith('trunk'))).toHaveLength(1);
      expect(log.filter((l) => l.endsWith('/1')).sort()).toEqual(['replyA/1', 'replyB/1']);
      // the trunk job is done (its key still remembered): a later waiter gets a fresh run of it
      await q.enqueue(spec('thread:c', [], { name: 'replyC' }));
      await q.drained(20_000);
      expect(log.filter((l) => l.startsWith('trunk'))).toHaveLength(2);
      expect(log.at(-1)).toBe('replyC/1');
    });

    it('a waiter runs again when the job it waited for fails for good, and learns that it waited', async () => {
      const dead: Job[] = [];
      const q = backend.fixture().open({ events: { onDead: (j) => void dead.push(j) } });
      const log: string[] = [];
      q.start(async (job, ctx) => {
        log.push(`${name(job)}/${ctx.waited}`);
        if (name(job) === 'trunk1') throw new PermanentError('review failed');
        if (ctx.waited === 0) throw new AwaitJob(trunk());
        throw new PermanentError('no trunk after waiting for it');
      });
      await q.enqueue(spec('thread:1', ['note:1'], { name: 'reply' }));
      await until(() => dead.length === 2, 'both dead');
      expect(log).toEqual(['reply/0', 'trunk1/0', 'reply/1']);
      expect(dead.map(name)).toEqual(['trunk1', 'reply']);
    });

    it('a job that asks to wait for its own lane fails at once instead of deadlocking it', async () => {
      const dead: { job: Job; err: unknown }[] = [];
      const q = backend.fixture().open({ events: { onDead: (job, err) => void dead.push({ job, err }) } });
      const ran: string[] = [];
      q.start(async (job) => {
        ran.push(name(job));
        if (name(job) === 'self') throw new AwaitJob(spec('lane', [], { name: 'never' }));
      });
      await q.enqueue(spec('lane', [], { name: 'self' }));
      await q.enqueue(spec('lane', [], { name: 'next' }));
      await q.drained(20_000);
      expect(ran).toEqual(['self', 'next']);
      expect(String(dead[0]!.err)).toMatch(/own lane/);
    });

    it('a job that keeps asking to wait is failed after 5 waits, not parked forever', async () => {
      const dead: { job: Job; err: unknown }[] = [];
      const q = backend.fixture().open({ events: { onDead: (job, err) => void dead.push({ job, err }) } });
      const waits: number[] = [];
      q.start(async (job, ctx) => {
        if (name(job) !== 'reply') return;
        waits.push(ctx.waited);
        throw new AwaitJob(trunk());
      });
      await q.enqueue(spec('thread:1', [], { name: 'reply' }));
      await until(() => dead.length === 1, 'the verdict');
      await q.drained(20_000);
      expect(waits).toEqual([0, 1, 2, 3, 4, 5]);
      expect(String(dead[0]!.err)).toMatch(/waited 5 times/);
    });

    it('a parked job survives a restart and runs once the job it waits for is done', async () => {
      const f = backend.fixture();
      const q1 = f.open();
      const log: string[] = [];
      let trunkStarted = false;
      q1.start(async (job, ctx) => {
        log.push(`${name(job)}/${ctx.waited}`);
        if (name(job) === 'trunk1') {
          trunkStarted = true;
          return forever();
        }
        if (ctx.waited === 0) throw new AwaitJob(trunk());
      });
      await q1.enqueue(spec('thread:1', [], { name: 'reply' }));
      await until(() => trunkStarted, 'the trunk running');
      await f.crash(q1);

      const q2 = f.open();
      q2.start(async (job, ctx) => void log.push(`${name(job)}/${ctx.waited}`));
      await until(() => log.includes('reply/1'), 'the reply after the trunk');
      await q2.drained(20_000);
      expect(log).toEqual(['reply/0', 'trunk1/0', 'trunk1/0', 'reply/1']);
    });
  });
});

// SqliteQueue on its own: dedupe, per-key order, parallelism, retries, crash recovery and stop, on real SQLite files.
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job, JobHandler, JobSpec, QueueEvents } from '../src/jobs/queue.js';
import { backoffPolicy, PermanentError } from '../src/jobs/retry.js';
import { smallDisk } from './support/small-disk.js';
import { SqliteQueue } from '../src/jobs/sqlite-queue.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dirs: string[] = [];
const queues: SqliteQueue[] = [];

function tmpFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-queue-'));
  dirs.push(dir);
  return path.join(dir, 'queue.sqlite');
}

function open(file: string, o: { concurrency?: number; maxAttempts?: number; baseMs?: number; events?: QueueEvents; dedupeTtlMs?: number } = {}) {
  const q = new SqliteQueue({
    file,
    concurrency: o.concurrency ?? 4,
    policy: backoffPolicy({ baseMs: o.baseMs ?? 10, maxAttempts: o.maxAttempts ?? 3 }),
    events: o.events,
    dedupeTtlMs: o.dedupeTtlMs,
    pollMs: 20,
  });
  queues.push(q);
  return q;
}

const spec = (orderKey: string, dedupeKeys: string[] = [], data: unknown = {}): JobSpec => ({ kind: 'review', orderKey, dedupeKeys, data });
const transient = (message = 'GitLab 502', retryAfterMs?: number) => Object.assign(new Error(message), { transient: true, retryAfterMs });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise with its resolve, to hold a job until the test lets it go. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

async function until(fn: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

afterEach(async () => {
  for (const q of queues.splice(0)) await q.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('SqliteQueue: dedupe', () => {
  it('treats a job as a duplicate if any of its keys was seen, and names the key and the first job', async () => {
    const q = open(tmpFile());
    const a = await q.enqueue(spec('mr:1:1', ['delivery:A', 'head:1:1:abc']));
    expect(a.duplicate).toBe(false);
    const b = await q.enqueue(spec('mr:1:1', ['delivery:B', 'head:1:1:abc']));
    expect(b).toEqual({ duplicate: true, key: 'head:1:1:abc', id: a.id });
    const c = await q.enqueue(spec('mr:1:1', ['delivery:A']));
    expect(c).toMatchObject({ duplicate: true, key: 'delivery:A', id: a.id });
    // A duplicate leaves no trace: the new delivery key of the rejected job was not remembered.
    expect((await q.enqueue(spec('mr:1:1', ['delivery:B']))).duplicate).toBe(false);
    expect((await q.stats()).pending).toBe(2);
  });

  it('accepts one of many concurrent enqueues of one delivery', async () => {
    const q = open(tmpFile());
    const results = await Promise.all(Array.from({ length: 25 }, () => q.enqueue(spec('mr:1:1', ['delivery:same']))));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect((await q.stats()).pending).toBe(1);
  });

  it('accepts one of many enqueues racing from separate processes on one file', async () => {
    const file = tmpFile();
    open(file); // creates the schema before the racers start
    const script = `
      import { SqliteQueue } from './src/jobs/sqlite-queue.ts';
      const q = new SqliteQueue({ file: process.argv[1], concurrency: 1, policy: { maxAttempts: 1, delayFor: () => null } });
      const start = Number(process.argv[2]);
      while (Date.now() < start) {}
      let won = 0;
      for (let i = 0; i < 40; i++) if (!(await q.enqueue({ kind: 'review', orderKey: 'k', dedupeKeys: ['delivery:' + i], data: {} })).duplicate) won++;
      console.log(won);
      await q.close();`;
    const start = Date.now() + 1_500;
    const racers = await Promise.all(
      [0, 1, 2].map(() => execa('node', ['--import', 'tsx', '--input-type=module', '-e', script, file, String(start)], { cwd: ROOT })),
    );
    const won = racers.map((r) => Number(r.stdout.trim()));
    expect(won.reduce((a, b) => a + b, 0)).toBe(40);
    expect((await open(file).stats()).pending).toBe(40);
  });

  it('commits concurrent enqueues together, and one bad job fails alone', async () => {
    const q = open(tmpFile());
    const results = await Promise.allSettled([
      q.enqueue(spec('a', ['d:a'])),
      q.enqueue(spec('b', ['d:b'], { n: 10n })), // BigInt: JSON.stringify throws
      q.enqueue(spec('c', ['d:c'])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await q.stats()).pending).toBe(2);
    // the failed job left no dedupe key behind
    expect((await q.enqueue(spec('b', ['d:b']))).duplicate).toBe(false);
  });

  it('checkpoints the WAL on its own thread: after enough commits the jobs are in the database file', async () => {
    const file = tmpFile();
    const q = open(file);
    const before = fs.statSync(file).size;
    // One at a time, so each is a commit of its own (a group would share one).
    for (let i = 0; i < 140; i++) await q.enqueue(spec(`mr:1:${i}`, [`d:${i}`], { pad: 'x'.repeat(8_000) }));
    await until(() => fs.statSync(file).size > before + 500_000, 'a checkpoint into the database file');
    expect((await q.stats()).pending).toBe(140);
  });

  it('forgets dedupe keys after their time to live', async () => {
    const q = open(tmpFile(), { dedupeTtlMs: 30 });
    expect((await q.enqueue(spec('k', ['delivery:X']))).duplicate).toBe(false);
    expect((await q.enqueue(spec('k', ['delivery:X']))).duplicate).toBe(true);
    await sleep(50);
    expect((await q.enqueue(spec('k', ['delivery:X']))).duplicate).toBe(false);
  });
});

describe('SqliteQueue: ordering and parallelism', () => {
  it('runs the jobs of one order key one at a time, in arrival order', async () => {
    const q = open(tmpFile(), { concurrency: 4 });
    const log: string[] = [];
    let inKey = 0;
    let maxInKey = 0;
    for (let i = 0; i < 6; i++) await q.enqueue(spec('mr:1:1', [`d:${i}`], { i }));
    q.start(async (job) => {
      inKey++;
      maxInKey = Math.max(maxInKey, inKey);
      log.push(`start ${(job.data as { i: number }).i}`);
      await sleep(5 + Math.random() * 20);
      log.push(`end ${(job.data as { i: number }).i}`);
      inKey--;
    });
    await q.drained(10_000);
    expect(maxInKey).toBe(1);
    expect(log).toEqual([0, 1, 2, 3, 4, 5].flatMap((i) => [`start ${i}`, `end ${i}`]));
  });

  it('runs different order keys in parallel, never more than the limit', async () => {
    const q = open(tmpFile(), { concurrency: 3 });
    const g = gate();
    const started: string[] = [];
    let running = 0;
    let peak = 0;
    q.start(async (job) => {
      started.push(job.orderKey);
      running++;
      peak = Math.max(peak, running);
      await g.promise;
      running--;
    });
    for (let i = 0; i < 7; i++) await q.enqueue(spec(`mr:1:${i}`, [`d:${i}`]));
    await until(() => started.length === 3, 'three jobs running');
    await sleep(100); // time for a fourth to start, if the limit were broken
    expect(started).toEqual(['mr:1:0', 'mr:1:1', 'mr:1:2']);
    expect((await q.stats()).running).toBe(3);
    g.open();
    await q.drained(10_000);
    expect(peak).toBe(3);
    expect(started).toHaveLength(7);
  });

  it('lets other keys pass a key that is busy or waiting for a retry', async () => {
    const q = open(tmpFile(), { concurrency: 2, baseMs: 300 });
    const done: string[] = [];
    let first = true;
    q.start(async (job) => {
      const name = (job.data as { name: string }).name;
      if (name === 'a1' && first) {
        first = false;
        throw transient();
      }
      done.push(name);
    });
    await q.enqueue(spec('A', ['a1'], { name: 'a1' }));
    await q.enqueue(spec('A', ['a2'], { name: 'a2' }));
    await q.enqueue(spec('B', ['b1'], { name: 'b1' }));
    await q.drained(10_000);
    // b1 ran while a1 waited for its retry; a2 never overtook a1.
    expect(done).toEqual(['b1', 'a1', 'a2']);
  });
});

describe('SqliteQueue: notBefore (the per-project rate limit)', () => {
  it('starts a job no earlier than its notBefore; its lane waits behind it, other lanes do not', async () => {
    const q = open(tmpFile(), { concurrency: 2 });
    const started: Record<string, number> = {};
    const done: string[] = [];
    q.start(async (job) => {
      const name = (job.data as { name: string }).name;
      started[name] = Date.now();
      done.push(name);
    });
    const notBefore = Date.now() + 400;
    await q.enqueue({ ...spec('A', ['a1'], { name: 'a1' }), notBefore });
    await q.enqueue(spec('A', ['a2'], { name: 'a2' }));
    await q.enqueue(spec('B', ['b1'], { name: 'b1' }));
    await q.drained(10_000);
    expect(done).toEqual(['b1', 'a1', 'a2']);
    expect(started.a1).toBeGreaterThanOrEqual(notBefore);
  });
});

describe('SqliteQueue: retries', () => {
  it('retries transient failures with growing, jittered delays, then succeeds', async () => {
    const retries: { attempt: number; delay: number }[] = [];
    const q = open(tmpFile(), { maxAttempts: 5, baseMs: 40, events: { onRetry: (job, _e, delay) => retries.push({ attempt: job.attempt, delay }) } });
    const runs: { attempt: number; at: number }[] = [];
    q.start(async (job) => {
      runs.push({ attempt: job.attempt, at: Date.now() });
      if (job.attempt < 3) throw transient();
    });
    await q.enqueue(spec('k', ['d']));
    await q.drained(10_000);
    expect(runs.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
    // full jitter over half the window: attempt n waits between base·2^(n-1)/2 and base·2^(n-1)
    expect(retries[0]!.delay).toBeGreaterThanOrEqual(20);
    expect(retries[0]!.delay).toBeLessThanOrEqual(40);
    expect(retries[1]!.delay).toBeGreaterThanOrEqual(40);
    expect(retries[1]!.delay).toBeLessThanOrEqual(80);
    // the queue really waited (a lower bound: the behaviour, not a speed)
    expect(runs[1]!.at - runs[0]!.at).toBeGreaterThanOrEqual(retries[0]!.delay - 2);
    expect(runs[2]!.at - runs[1]!.at).toBeGreaterThanOrEqual(retries[1]!.delay - 2);
    expect(await q.stats()).toMatchObject({ pending: 0, running: 0, failed: 0 });
  });

  it('honours a Retry-After hint longer than the backoff', async () => {
    const delays: number[] = [];
    const q = open(tmpFile(), { baseMs: 10, events: { onRetry: (_j, _e, d) => delays.push(d) } });
    const at: number[] = [];
    q.start(async (job) => {
      at.push(Date.now());
      if (job.attempt === 1) throw transient('429 Too Many Requests', 400);
    });
    await q.enqueue(spec('k', ['d']));
    await q.drained(10_000);
    expect(delays).toEqual([400]);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(398);
  });

  it('does not retry a permanent failure, and reports it once', async () => {
    const dead: { job: Job; err: unknown }[] = [];
    const retried: Job[] = [];
    const q = open(tmpFile(), { events: { onDead: (job, err) => void dead.push({ job, err }), onRetry: (job) => void retried.push(job) } });
    let runs = 0;
    q.start(async () => {
      runs++;
      throw new PermanentError('GitLab 403: forbidden');
    });
    await q.enqueue(spec('k', ['d']));
    await q.drained(10_000);
    expect(runs).toBe(1);
    expect(retried).toHaveLength(0);
    expect(dead).toHaveLength(1);
    expect((dead[0]!.err as Error).message).toBe('GitLab 403: forbidden');
    expect((await q.stats()).failed).toBe(1);
  });

  it('gives up after the last attempt, reports once, and the next job of the key still runs', async () => {
    const dead: Job[] = [];
    const q = open(tmpFile(), { maxAttempts: 3, events: { onDead: (job) => void dead.push(job) } });
    const runs: string[] = [];
    q.start(async (job) => {
      const name = (job.data as { name: string }).name;
      runs.push(`${name}#${job.attempt}`);
      if (name === 'bad') throw transient('API overloaded');
    });
    await q.enqueue(spec('k', ['1'], { name: 'bad' }));
    await q.enqueue(spec('k', ['2'], { name: 'good' }));
    await q.drained(10_000);
    expect(runs).toEqual(['bad#1', 'bad#2', 'bad#3', 'good#1']);
    expect(dead.map((j) => j.attempt)).toEqual([3]);
    expect(await q.stats()).toMatchObject({ pending: 0, running: 0, failed: 1 });
  });

  it('keeps dedupe for finished work only: a job that failed for good can be delivered again', async () => {
    const q = open(tmpFile(), { maxAttempts: 2 });
    const runs: string[] = [];
    q.start(async (job) => {
      const { name } = job.data as { name: string };
      runs.push(`${name}#${job.attempt}`);
      if (name === 'bad') throw transient('still down');
    });
    await q.enqueue(spec('k', ['delivery:1', 'head:x'], { name: 'bad' }));
    await q.enqueue(spec('j', ['delivery:2'], { name: 'good' }));
    await q.drained(10_000);
    expect((await q.enqueue(spec('j', ['delivery:2'], { name: 'good' }))).duplicate).toBe(true);
    // The resend of the failed one (same delivery id, same head) is accepted and runs.
    expect((await q.enqueue(spec('k', ['delivery:1', 'head:x'], { name: 'resent' }))).duplicate).toBe(false);
    await q.drained(10_000);
    expect(runs).toContain('resent#1');
  });

  it('retries for its horizon, not a number of attempts', async () => {
    const dead: Job[] = [];
    const q = new SqliteQueue({ file: tmpFile(), concurrency: 1, pollMs: 20, policy: backoffPolicy({ baseMs: 5, maxDelayMs: 20, horizonMs: 600 }), events: { onDead: (j) => void dead.push(j) } });
    queues.push(q);
    q.start(async () => {
      throw transient('GitLab 502');
    });
    await q.enqueue(spec('k', ['d']));
    await until(() => dead.length === 1, 'the job to reach its horizon');
    // Far more than the old 5 attempts, and it gave up only once the horizon was behind it.
    expect(dead[0]!.attempt).toBeGreaterThan(5);
    expect(Date.now() - dead[0]!.createdAt).toBeGreaterThan(500);
  });

  it('treats an error without a verdict as permanent', async () => {
    const dead: Job[] = [];
    const q = open(tmpFile(), { events: { onDead: (job) => void dead.push(job) } });
    q.start(async () => {
      throw new Error('a bug');
    });
    await q.enqueue(spec('k', ['d']));
    await q.drained(10_000);
    expect(dead.map((j) => j.attempt)).toEqual([1]);
  });
});

describe('SqliteQueue: crash recovery and stop', () => {
  it('runs again, after reopening the file, a job that was running when the process died', async () => {
    const file = tmpFile();
    const q1 = open(file);
    const g = gate();
    const seen: number[] = [];
    q1.start(async (job) => {
      seen.push(job.attempt);
      await g.promise; // never released: the "process" dies mid-job
    });
    const { id } = await q1.enqueue(spec('mr:1:1', ['delivery:A'], { n: 1 }));
    await q1.enqueue(spec('mr:1:1', ['delivery:B'], { n: 2 }));
    await until(() => seen.length === 1, 'first job running');
    await q1.close(); // no stop(): the row is left 'running', as after kill -9

    const q2 = open(file);
    expect(await q2.stats()).toMatchObject({ pending: 1, running: 1 });
    // dedupe keys survive the crash too
    expect(await q2.enqueue(spec('mr:1:1', ['delivery:A']))).toMatchObject({ duplicate: true, id });
    const ran: { id: string; attempt: number; n: number }[] = [];
    q2.start(async (job) => void ran.push({ id: job.id, attempt: job.attempt, n: (job.data as { n: number }).n }));
    await q2.drained(10_000);
    expect(ran).toEqual([
      { id, attempt: 2, n: 1 },
      { id: expect.any(String), attempt: 1, n: 2 },
    ]);
  });

  it('survives kill -9 of a real process that was running a job', async () => {
    const file = tmpFile();
    const script = `
      import { SqliteQueue } from './src/jobs/sqlite-queue.ts';
      const q = new SqliteQueue({ file: process.argv[1], concurrency: 1, policy: { maxAttempts: 3, delayFor: () => 10 } });
      await q.enqueue({ kind: 'review', orderKey: 'mr:1:1', dedupeKeys: ['delivery:K'], data: { n: 7 } });
      q.start(() => { console.log('running'); return new Promise(() => {}); });`;
    const child = execa('node', ['--import', 'tsx', '--input-type=module', '-e', script, file], { cwd: ROOT, reject: false });
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('running') && resolve()));
    child.kill('SIGKILL');
    await child;

    const q = open(file);
    const ran: Job[] = [];
    q.start(async (job) => void ran.push(job));
    await q.drained(10_000);
    expect(ran.map((j) => [j.attempt, j.data])).toEqual([[2, { n: 7 }]]);
  });

  it('declares a job dead when it was interrupted by a crash on every attempt', async () => {
    const file = tmpFile();
    const dead: { job: Job; err: unknown }[] = [];
    for (let life = 1; life <= 2; life++) {
      const q = open(file, { maxAttempts: 2 });
      let running = false;
      q.start(() => {
        running = true;
        return new Promise(() => undefined);
      });
      if (life === 1) await q.enqueue(spec('k', ['d']));
      await until(() => running, `job running in life ${life}`);
      await q.close();
    }
    const q = open(file, { maxAttempts: 2, events: { onDead: (job, err) => void dead.push({ job, err }) } });
    let ran = 0;
    q.start(async () => void ran++);
    await until(() => dead.length === 1, 'onDead');
    await q.drained(5_000);
    expect(ran).toBe(0);
    expect(dead[0]!.job.attempt).toBe(2);
    expect(String(dead[0]!.err)).toMatch(/interrupted 2 times/);
    expect((await q.stats()).failed).toBe(1);
  });

  it('on stop, lets running jobs finish within the deadline and starts no new ones', async () => {
    const q = open(tmpFile(), { concurrency: 1 });
    const ran: string[] = [];
    q.start(async (job) => {
      await sleep(100);
      ran.push(job.orderKey);
    });
    await q.enqueue(spec('A', ['a']));
    await q.enqueue(spec('B', ['b']));
    await sleep(20);
    await q.stop(5_000);
    expect(ran).toEqual(['A']);
    expect(await q.stats()).toMatchObject({ pending: 1, running: 0 });
  });

  it('past the deadline, aborts running jobs and leaves them queued without counting the attempt', async () => {
    const file = tmpFile();
    const q1 = open(file);
    let signal: AbortSignal | undefined;
    const handler: JobHandler = (_job, ctx) =>
      new Promise((_r, reject) => {
        signal = ctx.signal;
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      });
    q1.start(handler);
    await q1.enqueue(spec('k', ['d']));
    await until(() => !!signal, 'job running');
    await q1.stop(200);
    expect(signal!.aborted).toBe(true);
    expect(await q1.stats()).toMatchObject({ pending: 1, running: 0, failed: 0 });
    await q1.close();

    const q2 = open(file);
    const attempts: number[] = [];
    q2.start(async (job) => void attempts.push(job.attempt));
    await q2.drained(5_000);
    expect(attempts).toEqual([1]);
  });

  it('returns by the deadline even if an aborted job ignores its signal; the job is recovered at the next start', async () => {
    const file = tmpFile();
    const q1 = open(file);
    let started = false;
    q1.start(() => {
      started = true;
      return new Promise(() => undefined); // deaf to the abort
    });
    await q1.enqueue(spec('k', ['d']));
    await until(() => started, 'job running');
    const t0 = Date.now();
    await q1.stop(400); // before the fix this never returned
    expect(Date.now() - t0).toBeLessThan(3_000); // the deadline bounds the stop (generous: a behaviour bound, not a figure)
    await q1.close();

    const q2 = open(file);
    const attempts: number[] = [];
    q2.start(async (job) => void attempts.push(job.attempt));
    await q2.drained(5_000);
    expect(attempts).toEqual([2]);
  });
});

describe('SqliteQueue: a full disk (a real tmpfs)', () => {
  const disk = smallDisk('2m');
  const { fill } = disk;
  const mnt = () => disk.dir();

  it('a job whose retry cannot be written waits, then runs again when space returns; enqueue fails meanwhile', async () => {
    const errors: string[] = [];
    const file = path.join(mnt(), 'q1.sqlite');
    const q = new SqliteQueue({ file, concurrency: 2, pollMs: 20, policy: backoffPolicy({ baseMs: 5, maxDelayMs: 20 }), onError: (_e, where) => void errors.push(where) });
    queues.push(q);
    const g = gate();
    const runs: number[] = [];
    q.start(async (job) => {
      runs.push(job.attempt);
      if (job.attempt === 1) {
        await g.promise;
        throw Object.assign(new Error('write error: No space left on device'), { code: 'ENOSPC' });
      }
    });
    await q.enqueue(spec('k', ['d']));
    await until(() => runs.length === 1, 'the first attempt');
    fill();
    g.open();
    await until(() => errors.includes('retry'), 'the retry write to fail');
    await expect(q.enqueue(spec('other', ['e']))).rejects.toMatchObject({ code: expect.stringMatching(/SQLITE_FULL|SQLITE_IOERR/) });
    expect(runs).toEqual([1]);
    disk.free();
    await q.drained(10_000);
    expect(runs).toEqual([1, 2]);
    expect((await q.enqueue(spec('other', ['e']))).duplicate).toBe(false);
  });

  it('opens on a full disk in a degraded mode and catches up when space returns', async () => {
    const file = path.join(mnt(), 'q2.sqlite');
    const first = open(file);
    await first.enqueue(spec('k', ['a'], { n: 1 }));
    await first.close();
    for (const f of fs.readdirSync(mnt()).filter((n) => n.startsWith('q2.sqlite-'))) fs.rmSync(path.join(mnt(), f));
    fill();
    const errors: string[] = [];
    const q = new SqliteQueue({ file, concurrency: 1, pollMs: 20, policy: backoffPolicy({ baseMs: 5 }), onError: (_e, where) => void errors.push(where) });
    queues.push(q);
    expect(q.initError).toBeDefined();
    expect(errors).toContain('open');
    const ran: unknown[] = [];
    q.start(async (job) => void ran.push(job.data));
    await expect(q.enqueue(spec('k', ['b']))).rejects.toBeDefined();
    disk.free();
    await until(() => ran.length === 1, 'the stored job to run once space returned');
    expect(ran).toEqual([{ n: 1 }]);
    expect((await q.enqueue(spec('k', ['b'], { n: 2 }))).duplicate).toBe(false);
    await q.drained(10_000);
    expect(ran).toEqual([{ n: 1 }, { n: 2 }]);
  });
});

// What only the SQLite queue has, on real SQLite files: enqueues racing from processes on one file, group commit,
// kill -9 of a real process, a full disk. What both queues promise is in queue-contract.test.ts.
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import type { Job, JobSpec, QueueEvents } from '../src/jobs/queue.js';
import { backoffPolicy } from '../src/jobs/retry.js';
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

describe('SqliteQueue: enqueue on one file', () => {
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
});

describe('SqliteQueue: an older file', () => {
  it('takes the columns added since (crash counts, dependent jobs) and runs the jobs it holds', async () => {
    const file = tmpFile();
    const old = new Database(file);
    old.exec(`CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, order_key TEXT NOT NULL,
        data TEXT NOT NULL, dedupe TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        run_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, last_error TEXT);
      INSERT INTO jobs (id, kind, order_key, data, dedupe, run_at, created_at, updated_at) VALUES ('old-1', 'review', 'k', '{"n":1}', '[]', 0, 0, 0);`);
    old.close();
    const q = open(file);
    const ran: unknown[] = [];
    q.start(async (job, ctx) => void ran.push([job.id, job.data, ctx.waited]));
    await q.drained(10_000);
    expect(ran).toEqual([['old-1', { n: 1 }, 0]]);
  });
});

describe('SqliteQueue: crash recovery', () => {
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

// The spool in front of the Redis queue, on a private redis-server: a hung Redis (SIGSTOP) makes an enqueue spool
// after its time bound; a down one spools at once; forwarding keeps arrival order and the dedupe keys.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job, JobSpec } from '../src/jobs/queue.js';
import { RedisQueue } from '../src/jobs/redis-queue.js';
import { backoffPolicy } from '../src/jobs/retry.js';
import { SpoolingQueue } from '../src/jobs/spool.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const spec = (orderKey: string, n: number, dedupeKeys: string[]): JobSpec => ({ kind: 'review', orderKey, dedupeKeys, data: { n } });

async function setup(): Promise<{ server: RedisServer; q: SpoolingQueue; redis: Redis; forwarded: string[]; file: string }> {
  const server = await startRedisServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-spool-'));
  const redis = new Redis(server.url);
  redis.on('error', () => undefined);
  await new Promise((r) => redis.once('ready', r));
  const forwarded: string[] = [];
  const file = path.join(dir, 'spool.sqlite');
  const q = new SpoolingQueue({
    file,
    connected: () => redis.status === 'ready',
    enqueueTimeoutMs: 500,
    forwardMs: 100,
    statsTimeoutMs: 200,
    inner: new RedisQueue({ redis, prefix: 'spooltest', concurrency: 2, policy: backoffPolicy({ baseMs: 20, maxAttempts: 3 }), laneWaitMs: 50 }),
    onForwarded: (s, r) => forwarded.push(`${(s.data as { n: number }).n}${r.duplicate ? ' (duplicate)' : ''}`),
  });
  cleanups.push(async () => {
    server.resume();
    await q.close();
    redis.disconnect();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { server, q, redis, forwarded, file };
}

async function waitFor(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('SpoolingQueue', () => {
  it('goes straight to Redis while Redis answers', async () => {
    const { q } = await setup();
    const r = await q.enqueue(spec('mr:1:1', 1, ['delivery:a']));
    expect(r.duplicate).toBe(false);
    expect(r.id).not.toMatch(/^spool-/);
    expect(q.spooled()).toBe(0);
    expect((await q.enqueue(spec('mr:1:1', 2, ['delivery:a']))).duplicate).toBe(true);
  });

  it('spools when Redis hangs, keeps order behind the spool, and forwards once, deduplicated, when it answers', async () => {
    const { server, q, forwarded, file } = await setup();
    server.pause();
    // Hung: the connection looks fine, the command gets no answer; the enqueue gives up after its bound and spools.
    const first = await q.enqueue(spec('mr:1:1', 1, ['delivery:a']));
    expect(first).toMatchObject({ duplicate: false, id: 'spool-1' });
    // Later deliveries queue behind the spooled one, even before Redis is asked again.
    expect(await q.enqueue(spec('mr:1:2', 2, ['delivery:b']))).toMatchObject({ duplicate: false, id: 'spool-2' });
    expect(await q.enqueue(spec('mr:1:1', 1, ['delivery:a']))).toMatchObject({ duplicate: true, key: 'delivery:a' });
    expect(q.spooled()).toBe(2);
    expect((await q.stats()).pending).toBe(2);
    // The spool is a file: another process (a restarted replica) would see the same rows.
    expect(fs.existsSync(file)).toBe(true);

    server.resume();
    await waitFor(() => q.spooled() === 0, 10_000, 'the spool to drain');
    // The first enqueue also reached Redis late (ioredis sent it when Redis woke up): forwarding it is a duplicate.
    expect(forwarded).toEqual(['1 (duplicate)', '2']);
    expect((await q.enqueue(spec('mr:1:2', 3, ['delivery:b']))).duplicate).toBe(true);
    await waitFor(async () => (await q.stats()).pending === 2, 5_000, 'two jobs in Redis');
  });

  it('spools at once when Redis is down, and runs each spooled job once after it returns (empty)', async () => {
    const { server, q, redis } = await setup();
    await server.kill();
    await waitFor(() => redis.status !== 'ready', 5_000, 'the connection to notice');
    for (let i = 1; i <= 3; i++) expect((await q.enqueue(spec(`mr:1:${i}`, i, [`delivery:${i}`]))).duplicate).toBe(false);
    expect(q.spooled()).toBe(3);
    const ran: number[] = [];
    q.start(async (job: Job) => void ran.push((job.data as { n: number }).n));
    await server.restart();
    await q.drained(20_000);
    expect(ran.sort()).toEqual([1, 2, 3]);
  });
});

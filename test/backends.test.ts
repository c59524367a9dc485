// Where state, jobs and locks live: SQLite files under DATA_DIR without REDIS_URL, one Redis (under REDIS_PREFIX)
// with it. The same Store, Queue and SessionLocks interfaces either way.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackend, type Backend, type QueueSettings } from '../src/backends.js';
import { LocalLocks } from '../src/claude/locks.js';
import { RedisLocks } from '../src/claude/redis-locks.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-backend-'));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const settings: QueueSettings = { concurrency: 1, policy: { delayFor: () => null, maxAttempts: 1 }, events: {} };

function start(env: Record<string, string>) {
  const config = loadConfig({ GITLAB_URL: 'http://gitlab.test', GITLAB_TOKEN: 'glpat-x', GITLAB_WEBHOOK_SECRET: 'secret-123', DATA_DIR: dataDir, ...env });
  const logs: { level: string; msg: string }[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(l));
      cb();
    },
  });
  const backend = createBackend(config, { log: createLogger({ level: 'info', redact: (s) => s, destination: sink }), claudeDir: path.join(dataDir, 'claude') });
  const queue = backend.queue(settings);
  cleanups.push(async () => {
    await queue.close();
    await backend.store.close();
    await backend.close();
  });
  return { backend, queue, logs };
}

async function roundTrip(b: Backend) {
  await b.store.kv.set('probe', { ok: true });
  return b.store.kv.get('probe');
}

describe('createBackend', () => {
  it('without REDIS_URL: SQLite files under DATA_DIR, in-process locks, nothing to ping', async () => {
    const { backend, queue } = start({});
    expect(backend.kind).toBe('sqlite');
    expect(backend.locks).toBeInstanceOf(LocalLocks);
    expect(backend.ping).toBeUndefined();
    expect(backend.sessionHooks).toBeUndefined();
    expect(await roundTrip(backend)).toEqual({ ok: true });
    expect((await queue.enqueue({ kind: 'review', orderKey: 'mr:1:1', dedupeKeys: ['k'], data: {} })).duplicate).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'queue.sqlite'))).toBe(true);
  });

  it('warns that a role without Redis shares its queue with no one', () => {
    const { logs } = start({ MR_REVIEWER_ROLE: 'worker' });
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringContaining('REDIS_URL is not') }));
  });

  it('with REDIS_URL: state, locks and portable sessions in Redis, all under REDIS_PREFIX', async () => {
    const prefix = `mrrtest-${randomUUID().slice(0, 8)}`;
    const { backend, queue } = start({ REDIS_URL, REDIS_PREFIX: prefix });
    const redis = new Redis(REDIS_URL);
    cleanups.push(async () => {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    });
    expect(backend.kind).toBe('redis');
    expect(backend.locks).toBeInstanceOf(RedisLocks);
    expect(backend.sessionHooks).toBeDefined();
    expect(await backend.ping!()).toBe('PONG');
    expect(await roundTrip(backend)).toEqual({ ok: true });
    await queue.enqueue({ kind: 'review', orderKey: 'mr:1:1', dedupeKeys: ['k'], data: {} });
    const keys = await redis.keys('*');
    const ours = keys.filter((k) => k.includes(prefix));
    expect(ours.length).toBeGreaterThan(1);
    expect(ours.every((k) => k.startsWith(`${prefix}:`))).toBe(true);
    expect(backend.redisReady!()).toBe(true);
  });
});

// Stores for tests of the store itself: an embedded SQLite store in a temp dir, and two replicas' Redis stores on one
// Redis (each with its own connection and locks, as in scale-out). Everything is removed after the file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { RedisLocks } from '../../src/claude/redis-locks.js';
import { redisStore } from '../../src/store/redis.js';
import { Store } from '../../src/store/store.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function testStores(prefixDir: string) {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  function sqliteStore(): Store {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefixDir}-`));
    const s = Store.sqlite(dir);
    cleanups.push(async () => {
      await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    return s;
  }

  /** Two replicas' stores on one Redis, each with its own connection and locks, like scale-out. */
  function redisReplicas(): [Store, Store] {
    const prefix = `mrrtest-${randomUUID().slice(0, 8)}`;
    const conns: Redis[] = [];
    const make = () => {
      const r = new Redis(REDIS_URL);
      conns.push(r);
      const locks = new RedisLocks(r, { prefix, ttlMs: 5_000 });
      return redisStore(REDIS_URL, prefix, (key, fn) => locks.exclusive(key, fn));
    };
    const stores: [Store, Store] = [make(), make()];
    cleanups.push(async () => {
      const keys = await conns[0]!.keys(`${prefix}:*`);
      if (keys.length) await conns[0]!.del(...keys);
      for (const s of stores) await s.close();
      for (const c of conns) c.disconnect();
    });
    return stores;
  }
  return { sqliteStore, redisReplicas };
}

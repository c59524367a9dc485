// Where state, jobs and session locks live: embedded (SQLite under DATA_DIR, in-process locks) by default, Redis
// when REDIS_URL is set (keyv's Redis store, BullMQ, cross-replica locks, transcripts copied between replicas).
// Everything above the Store, Queue and SessionLocks interfaces is the same in both.
import path from 'node:path';
import { Redis } from 'ioredis';
import { LocalLocks, type SessionLocks } from './claude/locks.js';
import { PortableSessions, type SessionHooks } from './claude/portable.js';
import { RedisLocks } from './claude/redis-locks.js';
import type { Config } from './config.js';
import type { Queue, QueueEvents, RetryPolicy } from './jobs/queue.js';
import { RedisQueue } from './jobs/redis-queue.js';
import { SpoolingQueue } from './jobs/spool.js';
import { SqliteQueue } from './jobs/sqlite-queue.js';
import type { Logger } from './logger.js';
import { redisStore } from './store/redis.js';
import { Store } from './store/store.js';

export interface QueueSettings {
  concurrency: number;
  policy: RetryPolicy;
  events: QueueEvents;
  /** how long delivery ids are remembered */
  dedupeTtlMs?: number;
}

export interface Backend {
  kind: 'sqlite' | 'redis';
  store: Store;
  locks: SessionLocks;
  /** Redis mode: one round trip, for /readyz */
  ping?: () => Promise<unknown>;
  /** portable sessions (Redis mode only) */
  sessionHooks?: SessionHooks;
  /** the job queue, with main.ts's settings (concurrency, retry policy, events); jobs run once it is given a handler */
  queue(s: QueueSettings): Queue;
  /** after the queue and the store are closed */
  close(): Promise<void>;
  /** Redis mode: whether the shared Redis connection is up now (for /readyz) */
  redisReady?(): boolean;
}

export function createBackend(config: Config, o: { log: Logger; claudeDir: string }): Backend {
  if (!config.REDIS_URL) {
    if (config.MR_REVIEWER_ROLE !== 'all') {
      o.log.warn({ role: config.MR_REVIEWER_ROLE }, 'MR_REVIEWER_ROLE is set but REDIS_URL is not: this replica shares no queue with any other');
    }
    return {
      kind: 'sqlite',
      store: Store.sqlite(config.dataDir),
      locks: new LocalLocks(),
      queue: (s) =>
        new SqliteQueue({
          file: path.join(config.dataDir, 'queue.sqlite'),
          ...s,
          // A full disk: the queue keeps the process up, holds jobs where they are and writes again when space returns.
          onError: (e, where) =>
            o.log[where === 'open' ? 'error' : 'warn'](
              { where, err: e instanceof Error ? e.message : String(e) },
              where === 'open' ? 'job queue not writable at start-up: running degraded (webhooks answer 503) until it is' : 'job queue: write failed; retrying',
            ),
        }),
      close: async () => undefined,
    };
  }
  const url = config.REDIS_URL;
  const prefix = config.REDIS_PREFIX;
  const redis = new Redis(url, { lazyConnect: false });
  redis.on('error', (e) => o.log.warn({ err: e.message }, 'redis connection error'));
  const locks = new RedisLocks(redis, {
    prefix,
    ttlMs: config.JOB_LOCK_MS,
    onLost: (key) => o.log.warn({ sessionId: key }, 'session lock expired while held (process paused or Redis failover)'),
  });
  return {
    kind: 'redis',
    // MR records are written by the MR's lane and by its threads' lanes, possibly on different replicas.
    store: redisStore(url, prefix, (key, fn) => locks.exclusive(key, fn)),
    locks,
    ping: () => redis.ping(),
    sessionHooks: new PortableSessions({ redis, prefix, configDir: o.claudeDir, log: o.log }),
    redisReady: () => redis.status === 'ready',
    // Deliveries that cannot reach Redis are spooled under DATA_DIR and forwarded when it is back (jobs/spool.ts).
    queue: (s) =>
      new SpoolingQueue({
        file: path.join(config.dataDir, 'spool.sqlite'),
        connected: () => redis.status === 'ready',
        inner: new RedisQueue({
          redis,
          prefix,
          ...s,
          lockMs: config.JOB_LOCK_MS,
          onError: (e, where) => o.log.warn({ where, err: e instanceof Error ? e.message : String(e) }, 'job queue: redis error'),
        }),
        onSpooled: (spec, reason) => o.log.warn({ kind: spec.kind, orderKey: spec.orderKey, reason }, 'redis unreachable: delivery spooled locally'),
        onForwarded: (spec, r) => o.log.info({ kind: spec.kind, orderKey: spec.orderKey, job: r.id, duplicate: r.duplicate }, 'spooled delivery forwarded to redis'),
        onError: (e, where) => o.log.warn({ where, err: e instanceof Error ? e.message : String(e) }, 'job spool: redis error'),
      }),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

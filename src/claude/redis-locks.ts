// Per-session read/write locks across replicas. Each holder has a token and an expiry that it renews while it
// holds the lock, so a dead replica blocks a session for at most `ttlMs`. Holders in one process go through Redis
// too: a writer waiting behind a local reader must still be seen by other replicas' new readers.
//
// Hand-written over a library (redlock and friends): they offer exclusive locks only, and forks need a shared
// one on the trunk (forks read it at once). Waiting is polling with jitter: a release is rare (one per CLI call) and a
// pub/sub wake-up would need a subscriber connection per replica for little gain.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { SessionLocks } from './locks.js';
import { redisKey } from '../keys.js';

// KEYS: writer, readers (zset token → expiry ms), writer-intent. A waiting writer's intent holds new readers back.
const TRY_EXCLUSIVE = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('ZCARD', KEYS[2]) > 0 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1`;

const TRY_SHARED = `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3] + ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;

const RENEW = `
if ARGV[3] == 'x' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return 0
end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[4] + ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;

const RELEASE = `
if ARGV[2] == 'x' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1`;

type Scripted = Redis & {
  mrrLockX(...a: (string | number)[]): Promise<number>;
  mrrLockS(...a: (string | number)[]): Promise<number>;
  mrrLockRenew(...a: (string | number)[]): Promise<number>;
  mrrLockRelease(...a: (string | number)[]): Promise<number>;
};

export interface RedisLocksOptions {
  prefix: string;
  /** how long a holder that stopped renewing (a dead replica) keeps the lock */
  ttlMs?: number;
  pollMs?: number;
  /** the lock expired under a live holder (paused process, Redis failover): two runs may now overlap */
  onLost?(key: string): void;
}

export class RedisLocks implements SessionLocks {
  private readonly r: Scripted;
  private readonly ttl: number;

  constructor(redis: Redis, private readonly o: RedisLocksOptions) {
    this.ttl = o.ttlMs ?? 30_000;
    this.r = redis as Scripted;
    this.r.defineCommand('mrrLockX', { numberOfKeys: 3, lua: TRY_EXCLUSIVE });
    this.r.defineCommand('mrrLockS', { numberOfKeys: 3, lua: TRY_SHARED });
    this.r.defineCommand('mrrLockRenew', { numberOfKeys: 2, lua: RENEW });
    this.r.defineCommand('mrrLockRelease', { numberOfKeys: 2, lua: RELEASE });
  }

  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.with(key, 'x', fn);
  }

  shared<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.with(key, 's', fn);
  }

  private keys(key: string): [string, string, string] {
    const base = redisKey.lock(this.o.prefix, key);
    return [`${base}:w`, `${base}:r`, `${base}:wi`];
  }

  private async with<T>(key: string, mode: 'x' | 's', fn: () => Promise<T>): Promise<T> {
    const token = randomUUID();
    const [w, r, wi] = this.keys(key);
    const poll = this.o.pollMs ?? 100;
    for (let wait = poll; ; wait = Math.min(wait * 2, 1_000)) {
      const ok = mode === 'x'
        ? await this.r.mrrLockX(w, r, wi, token, this.ttl, Date.now(), wait * 3)
        : await this.r.mrrLockS(w, r, wi, token, this.ttl, Date.now());
      if (ok === 1) break;
      await sleep(wait / 2 + Math.random() * (wait / 2));
    }
    const renew = setInterval(() => {
      this.r.mrrLockRenew(w, r, token, this.ttl, mode, Date.now()).then(
        (held) => held === 0 && this.o.onLost?.(key),
        () => undefined, // Redis unreachable: the next renewal tries again, the expiry bounds the damage
      );
    }, Math.max(100, Math.floor(this.ttl / 3)));
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await this.r.mrrLockRelease(w, r, token, mode).catch(() => undefined);
    }
  }
}

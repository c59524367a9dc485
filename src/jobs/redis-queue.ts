// The scale-out queue: BullMQ for durable jobs, stalled-job recovery and delays; per-order-key FIFO and multi-key
// dedupe on top, in Redis, because BullMQ's open-source edition has no groups.
//
// How ordering works: enqueue (one Lua script) checks-and-sets the dedupe keys and appends the job id to its lane,
// a Redis list per order key; only then is the BullMQ job added. A worker that picks a job runs it only when it is
// the head of its lane and it can take the lane lock (a key with expiry, renewed while the job runs). Anything else
// goes back to BullMQ's delayed set for a moment. The lane advances when the head finishes or fails for good; a
// retry keeps its place at the head. A dead holder stops renewing, BullMQ's stalled check puts the job back, and
// the next run gets the lane once the old lock expires. A sweeper repairs lanes whose head BullMQ no longer knows
// (a crash between the script and `add`) or failed by itself (stalled too often).
import { randomUUID } from 'node:crypto';
import { DelayedError, Queue as BullQueue, UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { waitUntilDrained, type EnqueueResult, type Job, type JobHandler, type JobSpec, type Queue, type QueueEvents, type QueueStats, type RetryPolicy } from './queue.js';
import { redisKey } from '../keys.js';

export interface RedisQueueOptions {
  /** a connection for commands; the queue duplicates it for BullMQ's blocking worker */
  redis: Redis;
  /** key prefix (BullMQ's `prefix`): one per deployment, or per test */
  prefix: string;
  name?: string;
  concurrency: number;
  policy: RetryPolicy;
  events?: QueueEvents;
  /** how long dedupe keys are remembered (as sqlite-queue) */
  dedupeTtlMs?: number;
  /** lane lock and BullMQ job lock: how long a dead replica can hold a lane */
  lockMs?: number;
  /** how long a job that is not its lane's head waits before it looks again */
  laneWaitMs?: number;
  /** how often lanes are checked for heads BullMQ lost */
  sweepMs?: number;
  onError?(err: unknown, where: string): void;
}

interface BullData {
  id: string;
}

// All-or-nothing: either every dedupe key is new and the job is recorded, or nothing changes.
const ENQUEUE = `
for i = 5, #KEYS do
  local hit = redis.call('GET', KEYS[i])
  if hit then return {0, i - 4, hit} end
end
for i = 5, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[4]) end
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'attempts', 0, 'createdAt', ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return {1}`;

// {1, attempt, spec, createdAt} = run it; {0} = not yet (not the head, or the lane is locked); {-1} = gone (finished).
const CLAIM = `
if redis.call('EXISTS', KEYS[3]) == 0 then return {-1} end
local head = redis.call('LINDEX', KEYS[1], 0)
if head ~= ARGV[1] then
  if not redis.call('LPOS', KEYS[1], ARGV[1]) then return {-1} end
  return {0}
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return {0} end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local attempt = redis.call('HINCRBY', KEYS[3], 'attempts', 1)
return {1, attempt, redis.call('HGET', KEYS[3], 'spec'), redis.call('HGET', KEYS[3], 'createdAt')}`;

// Also takes the lock back when it expired while Redis was unreachable and nobody else took the lane meanwhile:
// the job is still running here, so its lane must not be claimed by a second run once Redis is back. Only while the
// job is its lane's unfinished head: a renewal that reaches Redis after FINISH must not lock the lane again.
const RENEW = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder and redis.call('EXISTS', KEYS[2]) == 1 and redis.call('LINDEX', KEYS[3], 0) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

// Give the lane back but keep the head (a retry, or a shutdown); a shutdown does not count the attempt.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'attempts', -1) end
return 1`;

// The head is done (or dead): advance the lane. Returns {removed, next head}.
const FINISH = `
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[5], ARGV[1])
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[4], ARGV[3]) end
return {removed, redis.call('LINDEX', KEYS[1], 0)}`;

// A job failed for good: forget the dedupe keys it still owns, so a resend of the same event runs again.
const FORGET = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1`;

type Scripted = Redis & {
  mrrForget(...a: (string | number)[]): Promise<number>;
  mrrEnqueue(...a: (string | number)[]): Promise<[number, number?, string?]>;
  mrrClaim(...a: (string | number)[]): Promise<[number, number?, string?, string?]>;
  mrrRenew(...a: (string | number)[]): Promise<number>;
  mrrRelease(...a: (string | number)[]): Promise<number>;
  mrrFinish(...a: (string | number)[]): Promise<[number, string | null]>;
};

interface Running {
  abort: AbortController;
  done: Promise<void>;
}

export class RedisQueue implements Queue {
  private readonly r: Scripted;
  private readonly bull: BullQueue<BullData>;
  private readonly name: string;
  private readonly lockMs: number;
  private worker?: Worker<BullData>;
  private workerConn?: Redis;
  private handler?: JobHandler;
  private running = new Map<string, Running>();
  private stopping = false;
  private closed = false;
  private sweeper?: NodeJS.Timeout;

  constructor(private readonly o: RedisQueueOptions) {
    this.name = o.name ?? 'jobs';
    this.lockMs = o.lockMs ?? 30_000;
    this.r = o.redis as Scripted;
    this.r.defineCommand('mrrEnqueue', { lua: ENQUEUE });
    this.r.defineCommand('mrrClaim', { numberOfKeys: 3, lua: CLAIM });
    this.r.defineCommand('mrrRenew', { numberOfKeys: 3, lua: RENEW });
    this.r.defineCommand('mrrRelease', { numberOfKeys: 2, lua: RELEASE });
    this.r.defineCommand('mrrFinish', { numberOfKeys: 5, lua: FINISH });
    this.r.defineCommand('mrrForget', { lua: FORGET });
    this.bull = new BullQueue<BullData>(this.name, {
      connection: o.redis,
      prefix: o.prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: { age: 30 * 24 * 3600, count: 1000 } },
    });
    this.bull.on('error', (e) => this.o.onError?.(e, 'queue'));
  }

  private key(...parts: string[]): string {
    return redisKey.queue(this.o.prefix, this.name, ...parts);
  }

  private laneKeys(orderKey: string, id: string): string[] {
    return [this.key('lane', orderKey), this.key('lanelock', orderKey), this.key('spec', id), this.key('lanes'), this.key('pending')];
  }

  async enqueue(spec: JobSpec): Promise<EnqueueResult> {
    const id = randomUUID();
    const now = Date.now();
    const ttl = this.o.dedupeTtlMs ?? 7 * 24 * 3600_000;
    const [lane, , specKey, lanes, pending] = this.laneKeys(spec.orderKey, id);
    const dedupe = spec.dedupeKeys.map((k) => this.key('dedupe', k));
    const keys = [specKey!, lane!, lanes!, pending!, ...dedupe];
    const res = await this.r.mrrEnqueue(keys.length, ...keys, id, JSON.stringify(spec), now, ttl, spec.orderKey);
    if (res[0] === 0) return { id: res[2], duplicate: true, key: spec.dedupeKeys[res[1]! - 1]! };
    // Recorded: from here the job runs even if `add` fails (the sweeper re-adds it), so the webhook may be answered.
    const delay = Math.max(0, (spec.notBefore ?? 0) - now);
    await this.bull.add(spec.kind, { id }, delay > 0 ? { jobId: id, delay } : { jobId: id });
    return { id, duplicate: false };
  }

  start(handler: JobHandler): void {
    this.handler = handler;
    this.stopping = false;
    // BullMQ's worker needs a connection that never gives up on a command (maxRetriesPerRequest: null).
    this.workerConn = this.o.redis.duplicate({ maxRetriesPerRequest: null });
    this.worker = new Worker<BullData>(this.name, (job, token) => this.process(job, token), {
      connection: this.workerConn,
      prefix: this.o.prefix,
      concurrency: this.o.concurrency,
      lockDuration: this.lockMs,
      stalledInterval: Math.max(500, Math.floor(this.lockMs / 2)),
      // a job that keeps killing its replica (OOM) fails after a few tries instead of looping forever
      maxStalledCount: 3,
      autorun: true,
    });
    this.worker.on('error', (e) => this.o.onError?.(e, 'worker'));
    const sweepMs = this.o.sweepMs ?? 10_000;
    let sweeping = false; // a sweep that waits out a Redis outage must not be joined by the next ones
    this.sweeper = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      void this.sweep()
        .catch((e) => this.o.onError?.(e, 'sweep'))
        .finally(() => (sweeping = false));
    }, sweepMs);
    this.sweeper.unref();
  }

  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    if (!this.worker) return;
    const closing = this.worker.close();
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), deadlineMs))),
    ]);
    clearTimeout(timer);
    if (expired) {
      for (const r of this.running.values()) r.abort.abort(new Error('shutting down'));
      await closing;
    }
  }

  async stats(): Promise<QueueStats> {
    const c = await this.bull.getJobCounts('wait', 'delayed', 'prioritized', 'active', 'failed', 'paused');
    const oldest = await this.r.zrange(this.key('pending'), 0, 0, 'WITHSCORES');
    return {
      pending: (c.wait ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c.paused ?? 0),
      running: c.active ?? 0,
      failed: c.failed ?? 0,
      oldestPendingAgeMs: oldest[1] ? Date.now() - Number(oldest[1]) : 0,
    };
  }

  drained(timeoutMs = 60_000): Promise<void> {
    return waitUntilDrained({ stats: () => this.stats(), localRunning: () => this.running.size }, timeoutMs, 100);
  }

  async close(): Promise<void> {
    this.stopping = true;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await this.worker?.close(true).catch(() => undefined);
    this.workerConn?.disconnect();
    await this.bull.close().catch(() => undefined);
  }

  /** Dedupe keys expire by themselves (PX); failed BullMQ jobs past the window are cleaned here. */
  async retain(o: { failedJobMs: number }): Promise<number> {
    return (await this.bull.clean(o.failedJobMs, 10_000, 'failed')).length;
  }

  private async process(bj: BullJob<BullData>, token?: string): Promise<void> {
    const id = bj.data.id;
    const specRaw = await this.untilRedis(() => this.r.hget(this.key('spec', id), 'spec'));
    if (!specRaw) return; // finished by an earlier run whose completion BullMQ never heard of
    const spec = JSON.parse(specRaw) as JobSpec;
    const keys = this.laneKeys(spec.orderKey, id);
    const runToken = randomUUID();
    const claim = this.stopping ? [0] : await this.untilRedis(() => this.r.mrrClaim(keys[0]!, keys[1]!, keys[2]!, id, runToken, this.lockMs));
    if (claim[0] === -1) return;
    if (claim[0] === 0) {
      // Not this job's turn: look again shortly (the finishing head also promotes its successor).
      await bj.moveToDelayed(Date.now() + (this.o.laneWaitMs ?? 1_000), token);
      throw new DelayedError();
    }
    const job: Job = { ...spec, id, attempt: claim[1]!, createdAt: Number(claim[3]) };
    const abort = new AbortController();
    const renew = setInterval(() => {
      this.r.mrrRenew(keys[1]!, keys[2]!, keys[0]!, runToken, this.lockMs, id).catch((e) => this.o.onError?.(e, 'renew'));
    }, Math.max(200, Math.floor(this.lockMs / 3)));
    let release!: () => void;
    this.running.set(id, { abort, done: new Promise<void>((r) => (release = r)) });
    const started = Date.now();
    try {
      await this.handler!(job, { signal: abort.signal });
      await this.finish(spec.orderKey, id, runToken);
      this.o.events?.onDone?.(job, Date.now() - started);
    } catch (err) {
      await this.settleFailure(bj, token, job, runToken, err, abort.signal.aborted);
    } finally {
      clearInterval(renew);
      this.running.delete(id);
      release();
    }
  }

  private async settleFailure(bj: BullJob<BullData>, token: string | undefined, job: Job, runToken: string, err: unknown, aborted: boolean): Promise<never> {
    const lockKey = this.key('lanelock', job.orderKey);
    const specKey = this.key('spec', job.id);
    if (aborted && this.stopping) {
      await this.untilRedis(() => this.r.mrrRelease(lockKey, specKey, runToken, '1'));
      await bj.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    const delay = this.o.policy.delayFor(err, job.attempt, Date.now() - job.createdAt);
    if (delay !== null && job.attempt < this.o.policy.maxAttempts) {
      await this.untilRedis(() => this.r.mrrRelease(lockKey, specKey, runToken, '0'));
      this.o.events?.onRetry?.(job, err, delay);
      await bj.moveToDelayed(Date.now() + delay, token);
      throw new DelayedError();
    }
    // The last try: tell the MR while the lane is still held, so a later job of the lane comes after the note.
    try {
      await this.o.events?.onDead?.(job, err);
    } catch {
      /* onDead logs its own failures */
    }
    await this.forget(job);
    await this.finish(job.orderKey, job.id, runToken);
    throw new UnrecoverableError(err instanceof Error ? err.message : String(err));
  }

  private async forget(job: Pick<Job, 'id' | 'dedupeKeys'>): Promise<void> {
    if (!job.dedupeKeys.length) return;
    const keys = job.dedupeKeys.map((k) => this.key('dedupe', k));
    await this.r.mrrForget(keys.length, ...keys, job.id);
  }

  private async finish(orderKey: string, id: string, runToken: string): Promise<number> {
    const k = this.laneKeys(orderKey, id);
    const [removed, next] = await this.untilRedis(() => this.r.mrrFinish(k[0]!, k[1]!, k[2]!, k[3]!, k[4]!, id, runToken, orderKey));
    // Best effort: a head that stays delayed is picked up at its time anyway. It must not fail a finished job.
    if (next) await this.promote(next).catch((e) => this.o.onError?.(e, 'promote'));
    return removed;
  }

  /**
   * Redis outage: a lane or job-state command that fails is tried again until Redis answers (or the queue closes),
   * never turned into a job failure. A job whose handler already finished keeps its result: its `finish` waits here.
   */
  private async untilRedis<T>(fn: () => Promise<T>): Promise<T> {
    for (let wait = 200, tries = 0; ; wait = Math.min(wait * 2, 2_000), tries++) {
      try {
        return await fn();
      } catch (e) {
        if (this.closed) throw e;
        if (tries === 0) this.o.onError?.(e, 'redis command; retrying until redis answers');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** The next head may be sleeping in the delayed set after bouncing off the lane: wake it now. */
  private async promote(id: string): Promise<void> {
    const j = await this.bull.getJob(id);
    if (j && (await j.isDelayed())) await j.promote().catch(() => undefined);
  }

  /** Repair lanes whose head BullMQ lost (crash between the script and `add`) or failed on its own (stalled too often). */
  async sweep(): Promise<void> {
    for (const orderKey of await this.r.smembers(this.key('lanes'))) {
      const head = await this.r.lindex(this.key('lane', orderKey), 0);
      if (!head) {
        await this.r.srem(this.key('lanes'), orderKey);
        continue;
      }
      const bj = await this.bull.getJob(head);
      if (!bj) {
        const spec = await this.r.hget(this.key('spec', head), 'spec');
        if (spec) await this.bull.add((JSON.parse(spec) as JobSpec).kind, { id: head }, { jobId: head });
        else await this.finish(orderKey, head, '');
        continue;
      }
      const state = await bj.getState();
      if (state === 'failed' || state === 'completed') {
        const spec = await this.r.hgetall(this.key('spec', head));
        if ((await this.finish(orderKey, head, '')) === 1 && state === 'failed' && spec.spec) {
          const job: Job = { ...(JSON.parse(spec.spec) as JobSpec), id: head, attempt: Number(spec.attempts), createdAt: Number(spec.createdAt) };
          await this.forget(job);
          await this.o.events?.onDead?.(job, new Error(bj.failedReason || 'job failed'));
        }
      }
    }
  }
}

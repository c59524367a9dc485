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
//
// Dependent jobs (AwaitJob): the waiting job stays its lane's head, gives the lane lock back and sleeps in BullMQ's
// delayed set; the job it waits for keeps a set of its waiters, and its FINISH wakes them (promote). BullMQ's own
// flows (parent/child) do not fit: a child has one parent, and many threads wait for one trunk review. A wake that
// is lost to a crash is found by the sweeper, and a parked job looks again by itself every parkMs.
import { randomUUID } from 'node:crypto';
import { DelayedError, Queue as BullQueue, UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import { settledWithin } from '../deadline.js';
import type { Redis } from 'ioredis';
import { AwaitJob, awaitRefusal, interruptLimit, waitUntilDrained, type EnqueueResult, type Job, type JobHandler, type JobSpec, type Queue, type QueueEvents, type QueueStats, type RetryPolicy } from './queue.js';
import { PermanentError } from './retry.js';
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
  /** how often a job waiting for another (AwaitJob) looks by itself whether that one ended (a lost wake-up) */
  parkMs?: number;
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

// {1, attempt, spec, createdAt, waits} = run it; {0} = not yet (not the head, or the lane is locked);
// {-1} = gone (finished); {-2} = still waiting for another job (AwaitJob) that has not ended.
const CLAIM = `
if redis.call('EXISTS', KEYS[3]) == 0 then return {-1} end
local head = redis.call('LINDEX', KEYS[1], 0)
if head ~= ARGV[1] then
  if not redis.call('LPOS', KEYS[1], ARGV[1]) then return {-1} end
  return {0}
end
local waitingOn = redis.call('HGET', KEYS[3], 'waitingOn')
if waitingOn then
  if redis.call('EXISTS', ARGV[4] .. waitingOn) == 1 then return {-2} end
  redis.call('HDEL', KEYS[3], 'waitingOn')
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return {0} end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local attempt = redis.call('HINCRBY', KEYS[3], 'attempts', 1)
local f = redis.call('HMGET', KEYS[3], 'spec', 'createdAt', 'waits')
return {1, attempt, f[1], f[2], f[3] or '0'}`;

// Park the running head KEYS[1] behind a job: a live one that owns one of the dedupe keys (KEYS[6..]), else a new
// one recorded as ENQUEUE does. The attempt is not counted and the lane lock is given back; the head stays.
// Returns {created, id waited for}.
const AWAIT = `
local dep
for i = 6, #KEYS do
  local hit = redis.call('GET', KEYS[i])
  if hit and redis.call('EXISTS', ARGV[8] .. hit) == 1 then
    dep = hit
    break
  end
end
local created = 0
if not dep then
  dep = ARGV[3]
  for i = 6, #KEYS do redis.call('SET', KEYS[i], dep, 'PX', ARGV[6]) end
  redis.call('HSET', ARGV[8] .. dep, 'spec', ARGV[4], 'attempts', 0, 'createdAt', ARGV[5])
  redis.call('RPUSH', KEYS[3], dep)
  redis.call('SADD', KEYS[4], ARGV[7])
  redis.call('ZADD', KEYS[5], ARGV[5], dep)
  created = 1
end
redis.call('SADD', ARGV[9] .. dep, ARGV[1])
redis.call('HSET', KEYS[1], 'waitingOn', dep)
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('HINCRBY', KEYS[1], 'waits', 1)
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return {created, dep}`;

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

// The head is done (or dead): advance the lane and hand over the jobs that waited for it. Returns
// {removed, waiters to wake, next head}.
const FINISH = `
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[5], ARGV[1])
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[4], ARGV[3]) end
local waiters = redis.call('SMEMBERS', KEYS[6])
redis.call('DEL', KEYS[6])
return {removed, waiters, redis.call('LINDEX', KEYS[1], 0)}`;

// A job failed for good: forget the dedupe keys it still owns, so a resend of the same event runs again.
const FORGET = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1`;

type Scripted = Redis & {
  mrrForget(...a: (string | number)[]): Promise<number>;
  mrrEnqueue(...a: (string | number)[]): Promise<[number, number?, string?]>;
  mrrClaim(...a: (string | number)[]): Promise<[number, number?, string?, string?, string?]>;
  mrrAwait(...a: (string | number)[]): Promise<[number, string]>;
  mrrRenew(...a: (string | number)[]): Promise<number>;
  mrrRelease(...a: (string | number)[]): Promise<number>;
  mrrFinish(...a: (string | number)[]): Promise<[number, string[], string | null]>;
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
    this.r.defineCommand('mrrFinish', { numberOfKeys: 6, lua: FINISH });
    this.r.defineCommand('mrrAwait', { lua: AWAIT });
    this.r.defineCommand('mrrForget', { lua: FORGET });
    this.bull = new BullQueue<BullData>(this.name, {
      connection: o.redis,
      prefix: o.prefix,
      // Failed jobs stay until retention removes them (retain), as in the SQLite queue.
      defaultJobOptions: { removeOnComplete: true, removeOnFail: false },
    });
    this.bull.on('error', (e) => this.o.onError?.(e, 'queue'));
  }

  private key(...parts: string[]): string {
    return redisKey.queue(this.o.prefix, this.name, ...parts);
  }

  private laneKeys(orderKey: string, id: string): string[] {
    return [this.key('lane', orderKey), this.key('lanelock', orderKey), this.key('spec', id), this.key('lanes'), this.key('pending'), this.key('waiters', id)];
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
      // A job that keeps killing its replica (OOM) fails instead of looping forever: BullMQ fails it at the stall
      // after maxStalledCount, so this many interrupted runs in all, as in the SQLite queue.
      maxStalledCount: interruptLimit(this.o.policy) - 1,
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
    // As the SQLite queue: running jobs get most of the deadline, then they are aborted and put back without
    // counting the attempt. One that ignores its signal is left active: its lock expires and it stalls, like a crash.
    const closing = this.worker.close();
    const grace = Math.min(2_000, Math.floor(deadlineMs / 4));
    if (await settledWithin(closing, deadlineMs - grace)) return;
    for (const r of this.running.values()) r.abort.abort(new Error('shutting down'));
    await settledWithin(closing, grace);
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
    // A stop() whose job ignored its abort left BullMQ's close pending (a second close returns the same promise):
    // bounded here, then the worker's connection goes, so its locks expire and the job stalls as after a crash.
    const closing = this.worker?.close(true).catch(() => undefined);
    if (closing) await settledWithin(closing, 2_000);
    this.workerConn?.disconnect();
    await this.bull.close().catch(() => undefined);
  }

  /** Dedupe keys expire by themselves (PX); failed jobs that failed before now - failedJobMs are removed here. */
  async retain(o: { now: number; failedJobMs: number }): Promise<number> {
    const grace = Math.max(0, o.failedJobMs - (o.now - Date.now()));
    let removed = 0;
    for (let n = -1; n !== 0; removed += n) n = (await this.bull.clean(grace, 1_000, 'failed')).length;
    return removed;
  }

  private async process(bj: BullJob<BullData>, token?: string): Promise<void> {
    const id = bj.data.id;
    const specRaw = await this.untilRedis(() => this.r.hget(this.key('spec', id), 'spec'));
    if (!specRaw) return; // finished by an earlier run whose completion BullMQ never heard of
    const spec = JSON.parse(specRaw) as JobSpec;
    const keys = this.laneKeys(spec.orderKey, id);
    const runToken = randomUUID();
    const claim = this.stopping ? [0] : await this.untilRedis(() => this.r.mrrClaim(keys[0]!, keys[1]!, keys[2]!, id, runToken, this.lockMs, this.key('spec', '')));
    if (claim[0] === -1) return;
    if (claim[0] === -2) {
      // Woken by its timer, but the job it waits for is still on the way: sleep again (its FINISH wakes this one).
      await bj.moveToDelayed(Date.now() + this.parkMs, token);
      throw new DelayedError();
    }
    if (claim[0] === 0) {
      // Not this job's turn: look again shortly (the finishing head also promotes its successor).
      await bj.moveToDelayed(Date.now() + (this.o.laneWaitMs ?? 1_000), token);
      throw new DelayedError();
    }
    const job: Job = { ...spec, id, attempt: claim[1]!, createdAt: Number(claim[3]) };
    const waited = Number(claim[4] ?? 0);
    const abort = new AbortController();
    const renew = setInterval(() => {
      this.r.mrrRenew(keys[1]!, keys[2]!, keys[0]!, runToken, this.lockMs, id).catch((e) => this.o.onError?.(e, 'renew'));
    }, Math.max(200, Math.floor(this.lockMs / 3)));
    let release!: () => void;
    this.running.set(id, { abort, done: new Promise<void>((r) => (release = r)) });
    const started = Date.now();
    try {
      await this.handler!(job, { signal: abort.signal, waited });
      await this.finish(spec.orderKey, id, runToken);
      this.o.events?.onDone?.(job, Date.now() - started);
    } catch (err) {
      const refused = err instanceof AwaitJob ? awaitRefusal(job, err, waited) : undefined;
      if (err instanceof AwaitJob && !refused) await this.park(bj, token, job, runToken, err.spec);
      await this.settleFailure(bj, token, job, runToken, refused ? new PermanentError(refused) : err, abort.signal.aborted && !refused);
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

  private get parkMs(): number {
    return this.o.parkMs ?? 5 * 60_000;
  }

  /** AwaitJob: park this job behind `spec` (or the live job sharing a dedupe key with it) until that one ends. */
  private async park(bj: BullJob<BullData>, token: string | undefined, job: Job, runToken: string, spec: JobSpec): Promise<never> {
    const depId = randomUUID();
    const now = Date.now();
    const [depLane, , , lanes, pending] = this.laneKeys(spec.orderKey, depId);
    const keys = [this.key('spec', job.id), this.key('lanelock', job.orderKey), depLane!, lanes!, pending!, ...spec.dedupeKeys.map((k) => this.key('dedupe', k))];
    const ttl = this.o.dedupeTtlMs ?? 7 * 24 * 3600_000;
    const [created, dep] = await this.untilRedis(() =>
      this.r.mrrAwait(keys.length, ...keys, job.id, runToken, depId, JSON.stringify(spec), now, ttl, spec.orderKey, this.key('spec', ''), this.key('waiters', '')),
    );
    if (created === 1) {
      const delay = Math.max(0, (spec.notBefore ?? 0) - Date.now());
      // Recorded: if `add` fails the sweeper adds it once it heads its lane, as for enqueue.
      await this.bull.add(spec.kind, { id: dep }, delay > 0 ? { jobId: dep, delay } : { jobId: dep }).catch((e) => this.o.onError?.(e, 'await add'));
    }
    await bj.moveToDelayed(Date.now() + this.parkMs, token);
    // The job waited for may have ended between the script and the move, waking nobody (this one was still active).
    if (!(await this.r.exists(this.key('spec', dep)).catch(() => 1))) await this.promote(job.id).catch(() => undefined);
    throw new DelayedError();
  }

  private async forget(job: Pick<Job, 'id' | 'dedupeKeys'>): Promise<void> {
    if (!job.dedupeKeys.length) return;
    const keys = job.dedupeKeys.map((k) => this.key('dedupe', k));
    await this.r.mrrForget(keys.length, ...keys, job.id);
  }

  private async finish(orderKey: string, id: string, runToken: string): Promise<number> {
    const k = this.laneKeys(orderKey, id);
    const [removed, waiters, next] = await this.untilRedis(() => this.r.mrrFinish(k[0]!, k[1]!, k[2]!, k[3]!, k[4]!, k[5]!, id, runToken, orderKey));
    // Best effort: a head that stays delayed is picked up at its time anyway (or by the sweeper). It must not fail a finished job.
    for (const w of [...waiters, ...(next ? [next] : [])]) await this.promote(w).catch((e) => this.o.onError?.(e, 'promote'));
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
      if (state === 'delayed') {
        // A head parked behind a job that ended without waking it (a crash after FINISH): wake it now.
        const waitingOn = await this.r.hget(this.key('spec', head), 'waitingOn');
        if (waitingOn && !(await this.r.exists(this.key('spec', waitingOn)))) await this.promote(head);
        continue;
      }
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

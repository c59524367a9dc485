// The job queue seen from above: durable enqueue with dedupe keys, per-key ordering, retries. The embedded
// implementation is SQLite (sqlite-queue.ts); the scale-out one is Redis.
import { setTimeout as sleep } from 'node:timers/promises';

/** notify: the note that tells an MR a job gave up, queued and retried like any post */
export type JobKind = 'review' | 'update' | 'reply' | 'notify';

export interface JobSpec<T = unknown> {
  kind: JobKind;
  /** jobs with one order key run one at a time, in arrival order (an MR's trunk, or one thread) */
  orderKey: string;
  /** if any of these was seen before, the job is a duplicate (delivery id, note id, MR@head) */
  dedupeKeys: string[];
  data: T;
  /** epoch ms before which the job does not start (the per-project rate limit); its lane waits behind it */
  notBefore?: number;
}

export interface Job<T = unknown> extends JobSpec<T> {
  id: string;
  /** 1 on the first run */
  attempt: number;
  createdAt: number;
}

export type EnqueueResult = { id: string; duplicate: false } | { id?: string; duplicate: true; key: string };

export interface JobContext {
  /** aborted when the process shuts down past its deadline: stop CLI children, the job stays queued */
  signal: AbortSignal;
}

export type JobHandler = (job: Job, ctx: JobContext) => Promise<void>;

export interface RetryPolicy {
  /** ms to wait before the next attempt, or null when the error is permanent or the job is past its horizon (ageMs: since enqueue) */
  delayFor(err: unknown, attempt: number, ageMs?: number): number | null;
  /** a cap on attempts (Infinity: the horizon alone decides) */
  maxAttempts: number;
  /** runs cut short by a crash before the job is declared dead instead of crash-looping (default 3, at most maxAttempts) */
  maxInterrupts?: number;
}

export interface QueueStats {
  pending: number;
  running: number;
  failed: number;
  oldestPendingAgeMs: number;
}

export interface QueueEvents {
  onRetry?(job: Job, err: unknown, delayMs: number): void;
  /** the last attempt failed or the error was permanent; the job's dedupe keys are released, so a resend runs again */
  onDead?(job: Job, err: unknown): Promise<void> | void;
  onDone?(job: Job, ms: number): void;
}

export interface Queue {
  enqueue(spec: JobSpec): Promise<EnqueueResult>;
  start(handler: JobHandler): void;
  /** stop taking jobs; wait up to deadlineMs for running ones, then abort them (they stay queued) */
  stop(deadlineMs: number): Promise<void>;
  stats(): Promise<QueueStats>;
  /** resolves when nothing is pending or running (tests, demo) */
  drained(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  /** retention (store/retention.ts): drop failed jobs older than failedJobMs and expired delivery ids; how many went */
  retain?(o: { now: number; failedJobMs: number }): Promise<number>;
}

/** Polls until a queue has nothing pending or running, here or in its store (shared by the implementations). */
export async function waitUntilDrained(q: { stats(): Promise<QueueStats>; localRunning(): number }, timeoutMs: number, pollMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await q.stats();
    if (s.pending === 0 && s.running === 0 && q.localRunning() === 0) return;
    if (Date.now() > end) throw new Error(`queue not drained after ${timeoutMs} ms: ${JSON.stringify(s)}`);
    await sleep(pollMs);
  }
}

// The job queue seen from above: durable enqueue with dedupe keys, per-key ordering, retries, dependent jobs. The
// embedded implementation is SQLite (sqlite-queue.ts); the scale-out one is Redis. Both pass one contract suite
// (test/queue-contract.test.ts).
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
  /** how many times this job was parked behind another one (AwaitJob) and woken when that one ended */
  waited: number;
}

/**
 * Thrown by a handler: "run `spec` first, then run me again". The queue enqueues `spec` (a live job that shares one of
 * its dedupe keys is waited for instead; a finished one is not, since the waiter found its result missing), parks
 * this job at the head of its lane without holding a worker slot or counting the attempt, and makes it runnable
 * again when that job ends, done or dead. `spec` must be in another lane: this one is held by the waiting job.
 */
export class AwaitJob extends Error {
  constructor(
    readonly spec: JobSpec,
    why = 'waits for another job',
  ) {
    super(why);
    this.name = 'AwaitJob';
  }
}

/**
 * A job that waited this often and still asks to wait is failed: something keeps re-creating what it waits for
 * (a review that crash-loops and leaves its trunk 'running', say).
 */
const MAX_WAITS = 5;

/** Why a handler's AwaitJob cannot be honoured, if it cannot. */
export function awaitRefusal(job: Pick<Job, 'orderKey'>, err: AwaitJob, waited: number): string | undefined {
  if (err.spec.orderKey === job.orderKey) return `a job cannot wait for a job of its own lane (${job.orderKey})`;
  if (waited >= MAX_WAITS) return `waited ${waited} times for other jobs; giving up`;
  return undefined;
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

/** The crash-loop cap both backends apply: this many runs cut short by a crash, and the job is dead. */
export function interruptLimit(p: RetryPolicy): number {
  return Math.max(1, Math.min(p.maxInterrupts ?? 3, p.maxAttempts));
}

export interface QueueStats {
  /** waiting for their turn, their time or (AwaitJob) another job */
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

// What is worth retrying, and when: one classification for every queue backend. Transient failures are retried
// with capped exponential backoff and jitter (honouring Retry-After) until a horizon measured from when the job was
// accepted; permanent ones (404, 403, 422, bad config, a bug) end the job at once.
import { ClaudeError } from '../claude/result.js';
import type { RetryPolicy } from './queue.js';

/** An error that knows whether it can heal (GitLabError, ClaudeError, GitError). */
export interface Retryable {
  transient: boolean;
  retryAfterMs?: number;
}

export class PermanentError extends Error {
  readonly transient = false;
}

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);
/** A full or busy disk heals when space or the lock comes back: the job waits, it does not fail. */
const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN', 'SQLITE_FULL', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR']);
const DISK_RE = /no space left on device|ENOSPC|database or disk is full|disk quota exceeded|SQLITE_FULL/i;

/** ioredis: everything it raises while Redis is away (redis-errors' AbortError family, its plain connection errors). */
const REDIS_NAMES = new Set(['MaxRetriesPerRequestError', 'AbortError', 'InterruptError', 'ParserError', 'ClusterAllFailedError']);
const REDIS_RE = /^(Connection is closed|Command timed out|connect ETIMEDOUT|Stream isn't writeable|Socket timeout|Ready check failed|Reached the max retries per request)/;
/** Redis replies that mean "not now" (a replica loading, a failover, memory full), not "wrong". */
const REDIS_REPLY_RE = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|OOM|MOVED|ASK)\b/;
/** The model API's own words for "later" when no status came with them. */
const MODEL_RE = /overloaded|rate.?limit|too many requests/i;

export function isTransient(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; cause?: { code?: unknown }; name?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  const code = String(e.code ?? e.cause?.code ?? '');
  // Disk full beats any verdict: a git or CLI error caused by it says "permanent" but heals.
  if (DISK_CODES.has(code) || code.startsWith('SQLITE_IOERR') || DISK_RE.test(message)) return true;
  if (err instanceof ClaudeError && err.kind === 'api' && MODEL_RE.test(message)) return true;
  if ('transient' in err && typeof (err as Retryable).transient === 'boolean') return (err as Retryable).transient;
  if (NETWORK_CODES.has(code)) return true;
  if (err instanceof TypeError && /fetch failed/i.test(message)) return true;
  if (typeof e.name === 'string' && REDIS_NAMES.has(e.name)) return true;
  if (e.name === 'ReplyError') return REDIS_REPLY_RE.test(message);
  return REDIS_RE.test(message);
}

export interface RetrySettings {
  baseMs: number;
  /** the longest single wait (Retry-After may ask for more, up to the horizon) */
  maxDelayMs?: number;
  /** how long after it was accepted a job keeps being retried */
  horizonMs?: number;
  /** an optional cap on attempts (0 or absent: the horizon alone decides) */
  maxAttempts?: number;
  random?: () => number;
}

export function backoffPolicy(o: RetrySettings): RetryPolicy {
  const maxMs = o.maxDelayMs ?? 10 * 60_000;
  const horizon = o.horizonMs ?? 24 * 3600_000;
  const random = o.random ?? Math.random;
  return {
    maxAttempts: o.maxAttempts || Infinity,
    delayFor(err, attempt, ageMs = 0) {
      if (!isTransient(err)) return null;
      const hinted = (err as Retryable).retryAfterMs;
      const exp = Math.min(maxMs, o.baseMs * 2 ** Math.min(attempt - 1, 40));
      const jittered = exp / 2 + random() * (exp / 2);
      const delay = Math.max(hinted ?? 0, Math.round(jittered));
      return ageMs + delay > horizon ? null : delay;
    },
  };
}

/** A short reason for logs, notes and metrics labels. */
export function reasonOf(err: unknown): string {
  if (err instanceof ClaudeError) return `claude ${err.kind}: ${err.message}`;
  if (err instanceof Error) return err.message.split('\n')[0]!.slice(0, 300);
  return String(err).slice(0, 300);
}

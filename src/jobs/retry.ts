// What is worth retrying, and when: exponential backoff with full jitter, honouring Retry-After.
import { ClaudeError } from '../claude/result.js';
import type { RetryPolicy } from './queue.js';

/** An error that knows whether it can heal (GitLabError, ClaudeError, network errors). */
export interface Retryable {
  transient: boolean;
  retryAfterMs?: number;
}

export class PermanentError extends Error {
  readonly transient = false;
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

export function isTransient(err: unknown): boolean {
  if (err && typeof err === 'object') {
    if ('transient' in err && typeof (err as Retryable).transient === 'boolean') return (err as Retryable).transient;
    const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    if (code && NETWORK_CODES.has(code)) return true;
    if (err instanceof TypeError && /fetch failed/i.test(err.message)) return true;
  }
  return false;
}

export function backoffPolicy(opts: { baseMs: number; maxMs?: number; maxAttempts: number; random?: () => number }): RetryPolicy {
  const maxMs = opts.maxMs ?? 5 * 60_000;
  const random = opts.random ?? Math.random;
  return {
    maxAttempts: opts.maxAttempts,
    delayFor(err, attempt) {
      if (!isTransient(err)) return null;
      const hinted = (err as Retryable).retryAfterMs;
      const exp = Math.min(maxMs, opts.baseMs * 2 ** (attempt - 1));
      const jittered = exp / 2 + random() * (exp / 2);
      return Math.max(hinted ?? 0, Math.round(jittered));
    },
  };
}

/** A short reason for logs, notes and metrics labels. */
export function reasonOf(err: unknown): string {
  if (err instanceof ClaudeError) return `claude ${err.kind}: ${err.message}`;
  if (err instanceof Error) return err.message.split('\n')[0]!.slice(0, 300);
  return String(err).slice(0, 300);
}

// Who am I (GET /user), asked at start-up: notes by this user id are never answered. Network failures and 5xx are
// retried with backoff and reported on GitLabStatus; a rejected token cannot heal, so it ends the wait at once.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import type { GitLabStatus } from '../server/readiness.js';
import type { GitLabClient } from './client.js';
import { tokenRejected } from './hints.js';
import { GitLabError } from './requester.js';

/** Who the bot is on GitLab: the token's user. Its own notes are never answered; mentions of `username` address it. */
export interface BotIdentity {
  id: number;
  username: string;
}

/** A permanent start-up failure, with the fix. */
export class StartupError extends Error {
  override name = 'StartupError';
  constructor(message: string, readonly fix: string) {
    super(`${message}; fix: ${fix}`);
  }
}

export interface IdentityOptions {
  status: GitLabStatus;
  log: Logger;
  /** aborts the wait (shutdown) */
  signal?: AbortSignal;
  /** give up after this long (a CLI run); default: wait as long as it takes (a server) */
  giveUpAfterMs?: number;
  maxDelayMs?: number;
}

const GAVE_UP = Symbol('gave up');

export async function waitForIdentity(gitlab: GitLabClient, o: IdentityOptions): Promise<BotIdentity> {
  const url = `${o.status.url}/api/v4/user`;
  const start = Date.now();
  const left = () => (o.giveUpAfterMs === undefined ? Infinity : Math.max(0, o.giveUpAfterMs - (Date.now() - start)));
  let cause = 'no answer';
  const giveUp = () => new StartupError(`cannot reach GitLab at ${url} after ${Math.round((o.giveUpAfterMs ?? 0) / 1000)} s: ${cause}`, 'check GITLAB_URL and that GitLab is up (mr-reviewer doctor)');
  for (let attempt = 1; ; attempt++) {
    o.signal?.throwIfAborted();
    try {
      const call = gitlab.currentUser();
      // A bounded wait also bounds the call in flight (a host that drops packets answers only with timeouts).
      const me = Number.isFinite(left()) ? await Promise.race([call, sleep(left(), GAVE_UP, { ref: false })]) : await call;
      if (me === GAVE_UP) {
        call.catch(() => undefined); // its late failure is not news
        throw giveUp();
      }
      o.status.reachable();
      return { id: me.id, username: me.username };
    } catch (e) {
      if (e instanceof StartupError) throw e;
      if (e instanceof GitLabError && (e.status === 401 || e.status === 403)) {
        const hint = tokenRejected(e.status);
        o.status.waiting(hint.detail);
        o.log.fatal({ url, status: e.status, fix: hint.fix }, `GitLab rejected the token: ${hint.detail}`);
        throw new StartupError(hint.detail, hint.fix);
      }
      cause = (e as Error).message;
      o.status.waiting(cause);
      if (left() === 0) throw giveUp();
      const waitMs = Math.min(o.maxDelayMs ?? 30_000, 500 * 2 ** attempt, left());
      o.log.error({ attempt, url, reason: cause, retryInMs: waitMs }, 'waiting for GitLab: GET /user failed; retrying');
      await sleep(waitMs, undefined, { signal: o.signal });
    }
  }
}

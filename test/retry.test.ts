// One retry classification for both queues: real errors from ioredis, SQLite on a full disk, the CLI and GitLab.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ClaudeError } from '../src/claude/result.js';
import { GitLabError } from '../src/gitlab/requester.js';
import { backoffPolicy, isTransient, PermanentError } from '../src/jobs/retry.js';
import { GitError } from '../src/workspace/workspaces.js';

/** A port nobody listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('isTransient', () => {
  it('Redis unreachable: MaxRetriesPerRequestError and "Connection is closed." as ioredis raises them', async () => {
    const port = await deadPort();
    const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 20, lazyConnect: false });
    r.on('error', () => undefined);
    const maxRetries = await r.get('k').catch((e: unknown) => e);
    expect((maxRetries as Error).name).toBe('MaxRetriesPerRequestError');
    expect(isTransient(maxRetries)).toBe(true);
    r.disconnect();
    // A connection that has ended (a command racing a quit or a failover's close).
    const c = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    await c.ping();
    await c.quit();
    const closed = await c.get('k').catch((e: unknown) => e);
    expect((closed as Error).message).toMatch(/Connection is closed/);
    expect(isTransient(closed)).toBe(true);
  });

  it('Redis replies: LOADING and READONLY heal, a script error does not', async () => {
    const r = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: false });
    try {
      const bad = await r.eval('return redis.error_reply("ERR boom")', 0).catch((e: unknown) => e);
      expect((bad as Error).name).toBe('ReplyError');
      expect(isTransient(bad)).toBe(false);
      const loading = await r.eval('return redis.error_reply("LOADING Redis is loading the dataset in memory")', 0).catch((e: unknown) => e);
      expect(isTransient(loading)).toBe(true);
      const readonly = await r.eval('return redis.error_reply("READONLY You can\'t write against a read only replica.")', 0).catch((e: unknown) => e);
      expect(isTransient(readonly)).toBe(true);
    } finally {
      r.disconnect();
    }
  });

  it('a full disk: ENOSPC from fs and SQLITE_FULL from better-sqlite3, and a git error that says so', () => {
    // /dev/full answers every write with ENOSPC.
    const enospc = (() => {
      try {
        fs.writeFileSync('/dev/full', 'x');
      } catch (e) {
        return e;
      }
    })();
    expect((enospc as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(isTransient(enospc)).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-retry-'));
    const db = new Database(path.join(dir, 'x.sqlite'));
    try {
      db.exec('CREATE TABLE t (x TEXT)');
      db.pragma('max_page_count = 3'); // the file may not grow: what SQLite reports on a full disk
      const full = (() => {
        try {
          for (let i = 0; i < 100; i++) db.prepare('INSERT INTO t VALUES (?)').run('y'.repeat(2000));
        } catch (e) {
          return e;
        }
      })();
      expect((full as { code?: string }).code).toBe('SQLITE_FULL');
      expect(isTransient(full)).toBe(true);
    } finally {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(isTransient(new GitError('git fetch failed: fatal: write error: No space left on device', false))).toBe(true);
  });

  it('the model: 529, 429, overloaded without a status, a signal and a busy session heal; 400 and the budget do not', () => {
    expect(isTransient(new ClaudeError('api', 'Overloaded', { status: 529 }))).toBe(true);
    expect(isTransient(new ClaudeError('api', 'rate limited', { status: 429 }))).toBe(true);
    expect(isTransient(new ClaudeError('api', 'API Error: Overloaded', { status: 400 }))).toBe(true);
    expect(isTransient(new ClaudeError('killed', 'claude was killed by SIGKILL'))).toBe(true);
    expect(isTransient(new ClaudeError('session_in_use', 'Session ID is already in use'))).toBe(true);
    expect(isTransient(new ClaudeError('api', 'prompt is too long', { status: 400 }))).toBe(false);
    expect(isTransient(new ClaudeError('budget', 'budget exceeded'))).toBe(false);
  });

  it('GitLab: 5xx, 429 and dropped connections heal; 404, 403 and 422 end the job', () => {
    const gl = (status: number) => new GitLabError(`GitLab → ${status}`, status, 'POST', 'x');
    expect([502, 503, 429, 0].map((s) => isTransient(gl(s)))).toEqual([true, true, true, true]);
    expect([404, 403, 422].map((s) => isTransient(gl(s)))).toEqual([false, false, false]);
    expect(isTransient(new PermanentError('bad repo config'))).toBe(false);
    expect(isTransient(new Error('a bug'))).toBe(false);
  });
});

describe('backoffPolicy', () => {
  const transient = (retryAfterMs?: number) => Object.assign(new Error('503'), { transient: true, retryAfterMs });

  it('doubles from the base, with jitter in the upper half, capped at the max delay', () => {
    const p = backoffPolicy({ baseMs: 100, maxDelayMs: 1_000, horizonMs: 3_600_000, random: () => 1 });
    expect([1, 2, 3, 4, 5, 50].map((a) => p.delayFor(transient(), a, 0))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    const low = backoffPolicy({ baseMs: 100, maxDelayMs: 1_000, random: () => 0 });
    expect(low.delayFor(transient(), 3, 0)).toBe(200);
  });

  it('has no attempt cap by default: the horizon since the job was accepted decides', () => {
    const p = backoffPolicy({ baseMs: 100, maxDelayMs: 1_000, horizonMs: 60_000, random: () => 1 });
    expect(p.maxAttempts).toBe(Infinity);
    expect(p.delayFor(transient(), 500, 58_000)).toBe(1_000);
    expect(p.delayFor(transient(), 500, 59_500)).toBeNull();
    expect(backoffPolicy({ baseMs: 100 }).delayFor(transient(), 1, 23 * 3600_000)).not.toBeNull(); // default 24 h
  });

  it('honours Retry-After, and never retries what cannot heal', () => {
    const p = backoffPolicy({ baseMs: 100, maxDelayMs: 1_000, random: () => 0 });
    expect(p.delayFor(transient(5_000), 1, 0)).toBe(5_000);
    expect(p.delayFor(new PermanentError('404'), 1, 0)).toBeNull();
  });
});

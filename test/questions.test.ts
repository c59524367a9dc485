// The per-user question tally (Store.takeQuestion) on both store backends, shared by two replicas on one Redis;
// the repo config keys that set who may ask; the refusal texts. The flow itself is in permissions.e2e.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisLocks } from '../src/claude/redis-locks.js';
import { audienceRefusal, budgetRefusal } from '../src/flows/questions.js';
import { parseRepoConfig } from '../src/review/repo-config.js';
import { redisStore } from '../src/store/redis.js';
import { Store } from '../src/store/store.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function sqliteStore(): Store {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-questions-'));
  const s = Store.sqlite(dir);
  cleanups.push(async () => {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return s;
}

/** Two replicas' stores on one Redis, each with its own connection and locks, like scale-out. */
function redisReplicas(): [Store, Store] {
  const prefix = `mrrtest-${randomUUID().slice(0, 8)}`;
  const conns: Redis[] = [];
  const make = () => {
    const r = new Redis(REDIS_URL);
    conns.push(r);
    const locks = new RedisLocks(r, { prefix, ttlMs: 5_000 });
    return redisStore(REDIS_URL, prefix, (key, fn) => locks.exclusive(key, fn));
  };
  const stores: [Store, Store] = [make(), make()];
  cleanups.push(async () => {
    const keys = await conns[0]!.keys(`${prefix}:*`);
    if (keys.length) await conns[0]!.del(...keys);
    for (const s of stores) await s.close();
    for (const c of conns) c.disconnect();
  });
  return stores;
}

describe('Store.takeQuestion', () => {
  it('allows N notes per user per MR, counts a retried note once, flags only the first refusal (SQLite)', async () => {
    const s = sqliteStore();
    expect(await s.takeQuestion(1, 2, 7, 100, 2)).toEqual({ allowed: true, firstRefusal: false });
    expect(await s.takeQuestion(1, 2, 7, 100, 2)).toEqual({ allowed: true, firstRefusal: false }); // the same note again
    expect(await s.takeQuestion(1, 2, 7, 101, 2)).toEqual({ allowed: true, firstRefusal: false });
    expect(await s.takeQuestion(1, 2, 7, 102, 2)).toEqual({ allowed: false, firstRefusal: true });
    expect(await s.takeQuestion(1, 2, 7, 102, 2)).toEqual({ allowed: false, firstRefusal: true }); // a retried job of the refused note still owes its reply
    expect(await s.takeQuestion(1, 2, 7, 103, 2)).toEqual({ allowed: false, firstRefusal: false });
    // another user, another MR, another project: their own tallies
    expect((await s.takeQuestion(1, 2, 8, 104, 2)).allowed).toBe(true);
    expect((await s.takeQuestion(1, 3, 7, 105, 2)).allowed).toBe(true);
    expect((await s.takeQuestion(9, 2, 7, 106, 2)).allowed).toBe(true);
  });

  it('holds across replicas on Redis, under concurrent questions', async () => {
    const [a, b] = redisReplicas();
    const verdicts = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).takeQuestion(1, 2, 7, 200 + i, 3)));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(3);
    expect(verdicts.filter((v) => v.firstRefusal)).toHaveLength(1);
    expect((await b.takeQuestion(1, 2, 7, 999, 3)).allowed).toBe(false);
  });
});

describe('who may ask: repo config and replies', () => {
  const defaults = { reviewDrafts: false, minSeverity: 'minor' as const, reviewBudgetUsd: 2, threadBudgetUsd: 0.5, questionsPerUserPerDay: 20 };

  it('defaults to everyone and the instance limit; the file can narrow both', () => {
    expect(parseRepoConfig(undefined, defaults).config).toMatchObject({ questions: 'everyone', questionsPerUserPerDay: 20 });
    expect(parseRepoConfig('questions: developers\nquestions_per_user_per_day: 0\n', defaults).config).toMatchObject({ questions: 'developers', questionsPerUserPerDay: 0 });
    const bad = parseRepoConfig('questions: admins\n', defaults);
    expect(bad.error).toContain('questions');
    expect(bad.config.questions).toBe('everyone');
  });

  it('says who may ask and where that is set; the budget reply says when it resets', () => {
    expect(audienceRefusal('developers')).toContain('people with the Developer role or higher');
    expect(audienceRefusal('members')).toContain('`questions` in `.gitlab/mr-reviewer.yml`');
    expect(budgetRefusal(1)).toContain('limit of 1 answered question on');
    expect(budgetRefusal(5)).toContain('00:00 UTC');
  });
});

// The per-user question tally (Store.takeQuestion) on both store backends, shared by two replicas on one Redis;
// the repo config keys that set who may ask; the refusal texts. The flow itself is in permissions.e2e.
import { describe, expect, it } from 'vitest';
import { audienceRefusal, budgetRefusal } from '../../src/flows/questions.js';
import { parseRepoConfig } from '../../src/review/repo-config.js';
import { testStores } from '../support/stores.js';

const { sqliteStore, redisReplicas } = testStores('mrr-questions');

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


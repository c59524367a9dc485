import { describe, expect, it } from 'vitest';
import { defaultRepoConfig, parseRepoConfig, pathFilter, placement, REPO_CONFIG_PATH } from '../src/review/repo-config.js';

const defaults = { reviewDrafts: false, minSeverity: 'minor' as const, reviewBudgetUsd: 2, threadBudgetUsd: 0.5, language: 'English', questionsPerUserPerDay: 20 };

describe('parseRepoConfig', () => {
  it('gives the instance defaults for a missing, blank or empty file', () => {
    const base = defaultRepoConfig(defaults);
    for (const text of [undefined, '', '  \n', '# only a comment\n']) expect(parseRepoConfig(text, defaults)).toEqual({ config: base });
    expect(base).toMatchObject({ include: [], exclude: [], autoReview: true, questions: 'everyone', reviewBudgetUsd: 2 });
  });

  it('maps every setting of the file onto the config', () => {
    const text = [
      'instructions: Check SQL.',
      'include: ["src/**"]',
      'exclude: ["src/gen/**"]',
      'review_drafts: true',
      'severity_threshold: major',
      'budget_per_review_usd: 5',
      'budget_per_thread_usd: 1',
      'language: German',
      'auto_review: false',
      'questions: members',
      'questions_per_user_per_day: 3',
      'apply:',
      '  deny: ["db/**"]',
      '  max_diff_lines: 50',
      '  forks: true',
      'blocking: all',
      'minor: summary',
      'on_verification_failure: hold',
    ].join('\n');
    expect(parseRepoConfig(text, defaults)).toEqual({
      config: {
        instructions: 'Check SQL.',
        include: ['src/**'],
        exclude: ['src/gen/**'],
        reviewDrafts: true,
        minSeverity: 'major',
        reviewBudgetUsd: 5,
        threadBudgetUsd: 1,
        language: 'German',
        autoReview: false,
        questions: 'members',
        questionsPerUserPerDay: 3,
        apply: { deny: ['db/**'], maxDiffLines: 50, forks: true },
        blocking: 'all',
        minor: 'summary',
        onVerificationFailure: 'hold',
      },
    });
  });

  it('falls back to the defaults with one line naming the problem: bad YAML, an unknown key, a value out of range', () => {
    const yaml = parseRepoConfig('include: [unclosed\n', defaults);
    expect(yaml.config).toEqual(defaultRepoConfig(defaults));
    expect(yaml.error).toMatch(new RegExp(`^${REPO_CONFIG_PATH.replace('.', '\\.')} is not valid YAML: [^\\n]+$`));
    expect(parseRepoConfig('severity: major\n', defaults).error).toMatch(/^\.gitlab\/mr-reviewer\.yml: \(top level\): .*severity/);
    const range = parseRepoConfig('budget_per_review_usd: 1000\n', defaults);
    expect(range.error).toMatch(/^\.gitlab\/mr-reviewer\.yml: budget_per_review_usd: /);
    expect(range.config.reviewBudgetUsd).toBe(2);
    expect(parseRepoConfig('- a list\n', defaults).error).toContain('(top level)');
  });
});

describe('pathFilter', () => {
  const filter = (include: string[], exclude: string[]) => pathFilter({ ...defaultRepoConfig(defaults), include, exclude });

  it('reviews everything without globs', () => {
    expect(filter([], [])('any/where.ts')).toBeUndefined();
  });

  it('skips paths outside the include globs, and excluded ones, saying which', () => {
    const f = filter(['src/**'], ['src/gen/**', '**/*.snap']);
    expect(f('src/a.ts')).toBeUndefined();
    expect(f('docs/a.md')).toBe('not in include globs');
    expect(f('src/gen/api.ts')).toBe('excluded by config');
    expect(f('src/__snapshots__/a.snap')).toBe('excluded by config');
  });

  it('matches dotfiles like any other path', () => {
    expect(filter([], ['**/.env*'])('config/.env.local')).toBe('excluded by config');
  });
});

describe('blocking levels (which findings hold a merge)', () => {
  const defaults = { reviewDrafts: false, minSeverity: 'minor' as const, reviewBudgetUsd: 1, threadBudgetUsd: 0.2, questionsPerUserPerDay: 0 };

  describe('blocking and minor', () => {
    it('default to blocking: high, minor: thread', () => {
      expect(parseRepoConfig(undefined, defaults).config).toMatchObject({ blocking: 'high', minor: 'thread' });
      expect(parseRepoConfig('blocking: none\nminor: summary\n', defaults).config).toMatchObject({ blocking: 'none', minor: 'summary' });
    });

    it('reject other values with a one-line error, and keep the defaults', () => {
      const r = parseRepoConfig('blocking: medium\n', defaults);
      expect(r.error).toMatch(/blocking/);
      expect(r.config.blocking).toBe('high');
    });

    it('high blocks critical and major; all blocks everything; none nothing; the rest are threads or summary lines', () => {
      const where = (blocking: 'high' | 'all' | 'none', minor: 'thread' | 'summary') =>
        (['critical', 'major', 'minor', 'nit'] as const).map((s) => placement({ blocking, minor }, s));
      expect(where('high', 'thread')).toEqual(['blocking', 'blocking', 'thread', 'thread']);
      expect(where('high', 'summary')).toEqual(['blocking', 'blocking', 'summary', 'summary']);
      expect(where('all', 'summary')).toEqual(['blocking', 'blocking', 'blocking', 'blocking']);
      expect(where('none', 'thread')).toEqual(['thread', 'thread', 'thread', 'thread']);
    });
  });
});

// Repo config (`.gitlab/mr-reviewer.yml`): which findings block merging, and where the others go (issue 15).
import { describe, expect, it } from 'vitest';
import { parseRepoConfig, placement } from '../src/review/repo-config.js';

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

import { describe, expect, it } from 'vitest';
import { APPLY_TRAILER, commitMessage, findApplied, noreplyEmail } from '../src/workspace/commit.js';

describe('apply commits', () => {
  const msg = commitMessage({
    title: 'Guard div\nagainst zero', body: 'Throws when b is 0.', threadUrl: 'https://gl.example/a/b/-/merge_requests/3#note_7',
    applyId: 'abc123', approver: { name: 'alice', email: '11-alice@users.noreply.gl.example' },
  });

  it('has a one-line title, the thread link and the trailers last', () => {
    const lines = msg.split('\n');
    expect(lines[0]).toBe('Guard div against zero');
    expect(msg).toContain('Thread: https://gl.example/a/b/-/merge_requests/3#note_7');
    expect(lines.slice(-2)).toEqual(['Co-authored-by: alice <11-alice@users.noreply.gl.example>', `${APPLY_TRAILER}: abc123`]);
  });

  it('finds its own commit by the trailer line, not by a mention of the id elsewhere', () => {
    const commits = [
      { id: 'a', title: 'x', message: `talks about ${APPLY_TRAILER}: abc123 inline`, webUrl: '' },
      { id: 'b', title: 'y', message: msg, webUrl: '' },
    ];
    expect(findApplied(commits, 'abc123')?.id).toBe('b');
    expect(findApplied(commits, 'abc12')).toBeUndefined();
  });

  it('uses GitLab no-reply addresses', () => {
    expect(noreplyEmail('https://gitlab.example.com/sub', { id: 5, username: 'bot' })).toBe('5-bot@users.noreply.gitlab.example.com');
  });
});

import { describe, expect, it } from 'vitest';
import { droppedLine, formatSummary, mergePreExisting, RISK_LEVELS } from '../src/review/summary.js';
import type { Finding } from '../src/review/outputs.js';

const f = (title: string, file = 'a.js'): Finding => ({
  file, side: 'new', start_line: 3, end_line: 3, anchor_text: title, severity: 'major', category: 'bug', confidence: 95,
  pre_existing: true, title, body: '', evidence: [],
});
const base = { summary: 'Adds x.', headSha: 'abcdef0123456789', omitted: [], reviewedFiles: 2, costUsd: 0.01, reviews: 1, botUsername: 'bot' };

describe('formatSummary', () => {
  it('links every open finding, defines risk levels, names guidance and the dropped line', () => {
    const body = formatSummary({
      ...base,
      findings: [
        { fp: '1', discussionId: 'd', noteId: 1001, file: 'a.js', line: 3, severity: 'major', title: 'Crash [edge]', inline: true, status: 'open' },
        { fp: '2', discussionId: 'e', noteId: 1002, file: 'b.js', line: 4, severity: 'minor', title: 'Fixed one', inline: true, status: 'fixed' },
      ],
      preExisting: [],
      mrUrl: 'https://gl/x/-/merge_requests/1',
      guidanceFiles: ['CLAUDE.md', 'src/REVIEW.md'],
      checks: { dropped: { evidence: 2, verifier: 1 }, suggestions: 1 },
    });
    expect(body).toContain('[Crash edge](https://gl/x/-/merge_requests/1#note_1001) — `a.js:3`');
    expect(body).not.toContain('#note_1002');
    expect(body).toContain(RISK_LEVELS);
    expect(body).toContain('| **Guidance applied** | `CLAUDE.md`, `src/REVIEW.md` |');
    expect(body).toContain('| **Dropped** | 3 findings (2 quote not found in the code, 1 not confirmed by the verifier); 1 suggestion removed (would not apply cleanly) |');
  });
  it('says when the verifier failed, held or labelled', () => {
    const held = formatSummary({ ...base, findings: [], preExisting: [], verification: { checked: 0, dropped: 0, failed: 'hold', held: 2 } });
    expect(held).toContain('2 new findings held back');
    expect(held).not.toContain('No problems found');
    expect(formatSummary({ ...base, findings: [], preExisting: [], verification: { checked: 0, dropped: 0, failed: 'label', unverified: ['x'] } })).toContain('1 new finding posted labelled unverified');
  });
});

describe('droppedLine', () => {
  it('is absent when nothing was dropped', () => {
    expect(droppedLine(undefined)).toBeUndefined();
    expect(droppedLine({ dropped: {}, suggestions: 0 })).toBeUndefined();
  });
});

describe('mergePreExisting', () => {
  it('keeps earlier items and adds new ones once', () => {
    const first = mergePreExisting(undefined, [f('Old bug')]);
    const second = mergePreExisting(first, [f('Other bug', 'b.js'), f('Old bug')]);
    expect(second.map((p) => p.title)).toEqual(['Old bug', 'Other bug']);
  });
});

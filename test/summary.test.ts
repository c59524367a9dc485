import { describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import type { Finding } from '../src/review/findings.js';
import { droppedLine, formatSummary, mergePreExisting, RISK_LEVELS, type SummaryInput } from '../src/review/summary.js';
import type { PostedFinding } from '../src/store/records.js';

const posted = (p: Partial<PostedFinding>): PostedFinding => ({ fp: 'f', discussionId: 'd', noteId: 1, file: 'a.ts', line: 1, severity: 'major', title: 'T', inline: true, status: 'open', ...p });
const base: SummaryInput = {
  summary: 'Adds a helper.',
  risk: 'low',
  headSha: 'c'.repeat(40),
  findings: [],
  preExisting: [],
  omitted: [],
  reviewedFiles: 3,
  costUsd: 0.01234,
  reviews: 1,
  botUsername: 'review-bot',
};

describe('formatSummary', () => {
  it('says plainly when nothing was found, and carries a summary marker for the reviewed head', () => {
    const s = formatSummary(base);
    expect(s).toContain('Adds a helper.');
    expect(s).toContain('| **Open findings** | none |');
    expect(s).toContain('No problems found that this MR introduces.');
    expect(s).toContain(`\`${'c'.repeat(12)}\``);
    expect(s).toContain('| **Cost** | $0.0123 over 1 run |');
    expect(s).toContain('mention @review-bot with `help`');
    expect(readMarker(s)).toEqual({ kind: 'summary', sha: 'c'.repeat(40) });
  });

  it('counts open findings by severity, most severe first, and fixed or resolved ones apart', () => {
    const s = formatSummary({
      ...base,
      reviews: 2,
      findings: [posted({ severity: 'minor' }), posted({ severity: 'critical' }), posted({ severity: 'minor' }), posted({ status: 'fixed' }), posted({ status: 'resolved' }), posted({ status: 'withdrawn' })],
    });
    expect(s).toContain('| **Open findings** | 3 (🔴 Critical 1, 🟡 Minor 2) |');
    expect(s).toContain('| **Fixed / resolved** | 2 |');
    expect(s).not.toContain('No problems found');
    expect(s).toContain('over 2 runs');
  });

  it('reports the verification pass, and an empty summary as such', () => {
    const s = formatSummary({ ...base, summary: '  ', verification: { checked: 4, dropped: 1 } });
    expect(s).toContain('_No summary._');
    expect(s).toContain('| **Verified** | 3 of 4 new candidates confirmed by a second, independent look (1 dropped) |');
    expect(formatSummary({ ...base, verification: { checked: 1, dropped: 0 } })).toContain('1 of 1 new candidate confirmed by a second, independent look |');
  });

  it('lists files not reviewed (at most 200) and pre-existing issues in collapsed sections', () => {
    const omitted = Array.from({ length: 203 }, (_, i) => ({ path: `gen/${i}.js`, reason: 'generated' }));
    const pre: Finding = { file: 'old.ts', side: 'new', start_line: 9, end_line: 9, anchor_text: 'x', severity: 'major', category: 'bug', confidence: 90, pre_existing: true, title: 'Old bug', body: 'b', evidence: [], suggestion: null };
    const s = formatSummary({ ...base, omitted, preExisting: [pre] });
    expect(s).toContain('| **Files reviewed** | 3 (203 not reviewed, listed below) |');
    expect(s).toContain('<details><summary>Not reviewed (203 files)</summary>');
    expect(s).toContain('- `gen/199.js`: generated');
    expect(s).not.toContain('gen/200.js');
    expect(s).toContain('- … and 3 more');
    expect(s).toContain('<details><summary>Pre-existing issues (not introduced by this MR)</summary>');
    expect(s).toContain('- `old.ts:9` 🟠 Major: Old bug');
  });
});

describe('the summary of a published review: blocking, listed, mode, what changed', () => {
  const pf = (o: Partial<PostedFinding>): PostedFinding => ({
    fp: 'f', discussionId: 'd', noteId: 1, file: 'a.js', line: 1, severity: 'major', title: 'T', inline: true, status: 'open', ...o,
  });
  const base: SummaryInput = {
    summary: 'Adds things.', headSha: 'a'.repeat(40), findings: [], preExisting: [], omitted: [], reviewedFiles: 2, costUsd: 0.01, reviews: 1, botUsername: 'review-bot',
  };

  describe('formatSummary', () => {
    it('counts the open threads that block merging apart from those resolved at once and the listed ones', () => {
      const body = formatSummary({
        ...base,
        findings: [pf({ fp: '1', severity: 'critical' }), pf({ fp: '2', severity: 'minor', blocking: false }), pf({ fp: '3', status: 'fixed' })],
        listed: [{ fp: '4', file: 'b.js', line: 7, severity: 'nit', title: 'Tiny', reason: 'minor' }, { fp: '5', file: 'c.js', line: 1, severity: 'major', title: 'Big', reason: 'refused' }],
      });
      expect(body).toContain('| **Open findings** | 2 (🔴 Critical 1, 🟡 Minor 1) |');
      expect(body).toContain('| **Blocking merge** | 1 open thread (🔴 Critical 1) |');
      expect(body).toContain('| **Non-blocking** | 1 thread resolved at once, 2 listed below |');
      expect(body).toContain('- `b.js:7` ⚪ Nit: Tiny\n');
      expect(body).toContain('- `c.js:1` 🟠 Major: Big _(GitLab refused the thread)_');
      expect(body).not.toContain('No problems found');
      expect(readMarker(body)).toMatchObject({ kind: 'summary' });
    });

    it('says nothing blocks, and that nothing was found, when so; records from before blocking levels count as blocking', () => {
      expect(formatSummary(base)).toContain('| **Blocking merge** | none |');
      expect(formatSummary(base)).toContain('No problems found');
      expect(formatSummary({ ...base, findings: [pf({})] })).toContain('| **Blocking merge** | 1 open thread (🟠 Major 1) |');
    });

    it('says how it was posted and, on a re-review, what changed since the last one', () => {
      expect(formatSummary({ ...base, mode: 'review' })).toContain('| **Posted as** | one review (GitLab draft notes, one notification) |');
      expect(formatSummary({ ...base, mode: 'direct' })).toContain('separate comments (no draft notes API');
      const since = (x: Partial<NonNullable<SummaryInput['since']>>) => formatSummary({ ...base, since: { fromSha: 'b'.repeat(40), posted: 0, fixed: 0, updated: 0, ...x } });
      expect(since({ posted: 2, fixed: 1, updated: 1 })).toContain('**Since the last review** (`bbbbbbbbbbbb`): 2 new findings, 1 fixed (resolved in its thread), 1 updated in place.');
      expect(since({})).toContain('(`bbbbbbbbbbbb`): nothing new to say.');
      expect(formatSummary(base)).not.toContain('Since the last review');
    });
  });
});

describe('the summary as precision needs it: links, risk levels, guidance, what was dropped', () => {
  const pre = (title: string, file = 'a.js'): Finding => ({
    file, side: 'new', start_line: 3, end_line: 3, anchor_text: title, severity: 'major', category: 'bug', confidence: 95,
    pre_existing: true, title, body: '', evidence: [],
  });
  const minimal = { summary: 'Adds x.', headSha: 'abcdef0123456789', omitted: [], reviewedFiles: 2, costUsd: 0.01, reviews: 1, botUsername: 'bot' };

  describe('formatSummary', () => {
    it('links every open finding, defines risk levels, names guidance and the dropped line', () => {
      const body = formatSummary({
        ...minimal,
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
      const held = formatSummary({ ...minimal, findings: [], preExisting: [], verification: { checked: 0, dropped: 0, failed: 'hold', held: 2 } });
      expect(held).toContain('2 new findings held back');
      expect(held).not.toContain('No problems found');
      expect(formatSummary({ ...minimal, findings: [], preExisting: [], verification: { checked: 0, dropped: 0, failed: 'label', unverified: ['x'] } })).toContain('1 new finding posted labelled unverified');
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
      const first = mergePreExisting(undefined, [pre('Old bug')]);
      const second = mergePreExisting(first, [pre('Other bug', 'b.js'), pre('Old bug')]);
      expect(second.map((p) => p.title)).toEqual(['Old bug', 'Other bug']);
    });
  });
});

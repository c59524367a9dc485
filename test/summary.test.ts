// The one summary note per MR (issue 15): what blocks merging, what is only listed, how it was posted, what changed.
import { describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { formatSummary, type SummaryInput } from '../src/review/summary.js';
import type { PostedFinding } from '../src/store/records.js';

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

  it('says nothing blocks, and that nothing was found, when so; records from before issue 15 count as blocking', () => {
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

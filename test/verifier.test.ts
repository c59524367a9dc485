import { describe, expect, it } from 'vitest';
import type { Finding } from '../src/review/outputs.js';
import { applyVerdicts, verifyPrompt } from '../src/review/verifier.js';

const base: Finding = {
  file: 'src/math.js', side: 'new', start_line: 6, end_line: 6, anchor_text: '  return a / b;', severity: 'major', category: 'bug',
  confidence: 95, pre_existing: false, title: 'Division by zero', body: 'b may be 0.', evidence: ['src/math.js:6: return a / b;'],
  suggestion: '  return b ? a / b : 0;', rule: { source: 'CLAUDE.md', quote: 'Never divide without a guard' },
};

describe('verifyPrompt', () => {
  it('shows the whole finding, the MR title and description, linked issues and the date', () => {
    const p = verifyPrompt({
      iid: 4, title: 'Add div', description: 'Division by zero returns Infinity on purpose.', candidates: [base], diff: 'DIFF',
      intent: { issues: [{ iid: 3, title: 'Need div', description: 'Infinity is fine', closes: true }], commits: [], discussions: [] },
      now: new Date('2026-03-04T05:06:07Z'),
    });
    for (const s of ['anchor_text:   return a / b;', 'src/math.js:6: return a / b;', '  return b ? a / b : 0;', 'cited rule: "Never divide without a guard" (CLAUDE.md)', '<mr_title>\nAdd div', 'Infinity on purpose', '#3 (closed by this MR): Need div', "Today's date is 2026-03-04", 'suggestion_ok false']) {
      expect(p).toContain(s);
    }
    expect(p).toMatch(/Behaviour the MR title, description or linked issues say is intended/);
  });
});

describe('applyVerdicts', () => {
  it('keeps confirmed findings, drops the rest, and strips suggestions the verifier rejects', () => {
    const other = { ...base, title: 'Other', suggestion: null };
    const third = { ...base, title: 'Third' };
    const r = applyVerdicts([base, other, third], [
      { id: 1, verdict: 'confirmed', evidence: 'x', suggestion_ok: false },
      { id: 2, verdict: 'refuted', evidence: 'guarded at src/a.js:3', suggestion_ok: true },
    ]);
    expect(r.kept).toEqual([base]);
    expect(r.badSuggestions).toEqual([base]);
    expect(r.dropped.map((x) => [x.finding.title, x.verdict])).toEqual([['Other', 'refuted'], ['Third', 'unverified']]);
  });
});

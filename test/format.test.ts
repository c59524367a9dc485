import { describe, expect, it } from 'vitest';
import { filterFindings, formatFindingBody, suggestionBlock } from '../src/review/format.js';
import { anchorFinding, type Anchored } from '../src/review/anchor.js';
import { findingFingerprint, readMarker } from '../src/gitlab/markers.js';
import type { DiffRefs, FileDiff } from '../src/gitlab/types.js';
import type { Finding } from '../src/review/findings.js';

const refs: DiffRefs = { base_sha: 'b'.repeat(40), start_sha: 's'.repeat(40), head_sha: 'h'.repeat(40) };
const files: FileDiff[] = [
  {
    old_path: 'src/pay.ts',
    new_path: 'src/pay.ts',
    diff: [
      '@@ -8,6 +8,8 @@ export async function charge(order: Order) {',
      '   const amount = order.total;',
      '-  if (amount <= 0) return;',
      '+  if (amount < 0) return;',
      '+  const cents = Math.round(amount * 100);',
      '+  await gateway.charge(order.customer, cents);',
      '   audit(order);',
      '   return order.id;',
      ' }',
      '',
    ].join('\n'),
    new_file: false,
    renamed_file: false,
    deleted_file: false,
  },
];

const finding = (f: Partial<Finding> = {}): Finding => ({
  file: 'src/pay.ts',
  side: 'new',
  start_line: 9,
  end_line: 9,
  anchor_text: 'if (amount < 0) return;',
  severity: 'major',
  category: 'bug',
  confidence: 92,
  pre_existing: false,
  title: 'Zero-amount orders reach the gateway',
  body: 'The guard changed from `<= 0` to `< 0`, so a 0 total calls `gateway.charge`, which rejects it.',
  evidence: ['src/gateway.ts:41', 'src/pay.ts:11'],
  suggestion: null,
  ...f,
});

const anchor = (f: Finding) => anchorFinding(f, files, refs);

describe('formatFindingBody', () => {
  it('renders badge, title, body, evidence and a finding marker', () => {
    const f = finding({ severity: 'critical', category: 'data_loss' });
    const body = formatFindingBody(f, anchor(f), { fingerprint: 'abc123' });
    const lines = body.split('\n');
    expect(lines[0]).toBe('**🔴 Critical** · data loss · **Zero-amount orders reach the gateway**');
    expect(body).toContain('\n\nThe guard changed from `<= 0`');
    expect(body).toContain('**Evidence:**\n- `src/gateway.ts:41`\n- `src/pay.ts:11`');
    expect(body).not.toContain('**Location:**');
    expect(body).not.toContain('suggestion');
    expect(body.endsWith('\n\n<!-- mr-reviewer {"kind":"finding","fp":"abc123"} -->')).toBe(true);
    expect(readMarker(body)).toEqual({ kind: 'finding', fp: 'abc123' });
  });

  it('uses the severity badges and computes a fingerprint when none is given', () => {
    for (const [sev, badge] of [
      ['major', '**🟠 Major**'],
      ['minor', '**🟡 Minor**'],
      ['nit', '**⚪ Nit**'],
    ] as const) {
      const f = finding({ severity: sev });
      const body = formatFindingBody(f, anchor(f));
      expect(body.startsWith(`${badge} · bug · `)).toBe(true);
      expect(readMarker(body)?.fp).toBe(findingFingerprint(f));
    }
  });

  it('names path:line for general-placed findings', () => {
    const f = finding({ start_line: 40, end_line: 42, anchor_text: 'elsewhere();' });
    const a = anchor(f);
    expect(a.kind).toBe('general');
    const body = formatFindingBody({ ...f, suggestion: 'x();' }, a, { fingerprint: 'fp' });
    expect(body).toContain('**Location:** `src/pay.ts:40-42`');
    expect(body).not.toContain('```suggestion');
  });

  it('caps evidence and keeps items that already have backticks', () => {
    const f = finding({ evidence: ['a.ts:1', '`b.ts:2` (caller)', 'c.ts:3', 'd.ts:4', 'e.ts:5', 'f.ts:6', ' '] });
    const body = formatFindingBody(f, anchor(f), { fingerprint: 'fp' });
    expect(body).toContain('- `b.ts:2` (caller)');
    expect(body).toContain('- `e.ts:5`\n- … and 1 more');
    expect(body).not.toContain('f.ts:6');
  });
});

describe('suggestion fence', () => {
  it('single added line: suggestion:-0+0', () => {
    const f = finding({ suggestion: '  if (amount <= 0) return;' });
    const body = formatFindingBody(f, anchor(f), { fingerprint: 'fp' });
    expect(body).toContain('\n\n```suggestion:-0+0\n  if (amount <= 0) return;\n```\n\n<!-- mr-reviewer');
  });

  it('multi-line range: N = end - start, trailing newline dropped', () => {
    const f = finding({ start_line: 10, end_line: 11, anchor_text: 'const cents = Math.round(amount * 100);', suggestion: 'a;\nb;\nc;\n' });
    expect(suggestionBlock(f, anchor(f))).toBe('```suggestion:-0+1\na;\nb;\nc;\n```');
  });

  it('context lines on the new side take suggestions too', () => {
    const f = finding({ start_line: 12, end_line: 12, anchor_text: 'audit(order);', suggestion: '  await audit(order);' });
    const a = anchor(f);
    expect(a).toMatchObject({ kind: 'inline', lineType: 'ctx' });
    expect(suggestionBlock(f, a)).toBe('```suggestion:-0+0\n  await audit(order);\n```');
  });

  it('uses a longer fence when the suggestion contains backticks', () => {
    const f = finding({ suggestion: 'const s = `x`;\n// ```md\n// ```' });
    expect(suggestionBlock(f, anchor(f))).toBe('````suggestion:-0+0\nconst s = `x`;\n// ```md\n// ```\n````');
    const g = finding({ suggestion: '// ````' });
    expect(suggestionBlock(g, anchor(g))).toMatch(/^`````suggestion:-0\+0\n/);
  });

  it('no suggestion when null, blank, equal to the current code, on removed lines, or general', () => {
    expect(suggestionBlock(finding({ suggestion: null }), anchor(finding()))).toBe('');
    expect(suggestionBlock(finding({ suggestion: undefined }), anchor(finding()))).toBe('');
    expect(suggestionBlock(finding({ suggestion: '  \n' }), anchor(finding()))).toBe('');
    // same as the current line, modulo whitespace
    expect(suggestionBlock(finding({ suggestion: '  if (amount < 0)   return;' }), anchor(finding()))).toBe('');
    // same as the current two lines
    const two = finding({
      start_line: 10,
      end_line: 11,
      anchor_text: 'const cents = Math.round(amount * 100);',
      suggestion: '  const cents = Math.round(amount * 100);\n  await gateway.charge(order.customer, cents);',
    });
    expect(suggestionBlock(two, anchor(two))).toBe('');
    // removed line (side old)
    const old = finding({ side: 'old', start_line: 9, anchor_text: 'if (amount <= 0) return;', suggestion: 'x' });
    expect(anchor(old)).toMatchObject({ kind: 'inline', lineType: 'del' });
    expect(suggestionBlock(old, anchor(old))).toBe('');
    // general
    const gen: Anchored = { kind: 'general', file: 'src/pay.ts', line: 9, reason: 'x' };
    expect(suggestionBlock(finding({ suggestion: 'x' }), gen)).toBe('');
  });

  it('offsets: 100 allowed, longer spans dropped rather than clamped', () => {
    const base = anchor(finding()) as Extract<Anchored, { kind: 'inline' }>;
    const f = finding({ suggestion: 'x();' });
    expect(suggestionBlock(f, { ...base, endLine: base.startLine + 100, currentText: undefined })).toMatch(/^```suggestion:-0\+100\n/);
    expect(suggestionBlock(f, { ...base, endLine: base.startLine + 101, currentText: undefined })).toBe('');
  });
});

describe('filterFindings', () => {
  it('applies severity and confidence thresholds (minor needs 90, nit off)', () => {
    const fs = [
      finding({ title: 'a', severity: 'critical', confidence: 80, start_line: 1, end_line: 1 }),
      finding({ title: 'b', severity: 'major', confidence: 79, start_line: 20, end_line: 20 }),
      finding({ title: 'c', severity: 'minor', confidence: 85, start_line: 30, end_line: 30 }),
      finding({ title: 'd', severity: 'minor', confidence: 90, start_line: 40, end_line: 40 }),
      finding({ title: 'e', severity: 'nit', confidence: 100, start_line: 50, end_line: 50 }),
    ];
    const r = filterFindings(fs, { minSeverity: 'minor', minConfidence: 80 });
    expect(r.kept.map((f) => f.title)).toEqual(['a', 'd']);
    expect(r.dropped.map((d) => [d.finding.title, d.reason])).toEqual([
      ['b', 'confidence 79 below 80'],
      ['c', 'confidence 85 below 90'],
      ['e', 'below severity threshold (minor)'],
    ]);
    const major = filterFindings(fs, { minSeverity: 'major', minConfidence: 80 });
    expect(major.kept.map((f) => f.title)).toEqual(['a']);
    const nit = filterFindings(fs, { minSeverity: 'nit', minConfidence: 80 });
    expect(nit.kept.map((f) => f.title)).toEqual(['a', 'd', 'e']);
  });

  it('returns pre-existing findings in dropped with reason "pre-existing" (after thresholds)', () => {
    const r = filterFindings(
      [finding({ title: 'old bug', pre_existing: true }), finding({ title: 'weak old', pre_existing: true, confidence: 50 })],
      { minSeverity: 'minor', minConfidence: 80 },
    );
    expect(r.kept).toEqual([]);
    expect(r.dropped.map((d) => [d.finding.title, d.reason])).toEqual([
      ['old bug', 'pre-existing'],
      ['weak old', 'confidence 50 below 80'],
    ]);
  });

  it('dedupes same-category findings on overlapping lines, keeping the stronger one', () => {
    const fs = [
      finding({ title: 'first', severity: 'major', confidence: 85, start_line: 9, end_line: 11 }),
      finding({ title: 'stronger', severity: 'critical', confidence: 85, start_line: 11, end_line: 12 }),
      finding({ title: 'other category', category: 'security', start_line: 9, end_line: 9 }),
      finding({ title: 'other file', file: 'src/x.ts', start_line: 9, end_line: 9 }),
      finding({ title: 'no overlap', start_line: 13, end_line: 13 }),
      finding({ title: 'same sev, less sure', severity: 'critical', confidence: 80, start_line: 12, end_line: 12 }),
    ];
    const r = filterFindings(fs, { minSeverity: 'minor', minConfidence: 80 });
    expect(r.kept.map((f) => f.title)).toEqual(['stronger', 'other category', 'other file', 'no overlap']);
    expect(r.dropped.map((d) => [d.finding.title, d.reason])).toEqual([
      ['same sev, less sure', 'duplicate of "stronger"'],
      ['first', 'duplicate of "stronger"'],
    ]);
  });
});

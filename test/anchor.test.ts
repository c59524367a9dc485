import { describe, expect, it } from 'vitest';
import { anchorFinding } from '../src/review/anchor.js';
import type { DiffRefs, FileDiff } from '../src/gitlab/types.js';
import type { Finding } from '../src/review/findings.js';

const refs: DiffRefs = { base_sha: 'b'.repeat(40), start_sha: 's'.repeat(40), head_sha: 'h'.repeat(40) };

import { USER_DIFF } from './fixtures/diffs.js';

const files: FileDiff[] = [
  { old_path: 'src/user.ts', new_path: 'src/user.ts', diff: USER_DIFF, new_file: false, renamed_file: false, deleted_file: false },
  {
    old_path: 'src/sql.ts',
    new_path: 'src/sql.ts',
    diff: "@@ -0,0 +1,3 @@\n+export function escape(s: string): string {\n+  return s.replace(/'/g, \"''\");\n+}\n\\ No newline at end of file\n",
    new_file: true,
    renamed_file: false,
    deleted_file: false,
  },
  {
    old_path: 'src/legacy.ts',
    new_path: 'src/legacy.ts',
    diff: '@@ -1,2 +0,0 @@\n-export const LEGACY = true;\n-export const MODE = "old";\n',
    new_file: false,
    renamed_file: false,
    deleted_file: true,
  },
  {
    old_path: 'src/cfg.ts',
    new_path: 'src/config/load.ts',
    diff: '@@ -10,4 +10,4 @@ export function load() {\n   const raw = read();\n-  return JSON.parse(raw);\n+  return parse(raw);\n   // done\n }\n',
    new_file: false,
    renamed_file: true,
    deleted_file: false,
  },
  { old_path: 'src/huge.ts', new_path: 'src/huge.ts', diff: '', new_file: false, renamed_file: false, deleted_file: false, too_large: true },
];

const finding = (f: Partial<Finding>): Finding => ({
  file: 'src/user.ts',
  side: 'new',
  start_line: 5,
  end_line: 5,
  anchor_text: "  const q = `SELECT * FROM users WHERE name = '${escape(name)}'`;",
  severity: 'major',
  category: 'security',
  confidence: 90,
  pre_existing: false,
  title: 'SQL injection',
  body: 'Quote escaping is not enough.',
  evidence: [],
  suggestion: null,
  ...f,
});

const shas = { baseSha: refs.base_sha, startSha: refs.start_sha, headSha: refs.head_sha, positionType: 'text' };

describe('anchorFinding', () => {
  it('anchors an added line with new_line only', () => {
    const a = anchorFinding(finding({ end_line: 6 }), files, refs);
    expect(a).toEqual({
      kind: 'inline',
      position: { ...shas, oldPath: 'src/user.ts', newPath: 'src/user.ts', newLine: 5 },
      file: 'src/user.ts',
      line: 5,
      side: 'new',
      lineType: 'add',
      startLine: 5,
      endLine: 6,
      currentText: ["  const q = `SELECT * FROM users WHERE name = '${escape(name)}'`;", '  return db.query(q);'],
    });
  });

  it('anchors a context line with both old_line and new_line', () => {
    const a = anchorFinding(finding({ start_line: 24, end_line: 24, anchor_text: 'return false;' }), files, refs);
    expect(a.kind).toBe('inline');
    if (a.kind !== 'inline') return;
    expect(a.lineType).toBe('ctx');
    expect(a.position.oldLine).toBe(23);
    expect(a.position.newLine).toBe(24);
  });

  it('compares trimmed, whitespace-collapsed text and tolerates a copied render prefix', () => {
    const a = anchorFinding(finding({ start_line: 6, end_line: 6, anchor_text: '   return   db.query(q);  ' }), files, refs);
    expect(a).toMatchObject({ kind: 'inline', line: 6 });
    const b = anchorFinding(finding({ start_line: 6, end_line: 6, anchor_text: '6 +  return db.query(q);' }), files, refs);
    expect(b).toMatchObject({ kind: 'inline', line: 6 });
    const c = anchorFinding(finding({ start_line: 2, end_line: 2, anchor_text: "+import { escape } from './sql.js';\nmore" }), files, refs);
    expect(c).toMatchObject({ kind: 'inline', line: 2, lineType: 'add' });
  });

  it('re-anchors within ±5 lines when the text does not match, shifting end_line', () => {
    // model said 2..3 but the code is on 5..6
    const a = anchorFinding(finding({ start_line: 2, end_line: 3 }), files, refs);
    expect(a).toMatchObject({ kind: 'inline', line: 5, startLine: 5, endLine: 6, lineType: 'add' });
    if (a.kind === 'inline') expect(a.position.newLine).toBe(5);
  });

  it('re-anchors from a line outside the hunks when the text is within ±5', () => {
    // line 20 is not shown; "const user = getUser(id);" is new line 22
    const a = anchorFinding(finding({ start_line: 20, end_line: 21, anchor_text: 'const user = getUser(id);' }), files, refs);
    expect(a).toMatchObject({ kind: 'inline', line: 22, endLine: 23, lineType: 'ctx' });
    if (a.kind === 'inline') expect(a.position).toMatchObject({ oldLine: 20, newLine: 22 });
  });

  it('falls back to a general note when the anchor text is further than 5 lines away', () => {
    const a = anchorFinding(finding({ start_line: 1, end_line: 1, anchor_text: '}' }), files, refs);
    // "}" is line 7: 6 away from 1
    expect(a).toEqual({
      kind: 'general',
      file: 'src/user.ts',
      line: 1,
      reason: 'anchor text does not match line 1 (nor any line within ±5)',
    });
  });

  it('falls back to general for lines outside the diff', () => {
    const a = anchorFinding(finding({ start_line: 100, end_line: 100, anchor_text: 'whatever()' }), files, refs);
    expect(a).toMatchObject({ kind: 'general', line: 100 });
    if (a.kind === 'general') expect(a.reason).toMatch(/line 100 is not in the diff/);
  });

  it('falls back to general for files not in the diff, unrendered diffs and empty anchors', () => {
    expect(anchorFinding(finding({ file: 'src/other.ts' }), files, refs)).toMatchObject({
      kind: 'general',
      file: 'src/other.ts',
      reason: 'src/other.ts is not in the diff (new side)',
    });
    expect(anchorFinding(finding({ file: 'src/huge.ts' }), files, refs)).toMatchObject({ kind: 'general' });
    const empty = anchorFinding(finding({ anchor_text: '  ' }), files, refs);
    expect(empty).toMatchObject({ kind: 'general', reason: 'anchor_text is empty; cannot verify the line' });
  });

  it('anchors a removed line (side old) by its text, with old_line only', () => {
    // the model can't see old numbers; it cites the new-side position
    const a = anchorFinding(
      finding({ side: 'old', start_line: 24, end_line: 24, anchor_text: "log('missing');", category: 'bug' }),
      files,
      refs,
    );
    expect(a).toEqual({
      kind: 'inline',
      position: { ...shas, oldPath: 'src/user.ts', newPath: 'src/user.ts', oldLine: 22 },
      file: 'src/user.ts',
      line: 22,
      side: 'old',
      lineType: 'del',
      startLine: 22,
      endLine: 22,
      currentText: ["    log('missing');"],
    });
    // exact old number also works
    expect(
      anchorFinding(finding({ side: 'old', start_line: 4, end_line: 4, anchor_text: "return db.query(`SELECT * FROM users WHERE name = '${name}'`);" }), files, refs),
    ).toMatchObject({ kind: 'inline', line: 4, lineType: 'del', position: { oldLine: 4 } });
    // not among removed lines
    expect(anchorFinding(finding({ side: 'old', anchor_text: 'nope();' }), files, refs)).toMatchObject({ kind: 'general' });
  });

  it('handles new files (both paths sent, no old side)', () => {
    const a = anchorFinding(finding({ file: 'src/sql.ts', start_line: 2, end_line: 2, anchor_text: "return s.replace(/'/g, \"''\");" }), files, refs);
    expect(a).toMatchObject({
      kind: 'inline',
      lineType: 'add',
      position: { oldPath: 'src/sql.ts', newPath: 'src/sql.ts', newLine: 2 },
    });
    if (a.kind === 'inline') expect(a.position.oldLine).toBeUndefined();
    expect(anchorFinding(finding({ file: 'src/sql.ts', side: 'old', anchor_text: '}' }), files, refs).kind).toBe('general');
  });

  it('handles deleted files: old side inline, new side general', () => {
    const a = anchorFinding(finding({ file: 'src/legacy.ts', side: 'old', start_line: 2, end_line: 2, anchor_text: 'export const MODE = "old";' }), files, refs);
    expect(a).toMatchObject({ kind: 'inline', lineType: 'del', position: { oldPath: 'src/legacy.ts', newPath: 'src/legacy.ts', oldLine: 2 } });
    if (a.kind === 'inline') expect(a.position.newLine).toBeUndefined();
    expect(anchorFinding(finding({ file: 'src/legacy.ts', side: 'new', start_line: 1, anchor_text: 'export const LEGACY = true;' }), files, refs).kind).toBe('general');
  });

  it('handles renamed files: new path for side new, old path for side old', () => {
    const a = anchorFinding(finding({ file: 'src/config/load.ts', start_line: 11, end_line: 11, anchor_text: 'return parse(raw);' }), files, refs);
    expect(a).toMatchObject({
      kind: 'inline',
      file: 'src/config/load.ts',
      lineType: 'add',
      position: { oldPath: 'src/cfg.ts', newPath: 'src/config/load.ts', newLine: 11 },
    });
    const ctx = anchorFinding(finding({ file: './src/config/load.ts', start_line: 12, end_line: 12, anchor_text: '// done' }), files, refs);
    expect(ctx).toMatchObject({ kind: 'inline', position: { oldLine: 12, newLine: 12 } });
    const old = anchorFinding(finding({ file: 'src/cfg.ts', side: 'old', start_line: 11, end_line: 11, anchor_text: 'return JSON.parse(raw);' }), files, refs);
    expect(old).toMatchObject({ kind: 'inline', file: 'src/cfg.ts', lineType: 'del', position: { oldPath: 'src/cfg.ts', newPath: 'src/config/load.ts', oldLine: 11 } });
  });

  it('never returns end before start and omits currentText when the range leaves the diff', () => {
    const a = anchorFinding(finding({ start_line: 6, end_line: 2, anchor_text: 'return db.query(q);' }), files, refs);
    expect(a).toMatchObject({ kind: 'inline', startLine: 6, endLine: 6 });
    const b = anchorFinding(finding({ start_line: 7, end_line: 9, anchor_text: '}' }), files, refs);
    expect(b).toMatchObject({ kind: 'inline', startLine: 7, endLine: 9 });
    if (b.kind === 'inline') expect(b.currentText).toBeUndefined();
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { changedNewLines, hunkLineCode, isBinaryDiff, lineCode, parseHunks } from '../src/gitlab/diff.js';
import {
  defaultSkipReason,
  filePriority,
  isGeneratedPath,
  renderDiff,
  renderOmitted,
} from '../src/review/render-diff.js';
import type { FileDiff } from '../src/gitlab/types.js';

import { USER_DIFF } from './fixtures/diffs.js';

const NEW_FILE_DIFF = [
  '@@ -0,0 +1,3 @@',
  '+export function escape(s: string): string {',
  "+  return s.replace(/'/g, \"''\");",
  '+}',
  '\\ No newline at end of file',
  '',
].join('\n');

const file = (p: Partial<FileDiff> & { new_path: string }): FileDiff => ({
  old_path: p.new_path,
  diff: '',
  new_file: false,
  renamed_file: false,
  deleted_file: false,
  ...p,
});

describe('parseHunks', () => {
  it('parses multiple hunks with add/del/ctx line numbers', () => {
    const hunks = parseHunks(USER_DIFF);
    expect(hunks).toHaveLength(2);
    const [h1, h2] = hunks;
    expect(h1).toMatchObject({ oldStart: 1, oldLines: 5, newStart: 1, newLines: 7, header: '@@ -1,5 +1,7 @@' });
    expect(h1.lines.map((l) => [l.type, l.oldLine, l.newLine])).toEqual([
      ['ctx', 1, 1],
      ['add', undefined, 2],
      ['ctx', 2, 3],
      ['ctx', 3, 4],
      ['del', 4, undefined],
      ['add', undefined, 5],
      ['add', undefined, 6],
      ['ctx', 5, 7],
    ]);
    expect(h1.lines[1].text).toBe("import { escape } from './sql.js';");
    expect(h1.lines[2].text).toBe('');
    expect(h2.header).toBe('@@ -20,7 +22,6 @@ export function deleteUser(id: number) {');
    expect(h2.lines[2]).toEqual({ type: 'del', oldLine: 22, text: "    log('missing');" });
    expect(h2.lines[3]).toEqual({ type: 'ctx', oldLine: 23, newLine: 24, text: '    return false;' });
    expect(h2.lines.at(-1)).toEqual({ type: 'ctx', oldLine: 26, newLine: 27, text: '  return true;' });
  });

  it('handles new files and the no-newline marker', () => {
    const [h] = parseHunks(NEW_FILE_DIFF);
    expect(h).toMatchObject({ oldStart: 0, oldLines: 0, newStart: 1, newLines: 3 });
    expect(h.lines).toHaveLength(3);
    expect(h.lines.every((l) => l.type === 'add')).toBe(true);
    expect(h.lines[2]).toEqual({ type: 'add', newLine: 3, text: '}' });
  });

  it('handles no-newline markers in the middle of a hunk (old side)', () => {
    const d = '@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n';
    const [h] = parseHunks(d);
    expect(h.lines).toEqual([
      { type: 'ctx', oldLine: 1, newLine: 1, text: 'a' },
      { type: 'del', oldLine: 2, text: 'b' },
      { type: 'add', newLine: 2, text: 'b' },
    ]);
  });

  it('handles deleted files, omitted counts, empty/binary diffs, headers and CRLF', () => {
    const del = parseHunks('@@ -1,2 +0,0 @@\n-a\n-b\n');
    expect(del[0].lines.map((l) => [l.type, l.oldLine])).toEqual([
      ['del', 1],
      ['del', 2],
    ]);
    const single = parseHunks('@@ -3 +3 @@\n-x\n+y\n');
    expect(single[0]).toMatchObject({ oldLines: 1, newLines: 1 });
    expect(single[0].lines).toHaveLength(2);
    expect(parseHunks('')).toEqual([]);
    expect(parseHunks('Binary files a/logo.png and b/logo.png differ\n')).toEqual([]);
    const withHeaders = parseHunks('--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n');
    expect(withHeaders[0].lines).toEqual([
      { type: 'del', oldLine: 1, text: 'a' },
      { type: 'add', newLine: 1, text: 'b' },
    ]);
    const crlf = parseHunks('@@ -1 +1 @@\r\n-a\r\n+b\r\n');
    expect(crlf[0].lines.map((l) => l.text)).toEqual(['a', 'b']);
  });

  it('treats a bare empty line inside a hunk as blank context', () => {
    const [h] = parseHunks('@@ -1,3 +1,3 @@\n a\n\n-c\n+C\n');
    expect(h.lines[1]).toEqual({ type: 'ctx', oldLine: 2, newLine: 2, text: '' });
    expect(h.lines).toHaveLength(4);
  });
});

describe('changedNewLines / lineCode', () => {
  it('lists new-side numbers of added lines only', () => {
    expect([...changedNewLines(USER_DIFF)].sort((a, b) => a - b)).toEqual([2, 5, 6]);
    expect([...changedNewLines(NEW_FILE_DIFF)]).toEqual([1, 2, 3]);
    expect(changedNewLines('').size).toBe(0);
  });

  it('computes sha1(path)_old_new', () => {
    const sha = createHash('sha1').update('src/user.ts').digest('hex');
    expect(lineCode('src/user.ts', 5, 7)).toBe(`${sha}_5_7`);
    expect(lineCode('src/user.ts', 0, 3)).toMatch(/^[0-9a-f]{40}_0_3$/);
  });

  it('hunkLineCode uses the running counters like GitLab', () => {
    const [h1] = parseHunks(USER_DIFF);
    const sha = createHash('sha1').update('src/user.ts').digest('hex');
    expect(hunkLineCode('src/user.ts', h1, 1)).toBe(`${sha}_2_2`); // added line: old counter 2
    expect(hunkLineCode('src/user.ts', h1, 4)).toBe(`${sha}_4_5`); // removed line: new counter 5
    expect(hunkLineCode('src/user.ts', h1, 7)).toBe(`${sha}_5_7`); // context
  });

  it('detects binary notices', () => {
    expect(isBinaryDiff('Binary files a/x.png and b/x.png differ\n')).toBe(true);
    expect(isBinaryDiff(USER_DIFF)).toBe(false);
  });
});

describe('skip rules', () => {
  it('classifies lock, vendored and generated paths', () => {
    for (const p of ['package-lock.json', 'web/yarn.lock', 'pnpm-lock.yaml', 'Cargo.lock', 'go.sum', 'poetry.lock'])
      expect(defaultSkipReason(p)).toBe('lock file');
    for (const p of ['vendor/github.com/x/y.go', 'web/node_modules/a/index.js', 'third_party/z/z.c'])
      expect(defaultSkipReason(p)).toBe('vendored');
    for (const p of [
      'public/app.min.js',
      'public/app.js.map',
      'dist/index.js',
      'pkg/build/out.js',
      'proto/api_pb2.py',
      'api/api.pb.go',
      'src/schema.generated.ts',
    ])
      expect(defaultSkipReason(p)).toBe('generated');
    for (const p of ['src/user.ts', 'builder/x.ts', 'src/distance.ts', 'README.md', 'lockfile.ts'])
      expect(defaultSkipReason(p)).toBeUndefined();
    expect(isGeneratedPath('dist/a.js')).toBe(true);
    expect(isGeneratedPath('yarn.lock')).toBe(true);
    expect(isGeneratedPath('src/a.ts')).toBe(false);
  });

  it('prioritises source, then tests, then docs/config', () => {
    expect(filePriority('src/user.ts')).toBe(0);
    expect(filePriority('Dockerfile')).toBe(0);
    expect(filePriority('test/user.test.ts')).toBe(1);
    expect(filePriority('pkg/user_test.go')).toBe(1);
    expect(filePriority('tests/test_user.py')).toBe(1);
    expect(filePriority('README.md')).toBe(2);
    expect(filePriority('config/app.yaml')).toBe(2);
    expect(filePriority('.gitlab-ci.yml')).toBe(2);
  });
});

describe('renderDiff', () => {
  const files: FileDiff[] = [
    file({ new_path: 'README.md', diff: '@@ -1 +1 @@\n-Old\n+New\n' }),
    file({ new_path: 'test/user.test.ts', diff: "@@ -0,0 +1 @@\n+it('works', () => {});\n", new_file: true }),
    file({ new_path: 'src/user.ts', diff: USER_DIFF }),
    file({ new_path: 'src/sql.ts', diff: NEW_FILE_DIFF, new_file: true }),
    file({ new_path: 'src/old.ts', diff: '@@ -1,2 +0,0 @@\n-a\n-b\n', deleted_file: true }),
    file({ old_path: 'src/a.ts', new_path: 'src/b.ts', diff: '@@ -3,3 +3,3 @@\n x\n-y\n+z\n w\n', renamed_file: true }),
    file({ old_path: 'src/c.ts', new_path: 'src/d.ts', diff: '', renamed_file: true }),
    file({ new_path: 'package-lock.json', diff: '@@ -1 +1 @@\n-{}\n+{ }\n' }),
    file({ new_path: 'assets/logo.png', diff: 'Binary files a/assets/logo.png and b/assets/logo.png differ\n' }),
    file({ new_path: 'src/huge.ts', diff: '', too_large: true }),
  ];

  it('renders new/old hunk blocks with new-side numbers', () => {
    const r = renderDiff(files, { maxChars: 100_000 });
    expect(r.text).toContain(
      [
        '## File: src/user.ts',
        '',
        '@@ -1,5 +1,7 @@',
        '__new hunk__',
        "1  import { db } from './db.js';",
        "2 +import { escape } from './sql.js';",
        '3  ',
        '4  export function findUser(name: string) {',
        "5 +  const q = `SELECT * FROM users WHERE name = '${escape(name)}'`;",
        '6 +  return db.query(q);',
        '7  }',
        '__old hunk__',
        " import { db } from './db.js';",
        ' ',
        ' export function findUser(name: string) {',
        "-  return db.query(`SELECT * FROM users WHERE name = '${name}'`);",
        ' }',
      ].join('\n'),
    );
    // new file: no old block, no-newline marker dropped
    expect(r.text).toContain(
      '## File: src/sql.ts (new file)\n\n@@ -0,0 +1,3 @@\n__new hunk__\n1 +export function escape(s: string): string {',
    );
    const sqlBlock = r.text.slice(r.text.indexOf('## File: src/sql.ts'));
    expect(sqlBlock.split('## File:')[1]).not.toContain('__old hunk__');
    expect(r.text).not.toContain('No newline');
    expect(r.text).toContain('## File: src/old.ts (deleted file)\n(file deleted, 2 lines removed; content not shown)');
    expect(r.text).toContain('## File: src/b.ts (renamed from src/a.ts)\n\n@@ -3,3 +3,3 @@\n__new hunk__\n3  x\n4 +z\n5  w');
    expect(r.text).toContain('## File: src/d.ts (renamed from src/c.ts)\n(content unchanged)');
  });

  it('names each way GitLab leaves a file out: too large, collapsed, generated, overflow', () => {
    const left = [
      file({ new_path: 'src/huge.ts', diff: '', too_large: true }),
      file({ new_path: 'src/wide.ts', diff: '', collapsed: true }),
      file({ new_path: 'src/api.pb.js', diff: '', collapsed: true, generated_file: true }),
      file({ new_path: 'src/cut.ts', diff: '', overflow: true }),
      file({ new_path: 'src/ok.ts', diff: '@@ -1 +1 @@\n-a\n+b\n' }),
    ];
    const r = renderDiff(left, { maxChars: 100_000 });
    expect(r.included).toEqual(['src/ok.ts']);
    expect(r.omitted).toEqual([
      { path: 'src/huge.ts', reason: 'too large (GitLab did not render it)' },
      { path: 'src/wide.ts', reason: 'collapsed by GitLab (its diff is over the collapse limit)' },
      { path: 'src/api.pb.js', reason: 'generated (GitLab marks it so and left its diff out)' },
      { path: 'src/cut.ts', reason: 'left out by GitLab (the MR is over its diff limits)' },
    ]);
  });

  it('orders source, tests, docs and reports skipped files', () => {
    const r = renderDiff(files, { maxChars: 100_000 });
    expect(r.included).toEqual([
      'src/user.ts',
      'src/sql.ts',
      'src/old.ts',
      'src/b.ts',
      'src/d.ts',
      'test/user.test.ts',
      'README.md',
    ]);
    expect(r.omitted).toEqual([
      { path: 'src/huge.ts', reason: 'too large (GitLab did not render it)' },
      { path: 'package-lock.json', reason: 'lock file' },
      { path: 'assets/logo.png', reason: 'binary' },
    ]);
    expect(r.text.indexOf('src/user.ts')).toBeLessThan(r.text.indexOf('test/user.test.ts'));
    expect(r.text.indexOf('test/user.test.ts')).toBeLessThan(r.text.indexOf('README.md'));
  });

  it('includes whole files until the budget is used, never exceeding it', () => {
    const small = file({ new_path: 'src/small.ts', diff: '@@ -1 +1 @@\n-a\n+b\n' });
    const big = file({ new_path: 'src/big.ts', diff: '@@ -1 +1,300 @@\n' + Array.from({ length: 300 }, (_, i) => `+line ${i}`).join('\n') + '\n' });
    const user = file({ new_path: 'src/user.ts', diff: USER_DIFF });
    const userOnly = renderDiff([user], { maxChars: 100_000 }).text.length;
    const r = renderDiff([user, big, small], { maxChars: userOnly + 200 });
    expect(r.included).toEqual(['src/user.ts', 'src/small.ts']);
    expect(r.omitted).toEqual([{ path: 'src/big.ts', reason: 'diff budget exhausted' }]);
    expect(r.text.length).toBeLessThanOrEqual(userOnly + 200);
    expect(r.text).not.toContain('line 1');
    const none = renderDiff([user], { maxChars: 10 });
    expect(none).toEqual({ text: '', included: [], omitted: [{ path: 'src/user.ts', reason: 'diff budget exhausted' }] });
  });

  it('applies a custom skip before the defaults', () => {
    const r = renderDiff(files.slice(0, 4), {
      maxChars: 100_000,
      skip: (p) => (p.startsWith('test/') ? 'excluded by .mr-reviewer.yml' : undefined),
    });
    expect(r.omitted).toEqual([{ path: 'test/user.test.ts', reason: 'excluded by .mr-reviewer.yml' }]);
    expect(r.included).toEqual(['src/user.ts', 'src/sql.ts', 'README.md']);
  });

  it('renderOmitted lists omitted files', () => {
    expect(renderOmitted([])).toBe('');
    expect(renderOmitted([{ path: 'yarn.lock', reason: 'lock file' }])).toBe('## Files not shown\n- yarn.lock (lock file)');
  });
});

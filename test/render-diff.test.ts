import { describe, expect, it } from 'vitest';
import type { FileDiff } from '../src/gitlab/types.js';
import { defaultSkipReason, filePriority, isGeneratedPath, renderDiff, renderOmitted } from '../src/review/render-diff.js';
import { NEW_FILE_DIFF, USER_DIFF } from './fixtures/diffs.js';

const file = (p: Partial<FileDiff> & { new_path: string }): FileDiff => ({
  old_path: p.new_path,
  diff: '',
  new_file: false,
  renamed_file: false,
  deleted_file: false,
  ...p,
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

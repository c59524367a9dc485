import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { changedNewLines, hunkLineCode, isBinaryDiff, lineCode, parseHunks } from '../src/gitlab/diff.js';
import { NEW_FILE_DIFF, USER_DIFF } from './fixtures/diffs.js';

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

import { describe, expect, it } from 'vitest';
import { splitGitDiff, touches } from '../src/review/interdiff.js';

const GIT_DIFF = [
  'diff --git a/src/a.ts b/src/a.ts',
  'index 111..222 100644',
  '--- a/src/a.ts',
  '+++ b/src/a.ts',
  '@@ -10,3 +10,4 @@ function f() {',
  ' a',
  '-b',
  '+b2',
  '+c',
  ' d',
  'diff --git a/old name.ts b/new name.ts',
  'similarity index 90%',
  'rename from old name.ts',
  'rename to new name.ts',
  '@@ -1 +1 @@',
  '-x',
  '+y',
  'diff --git a/gone.ts b/gone.ts',
  'deleted file mode 100644',
  '--- a/gone.ts',
  '+++ /dev/null',
  '@@ -1,2 +0,0 @@',
  '-p',
  '-q',
].join('\n');

describe('splitGitDiff', () => {
  it('splits per file, keeping only the hunks, as GitLab’s per-file diff field holds them', () => {
    const patches = splitGitDiff(GIT_DIFF);
    expect(patches.map((p) => [p.oldPath, p.newPath])).toEqual([
      ['src/a.ts', 'src/a.ts'],
      ['old name.ts', 'new name.ts'],
      ['gone.ts', 'gone.ts'],
    ]);
    expect(patches[0]!.diff.startsWith('@@ -10,3 +10,4 @@')).toBe(true);
    expect(patches[0]!.diff).not.toContain('index 111');
    expect(patches[1]!.diff).toBe('@@ -1 +1 @@\n-x\n+y');
  });

  it('finds nothing in an empty diff', () => {
    expect(splitGitDiff('')).toEqual([]);
  });
});

describe('touches', () => {
  const patches = splitGitDiff(GIT_DIFF);

  it("is true for old-head lines a hunk covers, context included, and false outside them", () => {
    expect(touches(patches, 'src/a.ts', 10)).toBe(true);
    expect(touches(patches, 'src/a.ts', 12)).toBe(true);
    expect(touches(patches, 'src/a.ts', 9)).toBe(false);
    expect(touches(patches, 'src/a.ts', 13)).toBe(false);
  });

  it('finds a file by its old or its new name, and not a file the push left alone', () => {
    expect(touches(patches, 'old name.ts', 1)).toBe(true);
    expect(touches(patches, 'new name.ts', 1)).toBe(true);
    expect(touches(patches, 'src/b.ts', 1)).toBe(false);
  });
});

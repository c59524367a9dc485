import { describe, expect, it } from 'vitest';
import { guidancePaths, touchedOf } from '../../src/flows/context.js';

describe('guidancePaths', () => {
  it('reads the root files and those of every directory the MR touches, shallow first', () => {
    expect(guidancePaths(['src/api/users.ts', 'README.md'])).toEqual([
      'CLAUDE.md', 'AGENTS.md', 'REVIEW.md', '.claude/CLAUDE.md',
      'src/CLAUDE.md', 'src/AGENTS.md', 'src/REVIEW.md',
      'src/api/CLAUDE.md', 'src/api/AGENTS.md', 'src/api/REVIEW.md',
    ]);
  });
  it('bounds the directories a huge MR makes it read', () => {
    const paths = Array.from({ length: 500 }, (_, i) => `d${i}/f.ts`);
    expect(guidancePaths(paths).length).toBe(4 + 100 * 3);
  });
  it('takes both sides of a rename', () => {
    expect(touchedOf([{ old_path: 'a/x.ts', new_path: 'b/x.ts', diff: '', new_file: false, renamed_file: true, deleted_file: false }])).toEqual(['a/x.ts', 'b/x.ts']);
  });
});

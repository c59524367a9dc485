import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeProjectDir, findTranscript, transcriptPath } from '../src/claude/paths.js';

const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-paths-')));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('encodeProjectDir', () => {
  it('names a directory as the CLI does: the real path with every non-alphanumeric as "-"', () => {
    const dir = path.join(root, 'a.b_c d-e');
    fs.mkdirSync(dir);
    expect(encodeProjectDir(dir)).toBe(`${root}/a.b_c d-e`.replace(/[^a-zA-Z0-9]/g, '-'));
    expect(encodeProjectDir('/srv/ü')).toBe('-srv--');
  });

  it('follows a symlinked directory to its target', () => {
    const target = path.join(root, 'target');
    fs.mkdirSync(target);
    fs.symlinkSync(target, path.join(root, 'link'));
    expect(encodeProjectDir(path.join(root, 'link'))).toBe(encodeProjectDir(target));
  });
});

describe('transcriptPath', () => {
  it('is <config>/projects/<encoded cwd>/<id>.jsonl for short paths', () => {
    expect(transcriptPath('/cfg', '/srv/work/1-2', 'abc')).toBe('/cfg/projects/-srv-work-1-2/abc.jsonl');
  });

  it('finds a transcript by its id when the encoded name is too long to reproduce', () => {
    const cfg = path.join(root, 'cfg');
    const long = `/${'x'.repeat(250)}`;
    const stored = path.join(cfg, 'projects', `${'-x'.repeat(100).slice(0, 200)}-o6amt5`, 'sid.jsonl');
    fs.mkdirSync(path.dirname(stored), { recursive: true });
    fs.writeFileSync(stored, '{}\n');
    expect(transcriptPath(cfg, long, 'sid')).toBe(stored);
    expect(findTranscript(cfg, 'sid')).toBe(stored);
    expect(findTranscript(cfg, 'other')).toBeUndefined();
    expect(findTranscript(path.join(root, 'nowhere'), 'sid')).toBeUndefined();
  });
});

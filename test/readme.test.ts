// Issue 21: the README's reference parts cannot drift from the code: every setting src/config.ts reads is in the
// Configuration table, and the Layout lists exactly what `ls src` shows.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_NAMES } from '../src/config.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const section = (title: string) => {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, title).toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
};

describe('README', () => {
  it('the Configuration table names every variable the config reads, and no other', () => {
    const rows = section('Configuration').split('\n').filter((l) => l.startsWith('| `'));
    const named = rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!));
    expect([...named].sort()).toEqual([...ENV_NAMES].sort());
  });

  it('the Layout lists every entry of src/, and only those', () => {
    const block = /```\n([\s\S]*?)```/.exec(section('Layout'))![1]!;
    const listed = block.split('\n').map((l) => /^src\/(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x);
    expect(listed.sort()).toEqual(fs.readdirSync(path.join(ROOT, 'src')).sort());
  });
});

// The reference docs cannot drift from the code: every setting src/config.ts reads is in docs/configuration.md's table,
// the Layout in docs/development.md lists exactly what `ls src` shows, and the README stays short and links them.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_NAMES } from '../src/config.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const section = (file: string, title: string) => {
  const text = read(file);
  const start = text.indexOf(`\n## ${title}\n`);
  expect(start, title).toBeGreaterThan(-1);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
};

describe('README and docs', () => {
  it('the configuration table names every variable the config reads, and no other', () => {
    const rows = read('docs/configuration.md').split('\n').filter((l) => l.startsWith('| `'));
    const named = rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!));
    expect([...named].sort()).toEqual([...ENV_NAMES].sort());
  });

  it('the Layout lists every entry of src/, and only those', () => {
    const block = /```\n([\s\S]*?)```/.exec(section('docs/development.md', 'Layout'))![1]!;
    const listed = block.split('\n').map((l) => /^src\/(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x);
    expect(listed.sort()).toEqual(fs.readdirSync(path.join(ROOT, 'src')).sort());
  });

  it('the README stays short and every doc it links exists', () => {
    const readme = read('README.md');
    expect(readme.length).toBeLessThan(11_000);
    const links = [...readme.matchAll(/\]\((docs\/[^)#]+)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThanOrEqual(6);
    for (const l of links) expect(fs.existsSync(path.join(ROOT, l)), l).toBe(true);
  });
});

// `npm run eval` without a key: the labelled review set runs end to end against the model stand-in (plumbing only).
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadSet, score } from '../eval/run.js';

describe('the labelled review set', () => {
  it('parses, and every expected finding points at a line of the case (or the sample repo)', () => {
    const { repo, cases } = loadSet();
    expect(cases.length).toBeGreaterThanOrEqual(8);
    expect(cases.filter((c) => c.expected.length).length).toBeGreaterThanOrEqual(4);
    expect(cases.filter((c) => !c.expected.length).length).toBeGreaterThanOrEqual(4);
    for (const c of cases) {
      for (const e of c.expected) {
        const text = c.files[e.file] ?? repo[e.file];
        expect(text, `${c.name}: ${e.file}`).toBeDefined();
        for (const l of e.lines) expect(text!.split('\n')[l - 1]?.trim(), `${c.name}: ${e.file}:${l}`).toBeTruthy();
        if (e.rule) expect(repo['CLAUDE.md']).toContain(e.rule);
      }
    }
  });

  it('scores a posted finding on an expected line (with slack) once', () => {
    const exp = [{ file: 'a.js', lines: [10], why: 'x' }];
    expect(score(exp, [{ file: 'a.js', line: 11, title: '' }, { file: 'a.js', line: 10, title: '' }, { file: 'b.js', line: 10, title: '' }])).toEqual({ tp: 1, fp: 2, missed: [] });
    expect(score(exp, [])).toEqual({ tp: 0, fp: 0, missed: exp });
  });

  it('npm run eval without a key: reviews every MR through the bot and prints precision, recall and cost per finding', async () => {
    const env = { ...process.env };
    delete env.ANTHROPIC_API_KEY;
    const r = await execa('npm', ['run', '--silent', 'eval'], { reject: false, env, extendEnv: false, timeout: 600_000 });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('running against the model stand-in (plumbing check only)');
    // The stand-in answers with the labels plus one invented finding per clean case: the checks must drop each one.
    expect(r.stdout).toContain('precision: 100.0%');
    expect(r.stdout).toContain('recall:    100.0%');
    expect(r.stdout).toMatch(/cost: {6}\$\d+\.\d{4} total, \$\d+\.\d{4} per posted finding/);
    expect(r.stdout).toMatch(/- rename-only: 0 posted, 0 true, 0 false positives, 0 missed, \$[\d.]+ \(dropped: 1 finding \(1 quote not found in the code\)\)/);
    expect(r.stdout).toMatch(/- float-money: 1 posted, 1 true/);
  }, 660_000);
});

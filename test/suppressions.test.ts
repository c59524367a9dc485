import { describe, expect, it } from 'vitest';
import { lintProblem, suppressionsIn } from '../src/review/suppressions.js';

const f = (category: 'bug' | 'style' | 'security', title: string, body = '') => ({ category, title, body });

describe('suppressionsIn', () => {
  it('finds common suppression comments and the rules they name', () => {
    expect(suppressionsIn(['  // eslint-disable-next-line no-eval, security/detect-eval'])[0]!.rules).toEqual(['no-eval', 'security/detect-eval']);
    expect(suppressionsIn(['x = 1  # noqa: E501'])[0]!.rules).toEqual(['E501']);
    expect(suppressionsIn(['// @ts-expect-error'])[0]!.rules).toEqual([]);
    expect(suppressionsIn(['#[allow(clippy::unwrap_used)]'])[0]!.rules).toEqual(['clippy::unwrap_used']);
    expect(suppressionsIn(['return a / b;'])).toEqual([]);
  });
});

describe('lintProblem', () => {
  it('drops a finding about the very rule the line suppresses', () => {
    expect(lintProblem(f('security', 'eval of user input', 'no-eval is disabled here'), ['// eslint-disable-next-line no-eval', 'eval(x);'], false)).toMatch(/lint suppression/);
  });
  it('keeps a finding about something else on a suppressed line', () => {
    expect(lintProblem(f('bug', 'Division by zero'), ['// eslint-disable-next-line no-eval', 'eval(a / b);'], false)).toBeUndefined();
  });
  it('leaves style to linters unless the repository asks for nits', () => {
    expect(lintProblem(f('style', 'Prefer const'), ['let x = 1;'], false)).toMatch(/linters/);
    expect(lintProblem(f('style', 'Prefer const'), ['let x = 1;'], true)).toBeUndefined();
    expect(lintProblem(f('style', 'Long line'), ['x = 1  # noqa'], true)).toMatch(/lint suppression/);
  });
});

import { describe, expect, it } from 'vitest';
import { ruleProblem } from '../src/review/rules.js';

const guidance = [
  { path: 'CLAUDE.md', text: '# Rules\n- Never log request bodies: they carry tokens.\n' },
  { path: 'src/api/REVIEW.md', text: 'All handlers must validate input with zod.' },
];

describe('ruleProblem', () => {
  it('requires a rule violation to quote a rule', () => {
    expect(ruleProblem({ category: 'rule_violation', rule: null }, guidance)).toBe('rule violation without a quoted rule');
    expect(ruleProblem({ category: 'bug', rule: undefined }, guidance)).toBeUndefined();
  });
  it('treats a finding that invokes a guidance file as a rule claim, whatever its category', () => {
    expect(ruleProblem({ category: 'security', rule: null, title: 'Logs a body', body: 'CLAUDE.md forbids this.' }, guidance)).toBe('names a guidance file without quoting its rule');
    expect(ruleProblem({ category: 'security', rule: { source: 'CLAUDE.md', quote: 'Never log request bodies' }, title: 'Logs a body', body: 'CLAUDE.md forbids this.' }, guidance)).toBeUndefined();
  });
  it('accepts a quote found in the named file (bullets, case and spacing aside)', () => {
    expect(ruleProblem({ category: 'rule_violation', rule: { source: 'CLAUDE.md', quote: '- never log request bodies' } }, guidance)).toBeUndefined();
    expect(ruleProblem({ category: 'rule_violation', rule: { source: 'src/api/REVIEW.md', quote: 'handlers must  validate input' } }, guidance)).toBeUndefined();
    expect(ruleProblem({ category: 'rule_violation', rule: { source: 'api/REVIEW.md', quote: 'must validate input with zod' } }, guidance)).toBeUndefined();
  });
  it('drops an invented rule, a wrong source, or a quote too short to mean anything', () => {
    expect(ruleProblem({ category: 'rule_violation', rule: { source: 'CLAUDE.md', quote: 'Always use tabs for indentation' } }, guidance)).toBe('the quoted rule is not in CLAUDE.md');
    expect(ruleProblem({ category: 'rule_violation', rule: { source: 'CONTRIBUTING.md', quote: 'Never log request bodies' } }, guidance)).toMatch(/not a guidance file/);
    expect(ruleProblem({ category: 'rule_violation', rule: { source: 'CLAUDE.md', quote: 'Never' } }, guidance)).toMatch(/too short/);
    expect(ruleProblem({ category: 'bug', rule: { source: 'CLAUDE.md', quote: 'All handlers must validate input' } }, guidance)).toMatch(/not in CLAUDE.md/);
  });
});

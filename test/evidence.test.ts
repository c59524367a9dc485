import { describe, expect, it } from 'vitest';
import { citedPaths, evidenceProblem, parseEvidence, quoteMatches } from '../src/review/evidence.js';

const FILE = 'export function div(a, b) {\n  return a / b;\n}\n\nexport const x = `tpl`;\n';
const files = new Map([['src/math.js', FILE]]);

describe('parseEvidence', () => {
  it('reads path:line: quote, ranges, backticks and ./ prefixes', () => {
    expect(parseEvidence('src/math.js:2: return a / b;')).toEqual({ path: 'src/math.js', line: 2, endLine: 2, quote: 'return a / b;' });
    expect(parseEvidence('`./src/math.js:1-2: return a / b;`')).toEqual({ path: 'src/math.js', line: 1, endLine: 2, quote: 'return a / b;' });
    expect(parseEvidence('src/math.js:2: `return a / b;`')?.quote).toBe('return a / b;');
  });
  it('rejects what is not a checkable reference', () => {
    expect(parseEvidence('src/math.js:2')).toBeUndefined();
    expect(parseEvidence('the division on line 2')).toBeUndefined();
    expect(parseEvidence('src/math.js:0: x')).toBeUndefined();
    expect(parseEvidence('src/math.js:5-2: x')).toBeUndefined();
  });
});

describe('quoteMatches', () => {
  it('matches a quote (or a fragment) on the cited line, whitespace-insensitive', () => {
    expect(quoteMatches(parseEvidence('src/math.js:2: return   a / b;')!, FILE)).toBe(true);
    expect(quoteMatches(parseEvidence('src/math.js:2: a / b')!, FILE)).toBe(true);
    expect(quoteMatches(parseEvidence('src/math.js:1-2: div(a, b) { return a')!, FILE)).toBe(true);
  });
  it('accepts a quote copied from the rendered diff with its "2 +" or "+" prefix', () => {
    expect(quoteMatches(parseEvidence('src/math.js:2: 2 +  return a / b;')!, FILE)).toBe(true);
    expect(quoteMatches(parseEvidence('src/math.js:2: +  return a / b;')!, FILE)).toBe(true);
    expect(quoteMatches(parseEvidence('src/math.js:2: 2 +  return a * b;')!, FILE)).toBe(false);
  });
  it('drops a quote on the wrong line, an invented one, a too-short one, or a missing file', () => {
    expect(quoteMatches(parseEvidence('src/math.js:1: return a / b;')!, FILE)).toBe(false);
    expect(quoteMatches(parseEvidence('src/math.js:2: return a / b || 0;')!, FILE)).toBe(false);
    expect(quoteMatches(parseEvidence('src/math.js:3: }')!, FILE)).toBe(false);
    expect(quoteMatches(parseEvidence('src/math.js:99: return a / b;')!, FILE)).toBe(false);
    expect(quoteMatches(parseEvidence('src/math.js:2: return a / b;')!, undefined)).toBe(false);
  });
});

describe('evidenceProblem', () => {
  it('passes when every quote is where it says', () => {
    expect(evidenceProblem(['src/math.js:2: return a / b;', 'src/math.js:5: export const x'], files)).toBeUndefined();
  });
  it('names the first problem: none quoted, wrong form, unknown file, mismatch', () => {
    expect(evidenceProblem([], files)).toBe('no evidence quoted');
    expect(evidenceProblem(['src/math.js:2'], files)).toMatch(/not in "path:line: quoted text" form/);
    expect(evidenceProblem(['src/other.js:1: something'], files)).toMatch(/not in the checkout/);
    expect(evidenceProblem(['src/math.js:2: return a / b;', 'src/math.js:1: return b / a;'], files)).toBe('quote not found at src/math.js:1');
  });
  it('lists the cited files once', () => {
    expect(citedPaths([['src/a.js:1: x = 1', 'b.js:2: y'], ['src/a.js:3: zzzz', 'junk']])).toEqual(['src/a.js', 'b.js']);
  });
});

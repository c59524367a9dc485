import { describe, expect, it } from 'vitest';
import { suggestionLines, suggestionProblem } from '../src/review/suggestions.js';

const CUR = ['  return a / b;'];

describe('suggestionProblem', () => {
  it('accepts whole lines with the file indentation that change something', () => {
    expect(suggestionProblem('  if (b === 0) throw new RangeError("b");\n  return a / b;', CUR)).toBeUndefined();
    expect(suggestionProblem('\tx = 1;\n', ['\tx = 0;'])).toBeUndefined();
    expect(suggestionProblem('', ['  debugger;'])).toBeUndefined(); // deletes the line
  });
  it('drops copied line numbers', () => {
    expect(suggestionProblem('6 +  return b ? a / b : 0;', CUR)).toBe('carries copied line numbers');
    expect(suggestionProblem('     6\t  return b ? a / b : 0;', CUR)).toBe('carries copied line numbers');
    expect(suggestionProblem('6:   return b ? a / b : 0;', CUR)).toBe('carries copied line numbers');
  });
  it('drops diff markers', () => {
    expect(suggestionProblem('-  return a / b;\n+  return b ? a / b : 0;', CUR)).toBe('carries diff markers (+/-)');
    expect(suggestionProblem('+  return b ? a / b : 0;', CUR)).toBe('carries diff markers (+/-)');
    expect(suggestionProblem('  i++;\n  return -1;', ['  return 1;'])).toBeUndefined(); // ++ and -1 are code
  });
  it('drops a fragment or a change of indentation', () => {
    expect(suggestionProblem('b === 0 ? 0 : a / b', CUR)).toMatch(/does not keep the indentation/);
    expect(suggestionProblem('    return b ? a / b : 0;', CUR)).toMatch(/does not keep the indentation/);
    expect(suggestionProblem('\treturn b ? a / b : 0;', CUR)).toMatch(/does not keep the indentation/);
    expect(suggestionProblem('  if (b) {\n\treturn 1;\n  }', ['  if (a) {', '    return 1;', '  }'])).toBe('indents with tabs where the file uses spaces');
  });
  it('drops a suggestion that changes nothing, or whose lines are unknown', () => {
    expect(suggestionProblem('  return a  /  b;\n', CUR)).toBe('changes nothing');
    expect(suggestionProblem('  return 0;', undefined)).toBe('the lines it would replace are not known');
  });
  it('reads the text as GitLab inserts it', () => {
    expect(suggestionLines('a\r\nb\n')).toEqual(['a', 'b']);
  });
});

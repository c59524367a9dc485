import { describe, expect, it } from 'vitest';
import { findingFingerprint, readMarker, shortHash, withMarker } from '../src/gitlab/markers.js';

describe('withMarker / readMarker', () => {
  it('round-trips and tolerates whitespace and CRLF', () => {
    const body = withMarker('Hello\n\n', { kind: 'summary', runs: 3, fp: 'x' });
    expect(body).toBe('Hello\n\n<!-- mr-reviewer {"kind":"summary","runs":3,"fp":"x"} -->');
    expect(readMarker(body)).toEqual({ kind: 'summary', runs: 3, fp: 'x' });
    expect(readMarker('text\r\n\r\n<!--   mr-reviewer\r\n  {"kind": "reply"}\r\n-->  ')).toEqual({ kind: 'reply' });
  });

  it('cannot be closed early by marker values', () => {
    const body = withMarker('b', { kind: 'failure', error: 'x --> <b>y</b>' });
    expect(body).not.toMatch(/-->[\s\S]*-->/);
    expect(readMarker(body)).toEqual({ kind: 'failure', error: 'x --> <b>y</b>' });
  });

  it('ignores markers in code blocks, quotes, unknown kinds and bad JSON', () => {
    const marker = '<!-- mr-reviewer {"kind":"finding","fp":"evil"} -->';
    expect(readMarker(`look:\n\n\`\`\`\n${marker}\n\`\`\``)).toBeUndefined();
    expect(readMarker(`~~~md\n${marker}\n~~~`)).toBeUndefined();
    expect(readMarker(`\`\`\`\n${marker}`)).toBeUndefined(); // unclosed fence
    expect(readMarker(`> quoted\n> ${marker}`)).toBeUndefined();
    expect(readMarker(`text\n\n    ${marker}`)).toBeUndefined();
    expect(readMarker('<!-- mr-reviewer {"kind":"bogus"} -->')).toBeUndefined();
    expect(readMarker('<!-- mr-reviewer {kind:finding} -->')).toBeUndefined();
    expect(readMarker('plain note')).toBeUndefined();
    // a real marker after a user's code block still counts; the last one wins
    expect(readMarker(`\`\`\`\n${marker}\n\`\`\`\n\n<!-- mr-reviewer {"kind":"help"} -->`)).toEqual({ kind: 'help' });
  });

});

describe('findingFingerprint', () => {
  it('ignores line numbers and whitespace but not file, text or category', () => {
    const a = findingFingerprint({ file: 'src/pay.ts', anchor_text: '  if (amount < 0) return;', category: 'bug' });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(findingFingerprint({ file: './src/pay.ts', anchor_text: 'if (amount <  0) return;', category: 'bug', title: 'other' })).toBe(a);
    expect(findingFingerprint({ file: 'src/pay2.ts', anchor_text: 'if (amount < 0) return;', category: 'bug' })).not.toBe(a);
    expect(findingFingerprint({ file: 'src/pay.ts', anchor_text: 'if (amount < 1) return;', category: 'bug' })).not.toBe(a);
    expect(findingFingerprint({ file: 'src/pay.ts', anchor_text: 'if (amount < 0) return;', category: 'security' })).not.toBe(a);
    // empty anchor: title decides
    const e1 = findingFingerprint({ file: 'a', anchor_text: '', category: 'bug', title: 'X' });
    expect(findingFingerprint({ file: 'a', anchor_text: ' ', category: 'bug', title: 'Y' })).not.toBe(e1);
  });
});

describe('shortHash', () => {
  it('is a stable hex prefix of the text\'s SHA-1, of the length asked for', () => {
    expect(shortHash('abc')).toBe('a9993e364706');
    expect(shortHash('abc', 4)).toBe('a999');
    expect(shortHash('abd')).not.toBe(shortHash('abc'));
  });
});

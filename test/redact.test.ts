import { describe, expect, it } from 'vitest';
import { makeRedactor } from '../src/redact.js';

const SECRET = 'hook-secret-0123456789';

describe('makeRedactor', () => {
  const redact = makeRedactor([SECRET, 'glpat-ours-abcdefghijkl', 'abc', '']);

  it('replaces a configured secret wherever it appears', () => {
    expect(redact(`token=${SECRET}; again ${SECRET}`)).toBe('token=[redacted]; again [redacted]');
  });

  it('finds a secret written base64-encoded at any alignment, in both alphabets', () => {
    for (const prefix of ['', 'a', 'ab', 'user:']) {
      const b64 = Buffer.from(`${prefix}${SECRET}`).toString('base64');
      expect(redact(`Authorization: Basic ${b64}`)).toBe('Authorization: Basic [redacted]');
      expect(redact(Buffer.from(`${prefix}${SECRET}`).toString('base64url'))).toBe('[redacted]');
    }
  });

  it('finds a secret URL-encoded, and leaves other URL-encoded text alone', () => {
    const withSecret = makeRedactor(['pa ss/word+1']);
    expect(withSecret(`https://x/?p=${encodeURIComponent('pa ss/word+1')}&q=1`)).toBe('[redacted]');
    expect(withSecret('https://x/?q=hello%20world')).toBe('https://x/?q=hello%20world');
    expect(withSecret('broken %E0%A4%A escape')).toBe('broken %E0%A4%A escape');
  });

  it('removes GitLab and Anthropic token shapes that are not ours too', () => {
    expect(redact('glpat-someone-elses-token-123 and sk-ant-api03-abcdefghijklmnop')).toBe('[redacted] and [redacted]');
    expect(redact('glpat-short')).toBe('glpat-short');
  });

  it('ignores secrets too short to redact safely, and changes nothing without a match', () => {
    expect(redact('abc and plain text')).toBe('abc and plain text');
    expect(makeRedactor([])('nothing here')).toBe('nothing here');
  });
});

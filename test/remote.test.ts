import { describe, expect, it } from 'vitest';
import { checkRemote, isCommitId, UntrustedRemote } from '../src/workspace/remote.js';
import { isTransient } from '../src/jobs/retry.js';

describe('checkRemote', () => {
  const base = 'https://gitlab.example.com';
  it('accepts clone URLs under GITLAB_URL', () => {
    expect(checkRemote('https://gitlab.example.com/g/app.git', base)).toBe('https://gitlab.example.com/g/app.git');
    expect(checkRemote('https://gitlab.example.com:443/g/sub/app.git', base)).toBe('https://gitlab.example.com/g/sub/app.git');
    expect(checkRemote('https://h.example/gitlab/g/app.git', 'https://h.example/gitlab/')).toBe('https://h.example/gitlab/g/app.git');
  });

  it.each([
    ['another host', 'https://evil.example/g/app.git'],
    ['a look-alike host', 'https://gitlab.example.com.evil.example/g/app.git'],
    ['another scheme', 'http://gitlab.example.com/g/app.git'],
    ['another port', 'https://gitlab.example.com:8443/g/app.git'],
    ['credentials', 'https://u:p@gitlab.example.com/g/app.git'],
    ['an option', '--upload-pack=touch /tmp/pwned'],
    ['a local path', '/srv/repos/app.git'],
    ['file://', 'file:///etc/passwd'],
    ['ext::', 'ext::sh -c touch% /tmp/pwned'],
    ['the base itself', 'https://gitlab.example.com'],
    ['a query', 'https://gitlab.example.com/g/app.git?x=1'],
  ])('refuses %s, as a permanent error', (_why, url) => {
    expect(() => checkRemote(url, base)).toThrow(UntrustedRemote);
    try {
      checkRemote(url, base);
    } catch (e) {
      expect(isTransient(e)).toBe(false);
    }
  });

  it('refuses paths outside a GITLAB_URL with a path prefix', () => {
    expect(() => checkRemote('https://h.example/gitlab-evil/g/app.git', 'https://h.example/gitlab')).toThrow(UntrustedRemote);
    expect(() => checkRemote('https://h.example/gitlab/../x/app.git', 'https://h.example/gitlab')).toThrow(UntrustedRemote);
  });
});

describe('isCommitId', () => {
  it('takes SHA-1 and SHA-256 hex only', () => {
    expect(isCommitId('a'.repeat(40))).toBe(true);
    expect(isCommitId('0123456789abcdef'.repeat(4))).toBe(true);
    for (const s of ['--output=/tmp/x', 'HEAD', 'a'.repeat(39), 'A'.repeat(40), `${'a'.repeat(40)}^{tree}`, 'refs/heads/main']) expect(isCommitId(s)).toBe(false);
  });
});

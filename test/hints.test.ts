import { describe, expect, it } from 'vitest';
import { tokenRejected, UNREACHABLE_FIX } from '../src/gitlab/hints.js';

describe('operator hints', () => {
  it('a rejected token names the status and the fix: a new token with the api scope', () => {
    const h = tokenRejected(401);
    expect(h.detail).toMatch(/^GET \/user answered 401: GITLAB_TOKEN is wrong/);
    expect(h.fix).toContain('scope "api"');
    expect(tokenRejected(403).detail).toContain('403');
  });

  it('an unreachable GitLab points at the URL, the network, proxies and CAs', () => {
    for (const word of ['GITLAB_URL', 'HTTPS_PROXY', 'NODE_EXTRA_CA_CERTS']) expect(UNREACHABLE_FIX).toContain(word);
  });
});

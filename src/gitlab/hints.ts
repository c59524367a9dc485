// What to tell an operator about GitLab failures that no retry can heal; `doctor` and `serve` say the same.

/** GET /user answered 401 or 403. */
export function tokenRejected(status: number): { detail: string; fix: string } {
  return {
    detail: `GET /user answered ${status}: GITLAB_TOKEN is wrong, expired, revoked or its user is blocked`,
    fix: 'create a new access token for the bot user (User settings → Access tokens, scope "api") and set GITLAB_TOKEN',
  };
}

// Node's fetch ignores HTTPS_PROXY (no proxy agent without undici as a dependency), so none is advised for GitLab.
export const UNREACHABLE_FIX = 'check GITLAB_URL, DNS and firewalls (behind a proxy set HTTPS_PROXY, and NO_PROXY for hosts reached directly); for a private CA set NODE_EXTRA_CA_CERTS';

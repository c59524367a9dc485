import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DAY_MS, ENV_NAMES, loadConfig } from '../src/config.js';

const minimal = { GITLAB_URL: 'https://gitlab.example.com/', GITLAB_TOKEN: 'glpat-token-1234', GITLAB_WEBHOOK_SECRET: 'hook-secret-1' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('loadConfig', () => {
  it('needs the GitLab URL, a token and a webhook credential, and fills in the rest', () => {
    const c = loadConfig(minimal);
    expect(c.GITLAB_URL).toBe('https://gitlab.example.com');
    expect(c.gitlabApiUrl).toBe('https://gitlab.example.com/api/v4');
    expect(c).toMatchObject({ PORT: 8080, HOST: expect.any(String), VERIFY_FINDINGS: true, MR_REVIEWER_ROLE: 'all', REDIS_PREFIX: 'mrr' });
    expect(path.isAbsolute(c.dataDir)).toBe(true);
    expect(c.MAX_CONCURRENT_SESSIONS).toBeGreaterThanOrEqual(1);
  });

  it('reports every problem, one line each, naming the variable', () => {
    const problems = problemsOf({ GITLAB_URL: 'not a url', PORT: '70000' });
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^config: GITLAB_URL is invalid: /),
      'config: GITLAB_TOKEN is required',
      expect.stringMatching(/^config: PORT is invalid: /),
      'config: GITLAB_WEBHOOK_SECRET is required (or GITLAB_WEBHOOK_SIGNING_KEY)',
    ]));
    expect(problems.every((p) => !p.includes('\n'))).toBe(true);
  });

  it('takes a signing key instead of the secret token, and treats empty values as unset', () => {
    expect(problemsOf({ ...minimal, GITLAB_WEBHOOK_SECRET: '', GITLAB_WEBHOOK_SIGNING_KEY: 'whsec_abc' })).toEqual([]);
    expect(problemsOf({ ...minimal, GITLAB_WEBHOOK_SECRET: '' })).toEqual(['config: GITLAB_WEBHOOK_SECRET is required (or GITLAB_WEBHOOK_SIGNING_KEY)']);
    expect(loadConfig({ ...minimal, REDIS_URL: '' }).REDIS_URL).toBeUndefined();
  });

  it('reads booleans and lists as people write them', () => {
    const c = loadConfig({ ...minimal, VERIFY_FINDINGS: 'No', ALLOWED_PROJECTS: ' acme/app, ,acme/lib ' });
    expect(c.VERIFY_FINDINGS).toBe(false);
    expect(c.ALLOWED_PROJECTS).toEqual(['acme/app', 'acme/lib']);
    expect(loadConfig({ ...minimal, VERIFY_FINDINGS: 'on' }).VERIFY_FINDINGS).toBe(true);
  });

  it('collects every secret (never logged or posted), skipping ones too short to matter', () => {
    const c = loadConfig({ ...minimal, ANTHROPIC_API_KEY: 'sk-ant-key-1', ADMIN_TOKEN: 'adm' });
    expect(c.secrets).toEqual(['glpat-token-1234', 'hook-secret-1', 'sk-ant-key-1']);
  });
});

describe('ENV_NAMES', () => {
  it('lists every variable the schema reads', () => {
    expect(ENV_NAMES).toEqual(expect.arrayContaining(['GITLAB_URL', 'GITLAB_TOKEN', 'DATA_DIR', 'REDIS_URL', 'RETENTION_SWEEP_MINUTES']));
    expect(new Set(ENV_NAMES).size).toBe(ENV_NAMES.length);
  });

  it('DAY_MS turns the day-valued retention settings into ms', () => {
    expect(loadConfig({ ...minimal, RETENTION_ORPHAN_DAYS: '0.5' }).RETENTION_ORPHAN_DAYS * DAY_MS).toBe(12 * 3_600_000);
  });
});

import { describe, expect, it } from 'vitest';
import { buildArgs, buildEnv, claudeBin, cliEnv, defaultClaudeBin, FORBIDDEN_TOOLS, REVIEW_TOOLS } from '../src/claude/options.js';
import { cliDirs } from '../src/claude/paths.js';

const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('buildArgs', () => {
  it('runs read-only: only Read, Grep and Glob, the rest forbidden, nothing loaded from the checkout', () => {
    const a = buildArgs({ mode: { kind: 'new', sessionId: 'id-1' }, systemPrompt: 'S' });
    expect(after(a, '--tools')).toBe(REVIEW_TOOLS.join(','));
    expect(after(a, '--disallowedTools')).toBe(FORBIDDEN_TOOLS.join(','));
    expect(FORBIDDEN_TOOLS).toEqual(expect.arrayContaining(['Bash', 'Write', 'Edit', 'WebFetch']));
    expect(after(a, '--setting-sources')).toBe('user');
    expect(a).toContain('--strict-mcp-config');
    expect(after(a, '--output-format')).toBe('json');
    expect(after(a, '--append-system-prompt')).toBe('S');
    expect(after(a, '--session-id')).toBe('id-1');
    expect(a).not.toContain('--resume');
  });

  it('resumes and forks by transcript path, the fork under the id it is given', () => {
    const r = buildArgs({ mode: { kind: 'resume', transcript: '/t/a.jsonl' }, systemPrompt: 'S' });
    expect(after(r, '--resume')).toBe('/t/a.jsonl');
    expect(r).not.toContain('--fork-session');
    expect(r).not.toContain('--session-id');
    const f = buildArgs({ mode: { kind: 'fork', transcript: '/t/a.jsonl', sessionId: 'id-2' }, systemPrompt: 'S' });
    expect(f.slice(-5)).toEqual(['--resume', '/t/a.jsonl', '--fork-session', '--session-id', 'id-2']);
  });

  it('passes model, budget and schema only when given', () => {
    const a = buildArgs({ mode: { kind: 'new', sessionId: 'x' }, systemPrompt: 'S', model: 'opus', maxBudgetUsd: 0.5, jsonSchema: { type: 'object' } });
    expect(after(a, '--model')).toBe('opus');
    expect(after(a, '--max-budget-usd')).toBe('0.5');
    expect(JSON.parse(after(a, '--json-schema')!)).toEqual({ type: 'object' });
    const b = buildArgs({ mode: { kind: 'new', sessionId: 'x' }, systemPrompt: 'S' });
    for (const flag of ['--model', '--max-budget-usd', '--json-schema']) expect(b).not.toContain(flag);
  });
});

describe('buildEnv', () => {
  const from = { PATH: '/bin', GITLAB_TOKEN: 'glpat-secret', GITLAB_WEBHOOK_SECRET: 'hook', HTTPS_PROXY: 'http://proxy:3128', LANG: 'C.UTF-8', HOME: '/root' };

  it('is an allowlist: the CLI never sees the GitLab token or webhook secret, only proxies and locale pass', () => {
    const env = buildEnv({ configDir: '/d/claude', homeDir: '/d/claude/home', anthropicApiKey: 'sk-ant-x', maxRetries: 2 }, from);
    expect(env).not.toHaveProperty('GITLAB_TOKEN');
    expect(env).not.toHaveProperty('GITLAB_WEBHOOK_SECRET');
    expect(env).toMatchObject({ PATH: '/bin', HOME: '/d/claude/home', CLAUDE_CONFIG_DIR: '/d/claude', HTTPS_PROXY: 'http://proxy:3128', LANG: 'C.UTF-8', ANTHROPIC_API_KEY: 'sk-ant-x', CLAUDE_CODE_MAX_RETRIES: '2', DISABLE_AUTOUPDATER: '1' });
    expect(env).not.toHaveProperty('ANTHROPIC_BASE_URL');
    expect(env).not.toHaveProperty('CLAUDE_CODE_OAUTH_TOKEN');
  });
});

describe('cliEnv and claudeBin', () => {
  it("runs the CLI with DATA_DIR's claude directories and the configured credentials; doctor's checks without retries", () => {
    const dirs = cliDirs('/data');
    expect(dirs).toEqual({ configDir: '/data/claude', homeDir: '/data/claude/home' });
    const config = { ANTHROPIC_API_KEY: undefined, ANTHROPIC_BASE_URL: 'http://model', CLAUDE_CODE_OAUTH_TOKEN: 'oat', CLAUDE_MAX_RETRIES: 2 };
    expect(cliEnv(config, dirs)).toMatchObject({ CLAUDE_CONFIG_DIR: '/data/claude', HOME: '/data/claude/home', ANTHROPIC_BASE_URL: 'http://model', CLAUDE_CODE_OAUTH_TOKEN: 'oat', CLAUDE_CODE_MAX_RETRIES: '2' });
    expect(cliEnv(config, dirs, 0).CLAUDE_CODE_MAX_RETRIES).toBe('0');
  });

  it('uses CLAUDE_BIN when set, else the binary npm installed', () => {
    expect(claudeBin({ CLAUDE_BIN: '/opt/claude' })).toBe('/opt/claude');
    expect(claudeBin({})).toBe(defaultClaudeBin());
    expect(defaultClaudeBin()).toMatch(/@anthropic-ai\/claude-code\/bin\/claude\.exe$/);
  });
});

// Building the CLI's argument list and its environment. Both are security boundaries (see docs/security.md).
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Config } from '../config.js';
import type { CliDirs } from './paths.js';

/** How a call relates to earlier sessions. Transcripts are passed by absolute path: resume by id only works from the original cwd. */
export type SessionMode =
  | { kind: 'new'; sessionId: string }
  | { kind: 'resume'; transcript: string }
  | { kind: 'fork'; transcript: string; sessionId: string };

export interface CallOptions {
  mode: SessionMode;
  systemPrompt: string;
  jsonSchema?: object;
  model?: string;
  maxBudgetUsd?: number;
  /** 'edit' only for an approved apply (flows/apply.ts): file edits in the checkout, still no Bash, network or MCP */
  tools?: ToolSet;
}

export type ToolSet = 'review' | 'edit';

/** Read-only tools. `--tools` is the only flag that removes tools; `--allowedTools` merely pre-approves. */
export const REVIEW_TOOLS = ['Read', 'Grep', 'Glob'];
export const FORBIDDEN_TOOLS = ['Bash', 'Write', 'Edit', 'MultiEdit', 'NotebookEdit', 'WebFetch', 'WebSearch', 'Task', 'TodoWrite'];
/** An apply's tools: read and edit files. Everything else stays forbidden. */
export const EDIT_TOOLS = ['Read', 'Grep', 'Glob', 'Edit', 'Write'];
const TOOLS: Record<ToolSet, { tools: string[]; forbidden: string[]; permissionMode: string }> = {
  review: { tools: REVIEW_TOOLS, forbidden: FORBIDDEN_TOOLS, permissionMode: 'default' },
  // acceptEdits: edits inside the working directory go through without a prompt (there is no one to ask under -p);
  // anything else still needs a permission nobody can give.
  edit: { tools: EDIT_TOOLS, forbidden: FORBIDDEN_TOOLS.filter((t) => !EDIT_TOOLS.includes(t)), permissionMode: 'acceptEdits' },
};

export function buildArgs(o: CallOptions): string[] {
  const args = [
    '-p',
    '--output-format', 'json',
    // Nothing from the checkout loads: no project settings/hooks/CLAUDE.md, no .mcp.json servers.
    '--setting-sources', 'user',
    '--strict-mcp-config',
    '--tools', TOOLS[o.tools ?? 'review'].tools.join(','),
    '--disallowedTools', TOOLS[o.tools ?? 'review'].forbidden.join(','),
    '--permission-mode', TOOLS[o.tools ?? 'review'].permissionMode,
    // Resumed sessions do not keep the system prompt or tools: pass them on every call.
    '--append-system-prompt', o.systemPrompt,
  ];
  if (o.model) args.push('--model', o.model);
  if (o.maxBudgetUsd !== undefined) args.push('--max-budget-usd', String(o.maxBudgetUsd));
  if (o.jsonSchema) args.push('--json-schema', JSON.stringify(o.jsonSchema));
  switch (o.mode.kind) {
    case 'new':
      args.push('--session-id', o.mode.sessionId);
      break;
    case 'resume':
      args.push('--resume', o.mode.transcript);
      break;
    case 'fork':
      args.push('--resume', o.mode.transcript, '--fork-session', '--session-id', o.mode.sessionId);
      break;
  }
  return args;
}

export interface EnvSettings {
  configDir: string;
  homeDir: string;
  anthropicApiKey?: string;
  anthropicBaseUrl?: string;
  oauthToken?: string;
  maxRetries: number;
}

/** Variables passed through from the bot's own environment when set: locale, proxies, CA bundles. Nothing else. */
const PASS_THROUGH = ['LANG', 'LC_ALL', 'TZ', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'];

/** An allowlist: the child never sees GITLAB_TOKEN, webhook secrets or anything else of the bot's. */
export function buildEnv(s: EnvSettings, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {
    PATH: from.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: s.homeDir,
    TMPDIR: from.TMPDIR ?? '/tmp',
    CLAUDE_CONFIG_DIR: s.configDir,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_AUTO_MEMORY: '1',
    // The job queue retries with its own backoff; the CLI's default is ~3 minutes of retries.
    CLAUDE_CODE_MAX_RETRIES: String(s.maxRetries),
  };
  for (const k of PASS_THROUGH) if (from[k]) env[k] = from[k]!;
  if (s.anthropicApiKey) env.ANTHROPIC_API_KEY = s.anthropicApiKey;
  if (s.anthropicBaseUrl) env.ANTHROPIC_BASE_URL = s.anthropicBaseUrl;
  if (s.oauthToken) env.CLAUDE_CODE_OAUTH_TOKEN = s.oauthToken;
  return env;
}

/** The claude binary that `npm ci` installed (the package ships a native executable). */
export function defaultClaudeBin(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@anthropic-ai/claude-code/package.json');
  return path.join(path.dirname(pkg), 'bin', 'claude.exe');
}

/** CLAUDE_BIN, or the one `npm ci` installed. */
export const claudeBin = (config: Pick<Config, 'CLAUDE_BIN'>): string => config.CLAUDE_BIN ?? defaultClaudeBin();

type CliSettings = Pick<Config, 'ANTHROPIC_API_KEY' | 'ANTHROPIC_BASE_URL' | 'CLAUDE_CODE_OAUTH_TOKEN' | 'CLAUDE_MAX_RETRIES'>;

/** The CLI's environment for these settings: what `serve` runs it with, and what `doctor` checks it with. */
export function cliEnv(config: CliSettings, dirs: CliDirs, maxRetries = config.CLAUDE_MAX_RETRIES): Record<string, string> {
  return buildEnv({
    configDir: dirs.configDir,
    homeDir: dirs.homeDir,
    anthropicApiKey: config.ANTHROPIC_API_KEY,
    anthropicBaseUrl: config.ANTHROPIC_BASE_URL,
    oauthToken: config.CLAUDE_CODE_OAUTH_TOKEN,
    maxRetries,
  });
}

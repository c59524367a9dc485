// Settings: zod over the environment. Every problem is reported on its own line, then start-up stops.
import path from 'node:path';
import { z } from 'zod';
import { defaultConcurrency } from './claude/concurrency.js';

/** The retention settings are in days; everything inside counts in ms. */
export const DAY_MS = 86_400_000;

const bool = z
  .string()
  .transform((s) => ['1', 'true', 'yes', 'on'].includes(s.trim().toLowerCase()));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const url = z.string().url().transform((s) => s.replace(/\/+$/, ''));
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

const schema = z.object({
  GITLAB_URL: url,
  GITLAB_TOKEN: z.string().min(1, 'must not be empty'),
  /** X-Gitlab-Token; optional when GITLAB_WEBHOOK_SIGNING_KEY is set (one of the two is required) */
  GITLAB_WEBHOOK_SECRET: z.string().min(8, 'must be at least 8 characters').optional(),
  GITLAB_WEBHOOK_SIGNING_KEY: z.string().optional(),
  PORT: int(0, 65535).default(8080),
  /** when set, the status page, /metrics and /readyz move to this port: PORT then serves only webhooks and /healthz */
  ADMIN_PORT: int(0, 65535).optional(),
  HOST: z.string().default('0.0.0.0'),
  DATA_DIR: z.string().default('./data'),
  ANTHROPIC_API_KEY: z.string().optional(),
  ANTHROPIC_BASE_URL: url.optional(),
  CLAUDE_CODE_OAUTH_TOKEN: z.string().optional(),
  CLAUDE_MODEL: z.string().optional(),
  CLAUDE_BIN: z.string().optional(),
  CLAUDE_TIMEOUT_MS: int(1_000, 3_600_000).default(600_000),
  CLAUDE_MAX_RETRIES: int(0, 10).default(2),
  REVIEW_BUDGET_USD: num(0.01, 100).default(2),
  THREAD_BUDGET_USD: num(0.01, 100).default(0.5),
  MAX_CONCURRENT_SESSIONS: int(1, 64).default(defaultConcurrency()),
  MAX_DIFF_CHARS: int(1_000, 5_000_000).default(120_000),
  /** GitLab's own maximum webhook payload is 25 MB: a lower limit would refuse (and lose) real deliveries */
  MAX_BODY_BYTES: int(1_024, 25 * 1024 * 1024).default(25 * 1024 * 1024),
  MIN_SEVERITY: z.enum(['critical', 'major', 'minor', 'nit']).default('minor'),
  REVIEW_DRAFTS: bool.default(false),
  /** a second, independent look at each finding before it is posted (review/verifier.ts) */
  VERIFY_FINDINGS: bool.default(true),
  REPLY_LANGUAGE: z.string().optional(),
  ALLOWED_PROJECTS: list.optional(),
  /** how long a commenter's GitLab role is cached before it is asked again; 0 = every time */
  ACCESS_CACHE_MS: int(0, 3_600_000).default(300_000),
  /** questions answered per user per MR per UTC day (repo config `questions_per_user_per_day` overrides); 0 = no limit */
  QUESTIONS_PER_USER_PER_DAY: int(0, 10_000).default(20),
  /** `@bot apply`: the largest change (lines added + removed) it commits; repo config can change it */
  APPLY_MAX_DIFF_LINES: int(1, 100_000).default(200),
  /** jobs started per project per minute (token bucket, burst = rate); more are delayed, never refused; 0 = no limit */
  PROJECT_RATE_LIMIT_PER_MIN: int(0, 1_000_000).default(120),
  /** an optional cap on a job's attempts; 0 = none, the horizon decides */
  JOB_ATTEMPTS: int(0, 100_000).default(0),
  /** a git fetch holds its project's lock: after this long it is killed and the job retried later */
  GIT_FETCH_TIMEOUT_MS: int(1_000, 3_600_000).default(120_000),
  RETRY_BASE_MS: int(10, 600_000).default(2_000),
  /** the longest wait between two attempts of a job */
  RETRY_MAX_DELAY_MS: int(10, 24 * 3_600_000).default(600_000),
  /** how long after it was accepted a job failing for a transient reason keeps being retried */
  RETRY_HORIZON_MS: int(0, 30 * 24 * 3_600_000).default(24 * 3_600_000),
  SHUTDOWN_DEADLINE_MS: int(0, 3_600_000).default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ADMIN_TOKEN: z.string().optional(),
  REDIS_URL: z.string().optional(),
  /** key prefix in Redis: one per deployment sharing a Redis */
  REDIS_PREFIX: z.string().min(1).default('mrr'),
  /** Redis mode: how long a dead replica can hold a job's lane or a session lock (renewed while alive) */
  JOB_LOCK_MS: int(1_000, 600_000).default(30_000),
  MR_REVIEWER_ROLE: z.enum(['all', 'web', 'worker']).default('all'),
  /** retention (store/retention.ts), in days: a closed/merged MR's worktree, transcripts and threads after it closed and went quiet */
  RETENTION_CLOSED_MR_DAYS: num(0.00001, 3650).default(30),
  /** a closed/merged MR's record (findings, withdrawn fingerprints) after it went quiet */
  RETENTION_RECORD_DAYS: num(0.00001, 3650).default(180),
  /** worktrees and transcripts no record refers to; failed jobs; delivery ids (the dedupe window) */
  RETENTION_ORPHAN_DAYS: num(0.00001, 3650).default(7),
  RETENTION_FAILED_JOB_DAYS: num(0.00001, 3650).default(30),
  RETENTION_DELIVERY_DAYS: num(0.00001, 3650).default(7),
  RETENTION_SWEEP_MINUTES: num(0.001, 10_080).default(60),
});

export type Env = z.infer<typeof schema>;
/** every variable the bot reads (deploy files are checked against this) */
export const ENV_NAMES: readonly string[] = Object.keys(schema.shape);

export interface Config extends Env {
  /** absolute DATA_DIR */
  dataDir: string;
  gitlabApiUrl: string;
  /** values that must never appear in a log line, a posted note or the model's input */
  secrets: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "not set", as in most deploy tools.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  // A webhook needs a credential: the token, the signing key, or both.
  const noCredential = !cleaned.GITLAB_WEBHOOK_SECRET && !cleaned.GITLAB_WEBHOOK_SIGNING_KEY
    ? ['config: GITLAB_WEBHOOK_SECRET is required (or GITLAB_WEBHOOK_SIGNING_KEY)'] : [];
  if (!parsed.success || noCredential.length) {
    throw new ConfigError([
      ...(parsed.error?.issues ?? []).map((i) => {
        const key = String(i.path[0] ?? '');
        const missing = i.code === 'invalid_type' && cleaned[key] === undefined;
        return `config: ${key} ${missing ? 'is required' : `is invalid: ${i.message}`}`;
      }),
      ...noCredential,
    ]);
  }
  const e = parsed.data;
  const secrets = [e.GITLAB_TOKEN, e.GITLAB_WEBHOOK_SECRET, e.GITLAB_WEBHOOK_SIGNING_KEY, e.ANTHROPIC_API_KEY, e.CLAUDE_CODE_OAUTH_TOKEN, e.ADMIN_TOKEN]
    .filter((s): s is string => !!s && s.length >= 4);
  return {
    ...e,
    dataDir: path.resolve(e.DATA_DIR),
    gitlabApiUrl: `${e.GITLAB_URL}/api/v4`,
    secrets,
  };
}

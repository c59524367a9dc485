// Settings: zod over the environment. Every problem is reported on its own line, then start-up stops.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const bool = z
  .string()
  .transform((s) => ['1', 'true', 'yes', 'on'].includes(s.trim().toLowerCase()));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const url = z.string().url().transform((s) => s.replace(/\/+$/, ''));
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

/** ~300 MB per CLI process; leave room for the bot and the OS. */
export function defaultConcurrency(): number {
  const byMemory = Math.floor((os.totalmem() * 0.5) / (300 * 1024 * 1024));
  return Math.max(1, Math.min(byMemory, os.availableParallelism() * 2, 8));
}

const schema = z.object({
  GITLAB_URL: url,
  GITLAB_TOKEN: z.string().min(1, 'must not be empty'),
  GITLAB_WEBHOOK_SECRET: z.string().min(8, 'must be at least 8 characters'),
  GITLAB_WEBHOOK_SIGNING_KEY: z.string().optional(),
  PORT: int(0, 65535).default(8080),
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
  MAX_BODY_BYTES: int(1_024, 50 * 1024 * 1024).default(5 * 1024 * 1024),
  MIN_SEVERITY: z.enum(['critical', 'major', 'minor', 'nit']).default('minor'),
  REVIEW_DRAFTS: bool.default(false),
  /** a second, independent look at each finding before it is posted (review-guide §6.1) */
  VERIFY_FINDINGS: bool.default(true),
  REPLY_LANGUAGE: z.string().optional(),
  ALLOWED_PROJECTS: list.optional(),
  /** webhooks admitted per project per minute (token bucket, burst = rate); 0 = no limit */
  PROJECT_RATE_LIMIT_PER_MIN: int(0, 1_000_000).default(120),
  JOB_ATTEMPTS: int(1, 20).default(5),
  /** a git fetch holds its project's lock: after this long it is killed and the job retried later */
  GIT_FETCH_TIMEOUT_MS: int(1_000, 3_600_000).default(120_000),
  RETRY_BASE_MS: int(10, 600_000).default(2_000),
  SHUTDOWN_DEADLINE_MS: int(0, 3_600_000).default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ADMIN_TOKEN: z.string().optional(),
  REDIS_URL: z.string().optional(),
  /** key prefix in Redis: one per deployment sharing a Redis */
  REDIS_PREFIX: z.string().min(1).default('mrr'),
  /** Redis mode: how long a dead replica can hold a job's lane or a session lock (renewed while alive) */
  JOB_LOCK_MS: int(1_000, 600_000).default(30_000),
  MR_REVIEWER_ROLE: z.enum(['all', 'web', 'worker']).default('all'),
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
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const key = String(i.path[0] ?? '');
        const missing = i.code === 'invalid_type' && cleaned[key] === undefined;
        return `config: ${key} ${missing ? 'is required' : `is invalid: ${i.message}`}`;
      }),
    );
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

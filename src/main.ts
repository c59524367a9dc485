// The composition root: startBot builds the bot in the order each part needs the ones before it, one step a line.
// config → logger → DATA_DIR → store, locks and queue (backends.ts) → GitLab → CLI sessions → the services flows use
// → HTTP listeners → the bot's identity (GET /user) → flows' deps → jobs run.
// No part is handed out half-built: the flows' deps are made once the identity is known, and the queue gets its
// handler then, through its explicit `start(handler)`. Only intake sees the identity before that, as optional: it
// takes webhooks while GitLab has not answered yet (events/classify.ts says what it leaves to the flows).
import fs from 'node:fs';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import pLimit from 'p-limit';
import { claudeBin, cliEnv } from './claude/options.js';
import { cliDirs, type CliDirs } from './claude/paths.js';
import { ClaudeSessionService } from './claude/session-service.js';
import { Sessions } from './claude/sessions.js';
import { DAY_MS, type Config } from './config.js';
import { jobHandler, type FlowTable } from './flows/dispatch.js';
import type { Deps } from './flows/deps.js';
import { failureNotifier } from './flows/failure.js';
import { Access } from './gitlab/access.js';
import { GitLabClient } from './gitlab/client.js';
import { waitForIdentity, type BotIdentity } from './gitlab/identity.js';
import { Projects } from './gitlab/projects.js';
import { GitLabError } from './gitlab/requester.js';
import type { Queue } from './jobs/queue.js';
import { backoffPolicy, reasonOf } from './jobs/retry.js';
import { createLogger, type Logger } from './logger.js';
import { makeRedactor } from './redact.js';
import { createAdminApp } from './server/admin.js';
import { createApp } from './server/app.js';
import { Metrics } from './server/metrics.js';
import { ProjectRateLimiter } from './server/rate-limit.js';
import { GitLabStatus, mountReadiness } from './server/readiness.js';
import { mountStatusPage } from './server/status-page.js';
import { LearningsRepo } from './store/learnings.js';
import { Retention } from './store/retention.js';
import type { Store } from './store/store.js';
import { createBackend, type Backend } from './backends.js';
import { Workspaces } from './workspace/workspaces.js';

export interface Bot {
  deps: Deps;
  queue: Queue;
  retention: Retention;
  port: number;
  /** the status page, /metrics and /readyz when ADMIN_PORT is set */
  adminPort?: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  flows?: FlowTable;
  /** install SIGTERM/SIGINT handlers (the `serve` command does) */
  handleSignals?: boolean;
  /** stop waiting for GitLab at start-up after this long (a CLI run); default: wait (a server) */
  gitlabWaitMs?: number;
}

/**
 * Resolves once the bot knows itself and runs jobs. While it waits for GitLab the listeners are up: webhooks are
 * taken and /readyz says what it waits for. A rejected token (StartupError), a CLI run's bounded wait running out or
 * a shutdown during the wait stops what was started and rejects.
 */
export async function startBot(config: Config, opts: StartOptions = {}): Promise<Bot> {
  const log = opts.logger ?? createLogger({ level: config.LOG_LEVEL, redact: makeRedactor(config.secrets) });
  warnWithoutModelCredentials(config, log);
  const dirs = prepareDataDir(config);
  const backend = createBackend(config, { log, claudeDir: dirs.configDir });
  const gitlab = gitlabClient(config, log);
  const metrics = new Metrics();
  const gitlabStatus = new GitLabStatus(config.GITLAB_URL);
  const sessions = cliSessions(config, dirs, backend, metrics);
  const projects = new Projects({ gitlab, allowed: config.ALLOWED_PROJECTS });
  const workspaces = new Workspaces({ root: config.dataDir, token: config.GITLAB_TOKEN, gitlabUrl: config.GITLAB_URL, remote: (id) => projects.cloneUrl(id), fetchTimeoutMs: config.GIT_FETCH_TIMEOUT_MS });
  const access = new Access(gitlab, { cacheMs: config.ACCESS_CACHE_MS });
  const queue = jobQueue(config, backend, metrics, log);
  const retention = retentionFor(config, { store: backend.store, dirs, queue, workspaces, gitlab, log });
  metrics.trackQueue(queue);
  metrics.trackGitLab(() => gitlabStatus.isUp);
  metrics.trackSizes(() => retention.sizes());
  const stopping = new AbortController(); // shutdown began: /healthz and /readyz say so, the identity wait ends
  const isShuttingDown = () => stopping.signal.aborted;
  let identity: BotIdentity | undefined; // intake reads it (undefined while GitLab has not answered); flows get it set
  const http = await listen(config, log, {
    main: webhookApp(config, { queue, log, metrics, isShuttingDown, bot: () => identity }),
    admin: config.ADMIN_PORT === undefined ? undefined : createAdminApp(log),
    mount: (app) => mountAdminRoutes(app, config, { metrics, gitlabStatus, backend, queue, retention, isShuttingDown }),
  });

  // Webhooks are still taken and persisted while running jobs drain (GitLab never redelivers one we refuse);
  // the server closes last, and the queue after every request in flight has been answered.
  const stop = once(async () => {
    stopping.abort();
    log.info({ deadlineMs: config.SHUTDOWN_DEADLINE_MS }, 'shutting down: no new jobs; webhooks still accepted');
    await queue.stop(config.SHUTDOWN_DEADLINE_MS);
    await retention.stop();
    await http.close();
    await queue.close();
    await backend.store.close();
    await backend.close();
    log.info('stopped');
  });
  if (opts.handleSignals) exitOnSignals(isShuttingDown, stop);

  // Who am I: notes by this user id are never answered. Retried until GitLab answers (or a CLI run gives up).
  try {
    identity = await waitForIdentity(gitlab, { status: gitlabStatus, log, signal: stopping.signal, giveUpAfterMs: opts.gitlabWaitMs });
  } catch (e) {
    await stop();
    throw e;
  }
  log.info({ bot: identity.username, id: identity.id }, 'bot identity known');
  const deps: Deps = { config, gitlab, access, store: backend.store, sessions: new ClaudeSessionService({ cli: sessions, store: backend.store, workspaces, log }), workspaces, projects, log, bot: identity, enqueue: (spec) => queue.enqueue(spec) };
  // MR_REVIEWER_ROLE=web only takes webhooks; worker and all run jobs.
  if (config.MR_REVIEWER_ROLE !== 'web') queue.start(jobHandler(deps, opts.flows));
  retention.start(config.RETENTION_SWEEP_MINUTES * 60_000);
  return { deps, queue, retention, port: http.port, adminPort: http.adminPort, stop };
}

function warnWithoutModelCredentials(config: Config, log: Logger): void {
  if (config.ANTHROPIC_API_KEY || config.CLAUDE_CODE_OAUTH_TOKEN || config.ANTHROPIC_BASE_URL) return;
  // Not fatal (a webhook-only replica needs no key, and `doctor` explains), but reviews will fail.
  log.warn('neither ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN nor ANTHROPIC_BASE_URL is set: reviews will fail');
}

function prepareDataDir(config: Config): CliDirs {
  const dirs = cliDirs(config.dataDir);
  fs.mkdirSync(dirs.homeDir, { recursive: true });
  return dirs;
}

function gitlabClient(config: Config, log: Logger): GitLabClient {
  return new GitLabClient({
    url: config.GITLAB_URL,
    token: config.GITLAB_TOKEN,
    redact: makeRedactor(config.secrets),
    onRetry: (e, ms) => log.warn({ status: e.status, endpoint: e.endpoint, reason: e.message, waitMs: Math.round(ms) }, 'GitLab call failed; retrying'),
  });
}

function cliSessions(config: Config, dirs: CliDirs, backend: Backend, metrics: Metrics): Sessions {
  const limit = pLimit(config.MAX_CONCURRENT_SESSIONS);
  return new Sessions({
    bin: claudeBin(config),
    configDir: dirs.configDir,
    env: cliEnv(config, dirs),
    model: config.CLAUDE_MODEL,
    timeoutMs: config.CLAUDE_TIMEOUT_MS,
    locks: backend.locks,
    hooks: backend.sessionHooks,
    slots: { run: (fn) => limit(fn) },
    observe: metrics.observeCli,
  });
}

/** The queue posts its own failure notes: a job that gives up queues a 'notify' job in the same lane. */
function jobQueue(config: Config, backend: Backend, metrics: Metrics, log: Logger): Queue {
  const notifyFailure = failureNotifier({ log, store: backend.store }, (spec) => queue.enqueue(spec));
  const queue = backend.queue({
    concurrency: config.MAX_CONCURRENT_SESSIONS,
    policy: backoffPolicy({ baseMs: config.RETRY_BASE_MS, maxDelayMs: config.RETRY_MAX_DELAY_MS, horizonMs: config.RETRY_HORIZON_MS, maxAttempts: config.JOB_ATTEMPTS }),
    dedupeTtlMs: config.RETENTION_DELIVERY_DAYS * DAY_MS,
    events: {
      onRetry: (job, err, delayMs) => {
        metrics.jobRetry(job, err);
        log.warn({ job: job.id, kind: job.kind, attempt: job.attempt, delayMs, reason: reasonOf(err) }, 'job failed; will retry');
      },
      onDead: (job, err) => {
        metrics.jobFailed(job, err);
        return notifyFailure(job, err);
      },
      onDone: metrics.jobDone,
    },
  });
  return queue;
}

interface RetentionParts {
  store: Store;
  dirs: CliDirs;
  queue: Queue;
  workspaces: Workspaces;
  gitlab: GitLabClient;
  log: Logger;
}

function retentionFor(config: Config, p: RetentionParts): Retention {
  return new Retention({
    store: p.store,
    dataDir: config.dataDir,
    claudeDir: p.dirs.configDir,
    queue: p.queue,
    log: p.log,
    removeWorktree: (pid, iid) => p.workspaces.remove(pid, iid),
    removeSpare: (pid) => p.workspaces.removeSpare(pid),
    mrState: (pid, iid) =>
      p.gitlab.mergeRequest(pid, iid).then(
        (m) => ({ state: m.state, closedAt: m.closedAt }),
        (e) => {
          if (e instanceof GitLabError && e.status === 404) return { state: 'gone' as const };
          throw e;
        },
      ),
    windows: {
      closedMrMs: config.RETENTION_CLOSED_MR_DAYS * DAY_MS,
      recordMs: config.RETENTION_RECORD_DAYS * DAY_MS,
      orphanMs: config.RETENTION_ORPHAN_DAYS * DAY_MS,
      failedJobMs: config.RETENTION_FAILED_JOB_DAYS * DAY_MS,
    },
  });
}

interface AppParts {
  queue: Queue;
  log: Logger;
  metrics: Metrics;
  isShuttingDown: () => boolean;
  /** undefined until GET /user answered */
  bot: () => BotIdentity | undefined;
}

function webhookApp(config: Config, p: AppParts): Hono {
  return createApp({
    secret: config.GITLAB_WEBHOOK_SECRET,
    signingKey: config.GITLAB_WEBHOOK_SIGNING_KEY,
    maxBodyBytes: config.MAX_BODY_BYTES,
    queue: p.queue,
    log: p.log,
    bot: p.bot,
    allowedProjects: config.ALLOWED_PROJECTS,
    rateLimit: new ProjectRateLimiter({ perMinute: config.PROJECT_RATE_LIMIT_PER_MIN }),
    isShuttingDown: p.isShuttingDown,
    webhooks: config.MR_REVIEWER_ROLE !== 'worker',
    onWebhook: p.metrics.webhook,
  });
}

interface AdminParts {
  metrics: Metrics;
  gitlabStatus: GitLabStatus;
  backend: Backend;
  queue: Queue;
  retention: Retention;
  isShuttingDown: () => boolean;
}

/** /metrics, /readyz and the status page. */
function mountAdminRoutes(app: Hono, config: Config, p: AdminParts): void {
  app.get('/metrics', async (c) => {
    const m = await p.metrics.render();
    return c.body(m.body, 200, { 'Content-Type': m.contentType });
  });
  mountReadiness(app, { gitlab: p.gitlabStatus, dataDir: config.dataDir, redisPing: p.backend.ping, isShuttingDown: p.isShuttingDown });
  mountStatusPage(app, { adminToken: config.ADMIN_TOKEN, store: p.backend.store, queueStats: () => p.queue.stats(), notice: () => p.gitlabStatus.problem, sizes: () => p.retention.sizes(), learnings: () => new LearningsRepo(p.backend.store).all() });
}

interface Listeners {
  port: number;
  adminPort?: number;
  close(): Promise<void>;
}

/** ADMIN_PORT: the admin routes get their own listener, so publishing the webhook port exposes nothing else. */
async function listen(config: Config, log: Logger, apps: { main: Hono; admin?: Hono; mount: (app: Hono) => void }): Promise<Listeners> {
  apps.mount(apps.admin ?? apps.main);
  const admin = apps.admin && (await serveOn(apps.admin, config.ADMIN_PORT, config.HOST));
  if (admin) log.info({ adminPort: admin.port }, 'admin listening');
  const main = await serveOn(apps.main, config.PORT, config.HOST);
  log.info({ port: main.port, pid: process.pid }, 'listening');
  return {
    port: main.port,
    adminPort: admin?.port,
    close: async () => {
      await main.close();
      await admin?.close();
    },
  };
}

function serveOn(app: Hono, port: number | undefined, hostname: string): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const server: ServerType = serve({ fetch: app.fetch, port, hostname }, (info) =>
      resolve({ port: info.port, close: () => new Promise<void>((r) => server.close(() => r())) }),
    );
  });
}

/** Runs fn on the first call; later calls get the same promise (a second SIGTERM, a stop after a failed start). */
function once(fn: () => Promise<void>): () => Promise<void> {
  let run: Promise<void> | undefined;
  return () => (run ??= fn());
}

function exitOnSignals(isShuttingDown: () => boolean, stop: () => Promise<void>): void {
  // `on`, not `once`: execa's signal-exit re-raises a signal when it sees no other listener, which killed the
  // process mid-drain. A second signal exits at once; running jobs are then recovered at the next start.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (isShuttingDown()) process.exit(1);
      void stop().then(() => process.exit(0));
    });
  }
}

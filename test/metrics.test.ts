import { describe, expect, it } from 'vitest';
import { ClaudeError, type ClaudeResult } from '../src/claude/result.js';
import { GitLabError } from '../src/gitlab/requester.js';
import type { Job } from '../src/jobs/queue.js';
import { eventLabel, Metrics, reasonLabel } from '../src/server/metrics.js';

const job = (kind: Job['kind']): Job => ({ id: 'j', kind, orderKey: 'mr:1:1', dedupeKeys: [], data: {}, attempt: 1, createdAt: 0 });
const result = (costUsd: number): ClaudeResult => ({ sessionId: 's', text: '', costUsd, usage: { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 0 }, numTurns: 1, durationMs: 10, permissionDenials: [] });
const lines = async (m: Metrics, name: string) => (await m.render()).body.split('\n').filter((l) => l.startsWith(name));

describe('labels', () => {
  it('an event header becomes one of GitLab\'s event names or "other": a request cannot create a series', () => {
    expect(eventLabel('Note Hook')).toBe('Note Hook');
    expect(eventLabel(' Merge Request Hook ')).toBe('Merge Request Hook');
    expect(eventLabel('Evil Hook 123')).toBe('other');
    expect(eventLabel(undefined)).toBe('other');
  });

  it('an error becomes a short reason, never its message', () => {
    expect(reasonLabel(new ClaudeError('budget', 'secret text'))).toBe('claude_budget');
    expect(reasonLabel(new GitLabError('x', 503, 'GET', '/x'))).toBe('gitlab_503');
    expect(reasonLabel(new GitLabError('x', 0, 'GET', '/x'))).toBe('gitlab_network');
    expect(reasonLabel(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1'), { code: 'ECONNREFUSED' }))).toBe('net_econnrefused');
    expect(reasonLabel(new Error('fetch failed', { cause: { code: 'ENOTFOUND' } }))).toBe('net_enotfound');
    expect(reasonLabel(Object.assign(new Error('x'), { code: 'weird code with spaces' }))).not.toContain('weird');
    expect(reasonLabel(new Error('anything'))).toMatch(/^(transient|error)$/);
  });
});

describe('Metrics', () => {
  it('counts webhooks by event and outcome, and jobs by kind', async () => {
    const m = new Metrics();
    m.webhook('Note Hook', 'queued');
    m.webhook('Note Hook', 'queued');
    m.webhook('Made Up', 'unknown_event');
    m.jobRetry(job('review'), new ClaudeError('timeout', 'x'));
    m.jobFailed(job('reply'), new GitLabError('x', 404, 'GET', '/x'));
    m.jobDone(job('update'), 1500);
    expect(await lines(m, 'mr_reviewer_webhooks_total')).toEqual(expect.arrayContaining(['mr_reviewer_webhooks_total{event="Note Hook",outcome="queued"} 2', 'mr_reviewer_webhooks_total{event="other",outcome="unknown_event"} 1']));
    expect(await lines(m, 'mr_reviewer_job_retries_total')).toContain('mr_reviewer_job_retries_total{kind="review",reason="claude_timeout"} 1');
    expect(await lines(m, 'mr_reviewer_job_failures_total')).toContain('mr_reviewer_job_failures_total{kind="reply",reason="gitlab_404"} 1');
    expect(await lines(m, 'mr_reviewer_job_duration_seconds_count')).toContain('mr_reviewer_job_duration_seconds_count{kind="update"} 1');
  });

  it('adds up the cost and tokens of CLI calls, failed ones included (a budget error still costs)', async () => {
    const m = new Metrics();
    m.observeCli({ kind: 'trunk_review', totalMs: 2000, wallMs: 1500, result: result(0.25) });
    m.observeCli({ kind: 'trunk_review', totalMs: 100, wallMs: 100, error: new ClaudeError('budget', 'x', { costUsd: 0.5 }) });
    expect(await lines(m, 'mr_reviewer_cost_usd_total')).toContain('mr_reviewer_cost_usd_total{kind="trunk_review"} 0.75');
    const tokens = await lines(m, 'mr_reviewer_tokens_total');
    expect(tokens).toEqual(expect.arrayContaining(['mr_reviewer_tokens_total{kind="trunk_review",type="input"} 100', 'mr_reviewer_tokens_total{kind="trunk_review",type="output"} 20']));
    expect(tokens.some((l) => l.includes('cache_read'))).toBe(false);
    expect(await lines(m, 'mr_reviewer_session_turn_duration_seconds_count')).toEqual(expect.arrayContaining([
      'mr_reviewer_session_turn_duration_seconds_count{kind="trunk_review",outcome="ok"} 1',
      'mr_reviewer_session_turn_duration_seconds_count{kind="trunk_review",outcome="claude_budget"} 1',
    ]));
  });

  it('reads the queue, GitLab and retention sizes at scrape time', async () => {
    const m = new Metrics();
    let pending = 3;
    let up = false;
    m.trackQueue({ stats: async () => ({ pending, running: 1, failed: 0, oldestPendingAgeMs: 4000 }) });
    m.trackGitLab(() => up);
    m.trackSizes(() => ({ disk: { work: 10, repos: 20, transcripts: 30, state: 40 }, records: { mrs: 1, threads: 2, failures: 0 }, at: 0 }));
    expect(await lines(m, 'mr_reviewer_queue_jobs')).toContain('mr_reviewer_queue_jobs{state="pending"} 3');
    expect(await lines(m, 'mr_reviewer_queue_oldest_pending_age_seconds')).toContain('mr_reviewer_queue_oldest_pending_age_seconds 4');
    expect(await lines(m, 'mr_reviewer_gitlab_up')).toContain('mr_reviewer_gitlab_up 0');
    expect(await lines(m, 'mr_reviewer_data_dir_bytes')).toContain('mr_reviewer_data_dir_bytes{part="transcripts"} 30');
    expect(await lines(m, 'mr_reviewer_store_records')).toContain('mr_reviewer_store_records{kind="threads"} 2');
    pending = 0;
    up = true;
    expect(await lines(m, 'mr_reviewer_queue_jobs')).toContain('mr_reviewer_queue_jobs{state="pending"} 0');
    expect(await lines(m, 'mr_reviewer_gitlab_up')).toContain('mr_reviewer_gitlab_up 1');
  });

  it('keeps each bot\'s series apart (one registry per Metrics)', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.webhook('Note Hook', 'queued');
    expect(await lines(b, 'mr_reviewer_webhooks_total{')).toEqual([]);
  });
});

// /metrics moves as a scripted review runs; a job's log lines carry its ids and never the token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { finding, reviewOutput, sampleMr, SECRET, startHarness, TOKEN, waitFor, type Harness } from '../standins/harness.js';

/** Sum of the samples of `name` whose labels include `labels` (Prometheus text format). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  // A metric that is not exposed at all must fail the test, not read as 0.
  const family = name.replace(/_(count|sum|bucket)$/, '');
  if (!text.includes(`# TYPE ${name} `) && !text.includes(`# TYPE ${family} `)) throw new Error(`metric ${name} is not exposed`);
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

describe('metrics and job logs', () => {
  let h: Harness;
  let first: Awaited<ReturnType<typeof sampleMr>>;
  const scrape = async () => {
    const r = await fetch(`${h.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    return r.text();
  };

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('counts webhooks, jobs, CLI time, cost and tokens as a review runs', async () => {
    const before = await scrape();
    expect(sample(before, 'mr_reviewer_webhooks_total', { outcome: 'queued' })).toBe(0);
    expect(before).toContain('mr_reviewer_queue_jobs{state="pending"} 0');
    expect(before).toContain('mr_reviewer_cli_processes_running 0');

    first = await sampleMr(h);
    const { project, mr } = first;
    h.model.script({ structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' })]) });
    expect((await h.send(h.gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    expect((await h.send(h.gitlab.mrHook(project, mr.iid, 'open'), { token: 'wrong-secret-123' })).status).toBe(401);
    await waitFor(() => h.gitlab.notes(project, mr.iid).some((n) => readMarker(n.body)?.kind === 'summary'), 60_000, 'summary');
    await h.bot.queue.drained();

    const after = await scrape();
    expect(sample(after, 'mr_reviewer_webhooks_total', { event: 'Merge Request Hook', outcome: 'queued' })).toBe(1);
    expect(sample(after, 'mr_reviewer_webhooks_total', { event: 'Merge Request Hook', outcome: 'unauthorized' })).toBe(1);
    expect(sample(after, 'mr_reviewer_job_duration_seconds_count', { kind: 'review' })).toBe(1);
    expect(sample(after, 'mr_reviewer_session_turn_duration_seconds_count', { kind: 'trunk_review', outcome: 'ok' })).toBe(1);
    expect(sample(after, 'mr_reviewer_cli_wall_seconds_count', { kind: 'trunk_review' })).toBe(1);
    expect(sample(after, 'mr_reviewer_cli_wall_seconds_sum', { kind: 'trunk_review' })).toBeGreaterThan(0);
    expect(sample(after, 'mr_reviewer_cost_usd_total', { kind: 'trunk_review' })).toBeGreaterThan(0);
    expect(sample(after, 'mr_reviewer_tokens_total', { kind: 'trunk_review', type: 'input' })).toBeGreaterThan(0);
    expect(sample(after, 'mr_reviewer_tokens_total', { kind: 'trunk_review', type: 'output' })).toBeGreaterThan(0);
    expect(sample(after, 'mr_reviewer_queue_jobs', { state: 'pending' })).toBe(0);
    expect(sample(after, 'mr_reviewer_cli_processes_running')).toBe(0);
    expect(sample(after, 'mr_reviewer_job_failures_total')).toBe(0);
    expect(after).not.toContain('acme/'); // labels never carry project paths: their number stays bounded
  });

  it('counts retries and failures by reason', async () => {
    const { project, mr } = await sampleMr(h, { path: 'acme/broken' });
    // first attempt: an overload (retried); second: a 400 (permanent)
    h.model.script({ error: { status: 529, type: 'overloaded_error', message: 'Overloaded' } }, { error: { status: 400, type: 'invalid_request_error', message: 'bad request' } });
    expect((await h.send(h.gitlab.mrHook(project, mr.iid, 'open'))).status).toBe(200);
    await waitFor(async () => sample(await scrape(), 'mr_reviewer_job_failures_total', { kind: 'review' }) === 1, 60_000, 'failure metric');
    const text = await scrape();
    expect(sample(text, 'mr_reviewer_job_retries_total', { kind: 'review', reason: 'claude_api' })).toBe(1);
    expect(sample(text, 'mr_reviewer_job_failures_total', { kind: 'review', reason: 'claude_api' })).toBe(1);
    expect(sample(text, 'mr_reviewer_session_turn_duration_seconds_count', { kind: 'trunk_review', outcome: 'claude_api' })).toBe(2);
  });

  it('takes label values only from its own fixed sets: random X-Gitlab-Event values and paths create no series', async () => {
    const series = (text: string) => text.split('\n').filter((l) => l.startsWith('mr_reviewer_')).length;
    await h.bot.queue.drained(60_000); // the last test's failure note: its job's series must not land in between
    const before = await scrape();
    const payload = JSON.stringify(h.gitlab.mrHook(first.project, first.mr.iid, 'approved'));
    for (let i = 0; i < 60; i++) {
      const event = `Random ${Math.random().toString(36).slice(2)} Hook`;
      // authenticated (acknowledged and ignored), unauthenticated (401), and a random path (404)
      const ok = await fetch(`${h.url}/webhooks/gitlab`, { method: 'POST', headers: { 'x-gitlab-token': SECRET, 'x-gitlab-event': event }, body: payload });
      expect(ok.status).toBe(200);
      expect((await fetch(`${h.url}/webhooks/gitlab`, { method: 'POST', headers: { 'x-gitlab-event': event }, body: payload })).status).toBe(401);
      expect((await fetch(`${h.url}/webhooks/${event.replace(/ /g, '-')}`, { method: 'POST', body: payload })).status).toBe(404);
    }
    const after = await scrape();
    expect(after).not.toContain('Random');
    expect(sample(after, 'mr_reviewer_webhooks_total', { event: 'other', outcome: 'unknown_event' })).toBe(60);
    expect(sample(after, 'mr_reviewer_webhooks_total', { event: 'other', outcome: 'unauthorized' })).toBe(60);
    // at most the two series just named are new: the bot's own metrics did not grow with what was sent
    expect(series(after) - series(before)).toBeLessThanOrEqual(2);
  });

  it('a job logs its id, project, MR and session on its lines, and never the token', async () => {
    const lines = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const queued = lines.find((l) => l.msg === 'job queued' && l.project === 'acme/app');
    expect(queued?.rid).toBeTruthy();
    const jobLines = lines.filter((l) => l.job === queued!.job);
    expect(jobLines.length).toBeGreaterThan(3);
    for (const l of jobLines) expect(l).toMatchObject({ project: 'acme/app', iid: first.mr.iid });

    const rec = await h.bot.deps.store.getMr(first.project.id, first.mr.iid);
    const firstWithSession = jobLines.findIndex((l) => l.sessionId);
    expect(firstWithSession).toBeGreaterThan(-1);
    for (const l of jobLines.slice(firstWithSession)) expect(l.sessionId).toBe(rec!.trunkSessionId);
    expect(jobLines.at(-1)).toMatchObject({ msg: 'job done', sessionId: rec!.trunkSessionId });

    expect(h.logs.join('\n')).not.toContain(TOKEN);
  });
});

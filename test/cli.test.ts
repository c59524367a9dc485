// The `mr-reviewer` binary's doctor and setup-webhook commands, run as real processes against the stand-ins.
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenRejected } from '../src/gitlab/hints.js';
import { API_KEY, SECRET, TOKEN, startHarness, type Harness } from '../standins/harness.js';
import { closedPort } from './support/ports.js';

const BIN = path.resolve('bin/mr-reviewer.js');

describe('mr-reviewer CLI', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  const run = (args: string[], env: Record<string, string> = {}) =>
    execa('node', [BIN, ...args], {
      reject: false,
      extendEnv: false,
      env: {
        PATH: process.env.PATH ?? '',
        GITLAB_URL: h.gitlab.url,
        GITLAB_TOKEN: TOKEN,
        GITLAB_WEBHOOK_SECRET: SECRET,
        DATA_DIR: path.join(h.dataDir, 'cli'),
        ANTHROPIC_API_KEY: API_KEY,
        ANTHROPIC_BASE_URL: h.model.url,
        ...env,
      },
    });

  it('doctor passes against the stand-ins with a good token, and reaches the webhook', async () => {
    const r = await run(['doctor', '--webhook-url', `${h.url}/webhooks/gitlab`]);
    expect(r.stdout).toContain('All checks passed.');
    expect(r.exitCode).toBe(0);
    for (const line of ['✓ GitLab token', '✓ token scopes', '✓ git', '✓ claude CLI', '✓ model access', '✓ DATA_DIR', '✓ webhook URL']) {
      expect(r.stdout).toContain(line);
    }
    expect(r.stdout).toContain('@review-bot');
    expect(r.stdout).toMatch(/claude CLI\s+\d+\.\d+\.\d+/);
    // the one-token call reached the model stand-in with the key
    const probe = h.model.requests.at(-1)!;
    expect(probe.body.max_tokens).toBe(1);
    expect(probe.headers['x-api-key']).toBe(API_KEY);
  });

  it('doctor names the problem and the fix with a bad token or a wrong webhook secret, and exits 1', async () => {
    const r = await run(['doctor', '--webhook-url', `${h.url}/webhooks/gitlab`], { GITLAB_TOKEN: 'glpat-not-a-valid-token', GITLAB_WEBHOOK_SECRET: 'some-other-secret' });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/✗ GitLab token\s+GET \/user answered 401: GITLAB_TOKEN is wrong/);
    expect(r.stdout).toContain('fix: create a new access token for the bot user');
    expect(r.stdout).toMatch(/✗ webhook URL .* different GITLAB_WEBHOOK_SECRET/);
    expect(r.stdout).toContain('✓ DATA_DIR');
    expect(r.stdout).toContain('2 checks failed.');
    expect(r.stdout).not.toContain('glpat-not-a-valid-token');
  });

  it('doctor reports missing settings instead of crashing', async () => {
    const r = await run(['doctor'], { GITLAB_URL: '' });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('✗ settings  GITLAB_URL is required');
  });

  it('setup-webhook creates the hook, and a second run updates the same one', async () => {
    const project = await h.gitlab.createProject('acme/hooked', { 'README.md': '# hooked\n' });
    await h.gitlab.commit(project, 'feature', { 'a.txt': 'a\n' });
    const mr = await h.gitlab.createMr(project, { sourceBranch: 'feature', title: 'hooked' });
    const url = `${h.url}/webhooks/gitlab`;
    const first = await run(['setup-webhook', '--project', project.path, '--url', url]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toMatch(/^created webhook #\d+ on acme\/hooked/);
    expect(first.stdout).toContain('events on: merge request events, comments, confidential comments; everything else off');
    expect(first.exitCode).toBe(0);
    let hooks = h.gitlab.hooks(project);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({ url, token: SECRET, merge_requests_events: true, note_events: true, confidential_note_events: true, push_events: false, confidential_issues_events: false });

    // someone unticks comments in the UI; running it again puts it back, on the same hook
    await fetch(`${h.gitlab.url}/api/v4/projects/${project.id}/hooks/${hooks[0]!.id}`, {
      method: 'PUT',
      headers: { 'private-token': TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ note_events: false }),
    });
    expect(h.gitlab.hooks(project)[0]).toMatchObject({ note_events: false });
    const second = await run(['setup-webhook', '--project', String(project.id), '--url', url]);
    expect(second.stdout).toMatch(/^updated webhook #\d+/);
    hooks = h.gitlab.hooks(project);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({ url, token: SECRET, merge_requests_events: true, note_events: true });

    // GitLab can now deliver to the bot: the secret matches
    const [delivery] = await h.gitlab.deliverHook(project, h.gitlab.mrHook(project, mr.iid, 'approved'), {});
    expect(delivery).toBeDefined();
    expect(delivery!.status).toBe(200);
    expect(delivery!.body).toBe(''); // GitLab stores the answer: the bot keeps it empty
  });

  it('review gives up on an unreachable GitLab after a bounded wait, with the URL and the cause, and exits 1', async () => {
    const port = await closedPort();
    const r = await run(['review', 'acme/app', '1'], { GITLAB_URL: `http://127.0.0.1:${port}` });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`review failed: cannot reach GitLab at http://127\\.0\\.0\\.1:${port}/api/v4/user after 30 s: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    expect(r.stderr).toContain('fix: ');
  });

  it('review stops at once on a rejected token, with the hint doctor gives', async () => {
    const r = await run(['review', 'acme/app', '1'], { GITLAB_TOKEN: 'glpat-not-a-valid-token' });
    expect(r.exitCode).toBe(1);
    const hint = tokenRejected(401);
    expect(r.stderr).toContain(`review failed: ${hint.detail}; fix: ${hint.fix}`);
    expect(r.stderr + r.stdout).not.toContain('glpat-not-a-valid-token');
  });

  it('setup-webhook explains a project it cannot see', async () => {
    const r = await run(['setup-webhook', '--project', 'nobody/nothing', '--url', `${h.url}/webhooks/gitlab`]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('no project nobody/nothing');
  });
});

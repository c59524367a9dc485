// The GitLab layer against the stand-in: redaction, the note size cap, local retries with Retry-After.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitLabClient } from '../src/gitlab/client.js';
import { GitLabError } from '../src/gitlab/requester.js';
import { makeRedactor } from '../src/redact.js';
import { startGitlabStandin, type GitlabStandin } from './support/gitlab-standin.js';

describe('GitLabClient', () => {
  let g: GitlabStandin;
  let client: GitLabClient;
  let project: Awaited<ReturnType<GitlabStandin['createProject']>>;
  let iid: number;
  beforeAll(async () => {
    g = await startGitlabStandin({ token: 'glpat-client-test-123' });
    client = new GitLabClient({ url: g.url, token: g.token, baseDelayMs: 20, redact: makeRedactor(['glpat-client-test-123', 'sk-ant-secret']) });
    project = await g.createProject('acme/client', { 'a.txt': 'a\n' });
    await g.commit(project, 'f', { 'a.txt': 'b\n' });
    iid = (await g.createMr(project, { sourceBranch: 'f', title: 't' })).iid;
  });
  afterAll(async () => g?.close());

  it('redacts secrets in everything it posts', async () => {
    const { noteId } = await client.createNote(project.id, iid, 'token glpat-client-test-123 and key sk-ant-secret');
    const n = g.notes(project, iid).find((x) => x.id === noteId)!;
    expect(n.body).toBe('token [redacted] and key [redacted]');
  });

  it('cuts a reply longer than GitLab allows and says so', async () => {
    const { discussionId } = await client.createDiscussion(project.id, iid, 'start');
    const { noteId } = await client.reply(project.id, iid, discussionId, 'x'.repeat(1_200_000));
    const n = g.notes(project, iid).find((x) => x.id === noteId)!;
    expect(n.body.length).toBeLessThanOrEqual(1_000_000);
    expect(n.body).toContain('longer than GitLab allows');
  });

  it('retries 5xx, honours Retry-After on 429, and does not retry 4xx', async () => {
    g.fail({ method: 'GET', path: /merge_requests\/\d+$/ }, { status: 500, times: 2 });
    expect((await client.mergeRequest(project.id, iid)).iid).toBe(iid);
    g.fail({ method: 'GET', path: /merge_requests\/\d+$/ }, { status: 429, times: 1, retryAfter: 1 });
    const t0 = Date.now();
    await client.mergeRequest(project.id, iid);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950); // behaviour: it waited for Retry-After
    g.fail({ method: 'GET', path: /merge_requests\/\d+$/ }, { status: 403, times: 1 });
    const err = await client.mergeRequest(project.id, iid).catch((e) => e);
    expect(err).toBeInstanceOf(GitLabError);
    expect(err.status).toBe(403);
    expect(err.transient).toBe(false);
  });
});

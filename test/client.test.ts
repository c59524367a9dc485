// The GitLab layer against the stand-in: redaction, the note size cap, local retries with Retry-After.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitLabClient } from '../src/gitlab/client.js';
import { withMarker } from '../src/gitlab/markers.js';
import { GitLabError } from '../src/gitlab/requester.js';
import { makeRedactor } from '../src/redact.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';

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

  describe('posts exactly once when GitLab saved the note and then failed', () => {
    const count = (marker: string) => g.notes(project, iid).filter((n) => n.body.includes(marker)).length;
    const posts = (path: RegExp) => g.log.filter((l) => l.method === 'POST' && path.test(l.path)).length;

    it('a finding thread on a diff line (answer lost: 502)', async () => {
      const mr = await client.mergeRequest(project.id, iid);
      const position = { ...mr.diffRefs, position_type: 'text', old_path: 'a.txt', new_path: 'a.txt', new_line: 1, old_line: null };
      g.fail({ method: 'POST', path: /merge_requests\/\d+\/discussions$/ }, { after: true, status: 502 });
      const before = posts(/discussions$/);
      const r = await client.createDiffDiscussion(project.id, iid, withMarker('finding ONCE-1', { kind: 'finding', fp: 'once1' }), position as never);
      expect(posts(/discussions$/)).toBe(before + 1); // adopted, not posted again
      expect(count('ONCE-1')).toBe(1);
      expect(g.notes(project, iid).find((n) => n.body.includes('ONCE-1'))!.id).toBe(r.noteId);
    });

    it('the summary note (connection dropped after saving)', async () => {
      g.fail({ method: 'POST', path: /merge_requests\/\d+\/notes$/ }, { after: true, status: 0 });
      const r = await client.createNote(project.id, iid, withMarker('summary ONCE-2', { kind: 'summary', sha: 'abc' }));
      expect(count('ONCE-2')).toBe(1);
      expect(g.notes(project, iid).find((n) => n.body.includes('ONCE-2'))!.id).toBe(r.noteId);
    });

    it('a reply in a thread, told apart from an earlier reply by what it answers', async () => {
      const { discussionId } = await client.createDiscussion(project.id, iid, withMarker('thread', { kind: 'finding', fp: 'once3' }));
      await client.reply(project.id, iid, discussionId, withMarker('earlier ONCE-3a', { kind: 'reply', verdict: 'answered', re: 1 }));
      g.fail({ method: 'POST', path: /discussions\/[0-9a-f]+\/notes$/ }, { after: true, status: 500 });
      const r = await client.reply(project.id, iid, discussionId, withMarker('answer ONCE-3b', { kind: 'reply', verdict: 'answered', re: 2 }));
      expect(count('ONCE-3a')).toBe(1);
      expect(count('ONCE-3b')).toBe(1);
      expect(g.notes(project, iid).find((n) => n.body.includes('ONCE-3b'))!.id).toBe(r.noteId);
    });

    it('still posts again when GitLab failed before saving', async () => {
      g.fail({ method: 'POST', path: /merge_requests\/\d+\/notes$/ }, { status: 503, times: 2 });
      const before = posts(/notes$/);
      await client.createNote(project.id, iid, withMarker('plain ONCE-4', { kind: 'failure', fp: 'once4' }));
      expect(posts(/notes$/)).toBe(before + 3);
      expect(count('ONCE-4')).toBe(1);
    });
  });

  it('drafts: a reply that resolves its thread, a diff line GitLab can place (line_code), cleaned text; a lost publish answer is not published twice', async () => {
    const mr = g.mr(project, iid);
    const { discussionId } = await client.createDiscussion(project.id, iid, 'a thread');
    await client.createDraft(project.id, iid, withMarker('done\n/merge', { kind: 'fixed', fp: 'f1' }), { inReplyTo: discussionId, resolve: true });
    const at = await client.createDraft(project.id, iid, 'on b', { position: { baseSha: mr.baseSha, startSha: mr.startSha, headSha: mr.headSha, positionType: 'text', oldPath: 'a.txt', newPath: 'a.txt', newLine: 1 } });
    expect(at.lineCode).not.toBeNull();
    const nowhere = await client.createDraft(project.id, iid, 'nowhere', { position: { baseSha: mr.baseSha, startSha: mr.startSha, headSha: mr.headSha, positionType: 'text', oldPath: 'a.txt', newPath: 'a.txt', newLine: 9 } });
    expect(nowhere.lineCode).toBeNull();
    await client.deleteDraft(project.id, iid, nowhere.id);
    await client.deleteDraft(project.id, iid, nowhere.id); // already gone: fine
    const drafts = (await client.drafts(project.id, iid))!;
    expect(drafts.map((x) => [x.discussionId, x.hasPosition])).toEqual([[discussionId, false], [null, true]]);
    expect(drafts[0]!.body).not.toMatch(/^\/merge/m); // neutralised like every post
    g.fail({ method: 'POST', path: /draft_notes\/bulk_publish$/ }, { after: true, status: 502 });
    await client.publishDrafts(project.id, iid);
    expect(g.mrActivity(project, iid).emails.filter((e) => e.kind === 'review')).toHaveLength(1);
    expect(g.discussions(project, iid).find((x) => x.id === discussionId)!.notes.map((n) => n.resolved)).toEqual([true, true]);
    g.setDraftNotes(project, 403);
    expect(await client.drafts(project.id, iid)).toBeUndefined();
    g.setDraftNotes(project, 'on');
  });
});

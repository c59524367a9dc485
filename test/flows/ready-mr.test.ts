// diff_refs is null while GitLab computes an MR's version: wait a little, then hand the job back to the queue.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitLabClient } from '../../src/gitlab/client.js';
import { DiffNotReady, readyMergeRequest } from '../../src/flows/ready-mr.js';
import { isTransient } from '../../src/jobs/retry.js';
import { startGitlabStandin, type GitlabStandin, type StandinMr, type StandinProject } from '../../standins/gitlab.js';

let s: GitlabStandin;
let p: StandinProject;
let mr: StandinMr;
let gitlab: GitLabClient;
const mrGets = () => s.log.filter((e) => e.method === 'GET' && e.path === `/api/v4/projects/${p.id}/merge_requests/${mr.iid}`).length;

beforeAll(async () => {
  s = await startGitlabStandin();
  p = await s.createProject('team/app', { 'a.txt': 'a\n' });
  await s.commit(p, 'f', { 'a.txt': 'b\n' });
  mr = await s.createMr(p, { sourceBranch: 'f', title: 'F' });
  gitlab = new GitLabClient({ url: s.url, token: s.token, attempts: 1 });
});
afterAll(async () => s?.close());

describe('readyMergeRequest', () => {
  it('fetches again until diff_refs is there', async () => {
    s.delayDiffRefs(p, mr.iid, 2);
    const before = mrGets();
    const ready = await readyMergeRequest(gitlab, p.id, mr.iid, undefined, { delayMs: 1 });
    expect(ready.diffRefs).toEqual({ base_sha: mr.baseSha, start_sha: mr.startSha, head_sha: mr.headSha });
    expect(mrGets() - before).toBe(3);
  });

  it('uses a fetch the caller has when it is ready', async () => {
    const known = await gitlab.mergeRequest(p.id, mr.iid);
    const before = mrGets();
    expect(await readyMergeRequest(gitlab, p.id, mr.iid, known)).toBe(known);
    expect(mrGets()).toBe(before);
  });

  it('gives up after a few tries with a transient error that carries a short delay, never a TypeError', async () => {
    s.delayDiffRefs(p, mr.iid, 100);
    const e = await readyMergeRequest(gitlab, p.id, mr.iid, undefined, { tries: 3, delayMs: 1, retryAfterMs: 1234 }).catch((x) => x);
    expect(e).toBeInstanceOf(DiffNotReady);
    expect(isTransient(e)).toBe(true);
    expect(e.retryAfterMs).toBe(1234);
    s.delayDiffRefs(p, mr.iid, 0);
  });
});

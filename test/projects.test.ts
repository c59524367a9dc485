// The project gate, against the GitLab stand-in: reachable, not reachable, not allowed, and a brief cache.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitLabClient } from '../src/gitlab/client.js';
import { Projects } from '../src/gitlab/projects.js';
import { isTransient } from '../src/jobs/retry.js';
import { startGitlabStandin, type GitlabStandin, type StandinProject } from '../standins/gitlab.js';

let s: GitlabStandin;
let open: StandinProject;
let hidden: StandinProject;
let gitlab: GitLabClient;
const projectGets = (id: number) => s.log.filter((e) => e.method === 'GET' && e.path === `/api/v4/projects/${id}`).length;

beforeAll(async () => {
  s = await startGitlabStandin();
  open = await s.createProject('team/open', { 'a.txt': 'a\n' });
  hidden = await s.createProject('team/hidden', { 'a.txt': 'a\n' });
  s.revokeAccess(hidden, s.bot.id);
  gitlab = new GitLabClient({ url: s.url, token: s.token, attempts: 1 });
});
afterAll(async () => s?.close());

describe('Projects', () => {
  it("gives the API's project: id, path and clone URL", async () => {
    const p = new Projects({ gitlab });
    expect(await p.access(open.id)).toEqual({ ok: true, project: expect.objectContaining({ id: open.id, path: 'team/open', httpUrl: open.httpUrl }) });
    expect(await p.cloneUrl(open.id)).toBe(open.httpUrl);
  });

  it('says why a project the token cannot see is unusable, and asks GitLab once per TTL', async () => {
    let now = 0;
    const p = new Projects({ gitlab, ttlMs: 1_000, now: () => now });
    const before = projectGets(hidden.id);
    const a = await p.access(hidden.id);
    expect(a).toEqual({ ok: false, reason: `project ${hidden.id} is not reachable with the bot's token (GitLab answered 404)` });
    await p.access(hidden.id);
    expect(projectGets(hidden.id)).toBe(before + 1);
    now = 1_001;
    await p.access(hidden.id);
    expect(projectGets(hidden.id)).toBe(before + 2);
    const e = await p.cloneUrl(hidden.id).catch((x) => x);
    expect(isTransient(e)).toBe(false);
  });

  it('applies ALLOWED_PROJECTS to the API path and id, not to what a payload claims', async () => {
    expect(await new Projects({ gitlab, allowed: ['team/open'] }).access(open.id)).toHaveProperty('ok', true);
    expect(await new Projects({ gitlab, allowed: [String(open.id)] }).access(open.id)).toHaveProperty('ok', true);
    expect(await new Projects({ gitlab, allowed: ['team/other'] }).access(open.id)).toEqual({ ok: false, reason: `project team/open (${open.id}) is not in ALLOWED_PROJECTS` });
  });

  it('lets what can heal go up to the queue, uncached', async () => {
    const p = new Projects({ gitlab });
    s.fail({ method: 'GET', path: new RegExp(`^/api/v4/projects/${open.id}$`) }, { status: 502 });
    const e = await p.access(open.id).catch((x) => x);
    expect(isTransient(e)).toBe(true);
    expect(await p.access(open.id)).toHaveProperty('ok', true);
  });
});

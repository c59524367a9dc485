// The access module against the GitLab stand-in: roles from members/all (inherited too), the cache, push rights.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access, protectionMatches, roleName, ROLE } from '../src/gitlab/access.js';
import { GitLabClient } from '../src/gitlab/client.js';
import { startGitlabStandin, type GitlabStandin, type StandinProject } from '../standins/gitlab.js';
import { waitFor } from '../standins/harness.js';

const GUEST = 21;
const REPORTER = 22;
const DEV = 23;
const MAINTAINER = 24;
const STRANGER = 25;
const INHERITED = 26;

describe('Access', () => {
  let g: GitlabStandin;
  let client: GitLabClient;
  let project: StandinProject;
  let other: StandinProject;
  const memberCalls = (pid: number, uid: number) => g.log.filter((l) => l.path === `/api/v4/projects/${pid}/members/all/${uid}`).length;

  beforeAll(async () => {
    g = await startGitlabStandin({ token: 'glpat-access-test-123' });
    client = new GitLabClient({ url: g.url, token: g.token, baseDelayMs: 10, attempts: 1 });
    for (const [id, username] of [[GUEST, 'guest'], [REPORTER, 'reporter'], [DEV, 'dev'], [MAINTAINER, 'maint'], [STRANGER, 'stranger'], [INHERITED, 'inherited']] as const) {
      g.addUser({ id, username });
    }
    project = await g.createProject('team/sub/app', { 'a.txt': 'a\n' });
    other = await g.createProject('elsewhere/app', { 'a.txt': 'a\n' });
    g.setAccessLevel(project, GUEST, ROLE.guest);
    g.setAccessLevel(project, REPORTER, ROLE.reporter);
    g.setAccessLevel(project, DEV, ROLE.developer);
    g.setAccessLevel(project, MAINTAINER, ROLE.maintainer);
    g.setAccessLevel({ group: 'team' }, INHERITED, ROLE.developer); // from the top-level group, two levels up
  });
  afterAll(async () => g?.close());

  it('reads roles from the API: direct, inherited from an ancestor group, 0 for a non-member', async () => {
    const a = new Access(client, { cacheMs: 0 });
    expect(await a.level(project.id, GUEST)).toBe(10);
    expect(await a.level(project.id, DEV)).toBe(30);
    expect(await a.level(project.id, INHERITED)).toBe(30);
    expect(await a.level(project.id, STRANGER)).toBe(0);
    expect(await a.level(other.id, DEV)).toBe(0); // a role is per project
  });

  it('caches a role per project and user for cacheMs, then asks again', async () => {
    const a = new Access(client, { cacheMs: 3_000 });
    const before = memberCalls(project.id, REPORTER);
    for (let i = 0; i < 5; i++) expect(await a.level(project.id, REPORTER)).toBe(20);
    expect(memberCalls(project.id, REPORTER) - before).toBe(1);
    await a.level(other.id, REPORTER); // another project is another key
    expect(memberCalls(other.id, REPORTER)).toBe(1);
    // promoted in GitLab: the cached role holds until it expires, then the new one is seen
    g.setAccessLevel(project, REPORTER, ROLE.maintainer);
    expect(await a.level(project.id, REPORTER)).toBe(20);
    await waitFor(async () => (await a.level(project.id, REPORTER)) === 40, 20_000, 'the cache to expire');
    expect(memberCalls(project.id, REPORTER) - before).toBe(2);
    g.setAccessLevel(project, REPORTER, ROLE.reporter);
    // without a cache, every check asks
    const n = memberCalls(project.id, GUEST);
    const uncached = new Access(client, { cacheMs: 0 });
    await uncached.level(project.id, GUEST);
    await uncached.level(project.id, GUEST);
    expect(memberCalls(project.id, GUEST) - n).toBe(2);
  });

  it('never reads an error as "no role", and never caches one', async () => {
    const a = new Access(client, { cacheMs: 60_000 });
    g.fail({ method: 'GET', path: new RegExp(`members/all/${MAINTAINER}$`) }, { status: 500 });
    await expect(a.level(project.id, MAINTAINER)).rejects.toThrow(/500/);
    expect(await a.level(project.id, MAINTAINER)).toBe(40);
  });

  it('commands: Developer+; the MR author only where the rule allows it', async () => {
    const a = new Access(client, { cacheMs: 0 });
    expect(await a.meets(project.id, DEV, 'developer')).toBe(true);
    expect(await a.meets(project.id, MAINTAINER, 'developer')).toBe(true);
    expect(await a.meets(project.id, INHERITED, 'developer')).toBe(true);
    expect(await a.meets(project.id, REPORTER, 'developer')).toBe(false);
    expect(await a.meets(project.id, GUEST, 'developer')).toBe(false);
    expect(await a.meets(project.id, STRANGER, 'developer')).toBe(false);
    expect(await a.meets(project.id, GUEST, 'developer', GUEST)).toBe(false); // authorship does not pay for reviews
    expect(await a.meets(project.id, GUEST, 'developer_or_author', GUEST)).toBe(true);
    expect(await a.meets(project.id, GUEST, 'developer_or_author', STRANGER)).toBe(false);
    expect(await a.meets(project.id, STRANGER, 'anyone')).toBe(true);
    expect(await a.meets(project.id, GUEST, 'member')).toBe(true);
    expect(await a.meets(project.id, STRANGER, 'member')).toBe(false);
  });

  it('push: Developer+, and on a protected branch a push rule of a matching protection', async () => {
    const a = new Access(client, { cacheMs: 60_000 });
    expect(await a.canPush(project.id, DEV, 'feature')).toBe(true);
    expect(await a.canPush(project.id, REPORTER, 'feature')).toBe(false);
    expect(await a.canPush(project.id, STRANGER, 'feature')).toBe(false);

    g.protectBranch(project, 'main'); // Maintainers
    expect(await a.canPush(project.id, DEV, 'main')).toBe(false);
    expect(await a.canPush(project.id, MAINTAINER, 'main')).toBe(true);
    expect(await a.canPush(project.id, DEV, 'feature')).toBe(true);

    g.protectBranch(project, 'release/*', [{ accessLevel: ROLE.developer }]);
    expect(await a.canPush(project.id, DEV, 'release/1.0')).toBe(true);
    expect(await a.canPush(project.id, REPORTER, 'release/1.0')).toBe(false);

    g.protectBranch(project, 'hotfix-*', [{ accessLevel: 0 }, { userId: DEV }]); // No one, except one user
    expect(await a.canPush(project.id, MAINTAINER, 'hotfix-1')).toBe(false);
    expect(await a.canPush(project.id, DEV, 'hotfix-1')).toBe(true);

    g.protectBranch(project, 'main', [{ accessLevel: 0 }]); // read fresh: the new rule applies at once
    expect(await a.canPush(project.id, MAINTAINER, 'main')).toBe(false);
  });

  it('matches protection names like GitLab: exact, or * over any characters including /', () => {
    expect(protectionMatches('main', 'main')).toBe(true);
    expect(protectionMatches('main', 'main2')).toBe(false);
    expect(protectionMatches('release/*', 'release/1.0/hotfix')).toBe(true);
    expect(protectionMatches('*-stable', 'v1-stable')).toBe(true);
    expect(protectionMatches('*-stable', 'v1-stable-x')).toBe(false);
    expect(protectionMatches('v1.*', 'v1x0')).toBe(false); // the dot is literal
  });

  it('names roles', () => {
    expect([0, 10, 15, 20, 30, 40, 50].map(roleName)).toEqual(['not a member', 'Guest', 'Planner', 'Reporter', 'Developer', 'Maintainer', 'Owner']);
  });
});

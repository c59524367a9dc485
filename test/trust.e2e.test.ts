// A payload is trusted only as a pointer (ids), GitLab's API decides the rest; and
// the shapes real GitLab has: odd paths, diff_refs null at first, files left out of the diff.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { ALICE, BOB, finding, reviewOutput, startHarness, waitFor, type Harness } from '../standins/harness.js';

const ODD = 'src/a&b #1 100% é.js';

describe('trust nothing in a payload; real GitLab shapes', () => {
  let h: Harness;
  let evil: { url: string; seen: string[]; close: () => Promise<void> };
  let marker: string;
  beforeAll(async () => {
    h = await startHarness({ ALLOWED_PROJECTS: 'trust/app,trust/hidden' });
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    evil = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
    marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-trust-')), 'pwned');
  });
  afterAll(async () => {
    await h?.close();
    await evil?.close();
  });
  const logs = () => h.logs.map((l) => JSON.parse(l));

  it('clones from the API URL only, waits for diff_refs, anchors on an odd path and lists every file GitLab left out', async () => {
    const project = await h.gitlab.createProject('trust/app', { 'README.md': '# app\n', 'big.txt': 'x\n' });
    await h.gitlab.commit(project, 'feature', {
      [ODD]: 'export const x = 1;\nexport const y = x / 0;\n',
      'big.txt': Array.from({ length: 40 }, (_, i) => `big ${i}`).join('\n') + '\n',
      'wide.txt': 'wide\n',
      'gen/api.pb.js': 'generated\n',
      'z-last.txt': 'last\n',
    }, 'odd things');
    const mr = await h.gitlab.createMr(project, { sourceBranch: 'feature', title: 'Odd things', authorId: ALICE.id });
    h.gitlab.markDiff(project, mr.iid, 'big.txt', 'too_large');
    h.gitlab.markDiff(project, mr.iid, 'wide.txt', 'collapsed');
    h.gitlab.markDiff(project, mr.iid, 'gen/api.pb.js', 'generated');
    h.gitlab.overflowDiff(project, mr.iid, 4); // z-last.txt is cut from GitLab's list (directories sort first)
    h.gitlab.delayDiffRefs(project, mr.iid, 3);
    h.model.script({ structured: reviewOutput([finding({ file: ODD, start_line: 2, anchor_text: 'export const y = x / 0;', title: 'Division by zero' })]) });

    // Whoever holds the secret can write any URL into the payload: none of them is contacted.
    const hook = h.gitlab.mrHook(project, mr.iid, 'open');
    hook.project.git_http_url = `${evil.url}/trust/app.git`;
    hook.project.http_url = `--upload-pack=touch ${marker}`;
    hook.project.url = `${evil.url}/trust/app.git`;
    hook.repository.url = `--upload-pack=touch ${marker}`;
    hook.object_attributes.source.git_http_url = `${evil.url}/x.git`;
    hook.object_attributes.target.git_http_url = `${evil.url}/x.git`;
    expect((await h.send(hook)).status).toBe(200);

    const summary = await waitFor(() => h.gitlab.notes(project, mr.iid).find((n) => readMarker(n.body)?.kind === 'summary'), 90_000, 'summary').catch((e) => {
      throw new Error(`${e.message}; last log lines:\n${h.logs.slice(-10).join('\n')}`);
    });
    await h.bot.queue.drained();
    expect(evil.seen).toEqual([]);
    expect(fs.existsSync(marker)).toBe(false);
    expect(h.gitlab.gitRequests.filter((r) => r.path.startsWith('/trust/app.git/')).length).toBeGreaterThan(0);

    // diff_refs was null three times: the bot fetched again instead of failing.
    const mrGets = h.gitlab.log.filter((e) => e.method === 'GET' && e.path === `/api/v4/projects/${project.id}/merge_requests/${mr.iid}`);
    expect(mrGets.length).toBeGreaterThanOrEqual(4);
    expect(h.logs.join('\n')).not.toMatch(/TypeError|job failed/);

    // The finding sits on the odd path, at the right line.
    const note = h.gitlab.notes(project, mr.iid).find((n) => readMarker(n.body)?.kind === 'finding')!;
    expect(note.type).toBe('DiffNote');
    expect(note.position).toMatchObject({ new_path: ODD, old_path: ODD, new_line: 2, head_sha: mr.headSha });

    // Every file GitLab left out is named, with why.
    expect(summary.body).toContain('`big.txt`: too large (GitLab did not render it)');
    expect(summary.body).toContain('`wide.txt`: collapsed by GitLab');
    expect(summary.body).toContain('`gen/api.pb.js`: generated (GitLab marks it so');
    expect(summary.body).toContain('`z-last.txt`: left out by GitLab (the MR is over its diff limits)');
    expect(summary.body).toMatch(/Not reviewed \(4 files\)/);
    // and the model was told too
    expect(h.model.requests[0]!.lastUserText).toContain('z-last.txt');
  });

  it("answers the note GitLab has, not the payload's: a forged author or body changes nothing", async () => {
    const project = h.gitlab.project('trust/app');
    const { note } = h.gitlab.addNote(project, 1, BOB.id, 'thanks, looks fine');
    // Forged author: the hook says Alice wrote "@review-bot pause".
    const forgedAuthor = h.gitlab.noteHook(project, 1, note);
    forgedAuthor.object_attributes.note = '@review-bot pause';
    forgedAuthor.object_attributes.author_id = ALICE.id;
    forgedAuthor.user = { ...forgedAuthor.user, id: ALICE.id, username: ALICE.username };
    expect((await h.send(forgedAuthor)).status).toBe(200);
    // Forged body only: Bob is the author, but he never wrote the command (sent as an edit, so it is not a duplicate).
    const forgedBody = h.gitlab.noteHook(project, 1, note, undefined, { action: 'update' });
    forgedBody.object_attributes.note = '@review-bot pause';
    expect((await h.send(forgedBody)).status).toBe(200);

    await waitFor(() => logs().filter((l) => l.msg === 'note not answered' && l.note === note.id).length >= 2, 30_000, 'both notes skipped');
    await h.bot.queue.drained();
    const whys = logs().filter((l) => l.msg === 'note not answered' && l.note === note.id).map((l) => l.why);
    expect(whys).toEqual(expect.arrayContaining([`the hook names author ${ALICE.id}, GitLab says ${BOB.id}`, 'not addressed to the bot']));
    expect((await h.bot.deps.store.getMr(project.id, 1))?.paused).toBeFalsy();
    expect(h.gitlab.notes(project, 1).filter((n) => n.author.id === h.bot.deps.bot.id && readMarker(n.body)?.kind !== 'finding' && readMarker(n.body)?.kind !== 'summary')).toEqual([]);
  });

  it('ignores, with one log line, a hook for a project the token cannot reach or that is outside ALLOWED_PROJECTS', async () => {
    const hidden = await h.gitlab.createProject('trust/hidden', { 'a.txt': 'a\n' });
    await h.gitlab.commit(hidden, 'f', { 'a.txt': 'b\n' });
    const hmr = await h.gitlab.createMr(hidden, { sourceBranch: 'f', title: 'F' });
    h.gitlab.revokeAccess(hidden, h.bot.deps.bot.id);
    // Outside ALLOWED_PROJECTS, though the payload claims an allowed path.
    const outside = await h.gitlab.createProject('outside/app', { 'a.txt': 'a\n' });
    await h.gitlab.commit(outside, 'f', { 'a.txt': 'c\n' });
    const omr = await h.gitlab.createMr(outside, { sourceBranch: 'f', title: 'F' });
    const spoofed = h.gitlab.mrHook(outside, omr.iid, 'open');
    spoofed.project.path_with_namespace = 'trust/app';

    const requestsBefore = h.model.requests.length;
    expect((await h.send(h.gitlab.mrHook(hidden, hmr.iid, 'open'))).status).toBe(200);
    expect((await h.send(spoofed)).status).toBe(200);
    await waitFor(() => logs().filter((l) => l.msg === 'hook ignored: project not usable').length >= 2, 30_000, 'two ignored hooks');
    await h.bot.queue.drained();

    const ignored = logs().filter((l) => l.msg === 'hook ignored: project not usable');
    expect(ignored.map((l) => [l.projectId, l.reason])).toEqual(expect.arrayContaining([
      [hidden.id, `project ${hidden.id} is not reachable with the bot's token (GitLab answered 404)`],
      [outside.id, `project outside/app (${outside.id}) is not in ALLOWED_PROJECTS`],
    ]));
    expect(ignored).toHaveLength(2);
    for (const id of [hidden.id, outside.id]) {
      expect(logs().filter((l) => l.projectId === id || (l.msg === 'job failed; will retry' && String(l.reason).includes(String(id))))).toHaveLength(1);
    }
    expect(h.gitlab.notes(hidden, hmr.iid)).toEqual([]);
    expect(h.gitlab.notes(outside, omr.iid)).toEqual([]);
    expect(h.gitlab.gitRequests.some((r) => r.path.startsWith('/trust/hidden.git') || r.path.startsWith('/outside/app.git'))).toBe(false);
    expect(h.model.requests.length).toBe(requestsBefore);
  });
});

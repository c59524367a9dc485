// Issue 17: `@bot fix` plans in the thread's fork (read-only); `@bot apply` by someone with push rights makes the fork
// edit a fresh checkout, and the bot commits once and pushes over real git HTTP to the GitLab stand-in.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { APPLY_TRAILER } from '../src/workspace/commit.js';
import { gitEnv, run } from '../standins/gitlab/git.js';
import type { Reply, RecordedRequest } from '../standins/model.js';
import { ALICE, BOB, BOT, SECRET, finding, reviewOutput, sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';

const ADMIN = 'admin-token-apply-17';
const FIXED_LINE = '  if (b === 0) throw new Error("division by zero");\n  return a / b;';

function messageText(m: any): string {
  if (typeof m.content === 'string') return m.content;
  return (m.content ?? []).map((b: any) => (b.type === 'text' ? b.text : '')).join('\n');
}

type Step = (checkout: string) => Reply;
const read = (file: string): Step => (c) => ({ toolUse: { name: 'Read', input: { file_path: `${c}/${file}` } } });
const edit = (file: string, from: string, to: string): Step => (c) => ({ toolUse: { name: 'Edit', input: { file_path: `${c}/${file}`, old_string: from, new_string: to } } });
const write = (file: string, content: string): Step => (c) => ({ toolUse: { name: 'Write', input: { file_path: file.startsWith('/') ? file : `${c}/${file}`, content } } });
const done = (fixed = true): Step => () => ({ structured: { fixed, summary: 'APPLY-SUMMARY guards against b = 0', commit_title: 'Guard div against zero' } });
const GOOD_APPLY: Step[] = [read('src/math.js'), edit('src/math.js', '  return a / b;', FIXED_LINE), done()];
const PLAN_FILES = [{ path: 'src/math.js', lines: '6', change: 'throw on b === 0' }];

describe('plan, approve, apply', () => {
  let h: Harness;
  /** what the model does in the current test */
  let planFiles = PLAN_FILES;
  let applySteps: Step[] = GOOD_APPLY;

  beforeAll(async () => {
    h = await startHarness({ ADMIN_TOKEN: ADMIN });
    h.model.respond((req: RecordedRequest): Reply | undefined => {
      const last = req.lastUserText;
      if (last.includes('asks you to plan a fix')) {
        return { structured: { fixable: true, summary: 'PLAN-SUMMARY throw when b is 0', files: planFiles, diff_preview: '-  return a / b;\n+  if (b === 0) throw new Error("division by zero");\n+  return a / b;' } };
      }
      if (last.includes('New commits were pushed')) return { structured: reviewOutput([], 'RE-REVIEWED after the fix') };
      if (last.includes('The author pushed new commits that touch')) return { structured: { addressed: true, reply: 'FIX-CHECK the guard is there now' } };
      const at = req.messages.findLastIndex((m: any) => m.role === 'user' && messageText(m).includes('approved your plan'));
      if (at >= 0) {
        const checkout = /in the checkout at (\S+) \(/.exec(messageText(req.messages[at]))![1]!;
        const step = req.messages.slice(at + 1).filter((m: any) => m.role === 'assistant').length;
        return applySteps[step]!(checkout);
      }
      return undefined;
    });
  });
  afterAll(async () => h?.close());

  async function reviewed(path: string, files?: Record<string, string>) {
    const { project, mr } = await sampleMr(h, { path, files });
    h.gitlab.setAccessLevel(project, ALICE.id, 30);
    h.gitlab.setAccessLevel(project, BOB.id, 10);
    h.model.script({ structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'DIV-BY-ZERO' })], 'TRUNK') });
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    await waitFor(() => h.gitlab.notes(project, mr.iid).some((n) => readMarker(n.body)?.kind === 'summary'), 60_000, 'review');
    await h.bot.queue.drained();
    const thread = h.gitlab.discussions(project, mr.iid).find((d) => d.notes[0]!.body.includes('DIV-BY-ZERO'))!;
    return { project, mr, thread };
  }

  async function say(project: { id: number }, iid: number, author: number, body: string, discussionId: string) {
    const { note } = h.gitlab.addNote(project as never, iid, author, body, { discussionId });
    expect((await h.send(h.gitlab.noteHook(project as never, iid, note))).status).toBe(200);
    return note;
  }

  /** the bot's answers to one note (by the marker's `re`) */
  const answersTo = (project: { id: number }, iid: number, noteId: number) =>
    h.gitlab.notes(project as never, iid).filter((n) => n.author.id === BOT.id && readMarker(n.body)?.re === noteId);
  async function answered(project: { id: number }, iid: number, noteId: number, n = 1) {
    await waitFor(() => answersTo(project, iid, noteId).length >= n, 90_000, `answer to ${noteId}`);
    await h.bot.queue.drained();
    return answersTo(project, iid, noteId);
  }

  const headOf = (project: { id: number }, iid: number) => h.gitlab.mr(project as never, iid).headSha;
  const botPushes = () => h.gitlab.gitRequests.filter((r) => r.method === 'POST' && r.service === 'git-receive-pack');
  async function log(project: { path: string }, ref = 'feature') {
    const res = await fetch(`${h.gitlab.url}/api/v4/projects/${encodeURIComponent(project.path)}/repository/commits?ref_name=${ref}&per_page=100`, { headers: { 'private-token': h.gitlab.token } });
    return (await res.json()) as { id: string; message: string; author_name: string; author_email: string; title: string }[];
  }
  async function fileAt(project: { path: string }, sha: string, file: string) {
    const dir = `${h.dataDir}/peek-${sha}`;
    const auth = `Authorization: Basic ${Buffer.from(`oauth2:${h.gitlab.token}`).toString('base64')}`;
    await run('git', ['-c', `http.extraHeader=${auth}`, 'clone', '-q', '--no-checkout', `${h.gitlab.url}/${project.path}.git`, dir], { env: gitEnv() });
    return (await run('git', ['-C', dir, 'show', `${sha}:${file}`], { env: gitEnv() })).stdout.toString();
  }

  it('a plan writes nothing; an apply by a Developer makes exactly one commit with the planned change, seen by the re-review', async () => {
    const { project, mr, thread } = await reviewed('acme/apply-ok');
    // GitLab tells the bot about pushes itself (the stand-in fires the MR update hook after a push)
    await fetch(`${h.gitlab.url}/api/v4/projects/${project.id}/hooks`, {
      method: 'POST', headers: { 'private-token': h.gitlab.token, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${h.url}/webhooks/gitlab`, token: SECRET, merge_requests_events: true, push_events: false }),
    });
    const head0 = headOf(project, mr.iid);
    const pushes0 = botPushes().length;

    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    const [plan] = await answered(project, mr.iid, fix.id);
    expect(plan!.body).toContain('PLAN-SUMMARY');
    expect(plan!.body).toContain('`src/math.js` (lines 6)');
    expect(plan!.body).toContain('```diff');
    expect(headOf(project, mr.iid)).toBe(head0);
    expect(botPushes().length).toBe(pushes0);
    const planReq = h.model.requests.find((r) => r.lastUserText.includes('asks you to plan a fix') && r.lastUserText.includes(`[note ${fix.id}]`))!;
    expect(planReq.tools).not.toContain('Edit');
    expect(planReq.tools).not.toContain('Write');
    const t1 = (await h.bot.deps.store.getThread(project.id, mr.iid, thread.id))!;
    expect(t1.plan).toMatchObject({ sha: head0, noteId: fix.id, files: [{ path: 'src/math.js' }] });
    const costBefore = t1.costUsd;

    const apply = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [applied] = await answered(project, mr.iid, apply.id);
    expect(applied!.body).toMatch(/Applied in \[`[0-9a-f]{12}`\]\(http/);
    expect(applied!.body).toContain('src/math.js | ');
    expect(applied!.body).toMatch(/approved by \S*alice/);
    const head1 = headOf(project, mr.iid);
    expect(head1).not.toBe(head0);
    expect(botPushes().length).toBe(pushes0 + 1);
    const commits = await log(project);
    expect(commits[0]!.id).toBe(head1);
    expect(commits[1]!.id).toBe(head0); // exactly one new commit
    expect(commits[0]!.author_name).toBe(BOT.username);
    expect(commits[0]!.message).toContain(`Co-authored-by: alice <${ALICE.id}-alice@users.noreply.127.0.0.1>`);
    expect(commits[0]!.message).toContain(`${APPLY_TRAILER}: `);
    expect(commits[0]!.message).toContain(`${mr.webUrl}#note_${apply.id}`);
    expect(await fileAt(project, head1, 'src/math.js')).toContain(FIXED_LINE);
    // the same fork, with edit tools and nothing else
    const applyReqs = h.model.requests.filter((r) => r.messages.some((m: any) => m.role === 'user' && messageText(m).includes('approved your plan')) && !r.lastUserText.includes('pushed new commits'));
    expect(applyReqs.length).toBe(3);
    expect(applyReqs[0]!.headers['x-claude-code-session-id']).toBe(t1.forkSessionId);
    expect([...applyReqs[0]!.tools].sort()).toEqual(['Edit', 'Glob', 'Grep', 'Read', 'StructuredOutput', 'Write']);
    expect(applyReqs[0]!.text).toContain('PLAN-SUMMARY'); // it remembers its plan
    // resolved, counted, audited
    expect(h.gitlab.discussions(project, mr.iid).find((d) => d.id === thread.id)!.notes[0]!.resolved).toBe(true);
    const t2 = (await h.bot.deps.store.getThread(project.id, mr.iid, thread.id))!;
    expect(t2.costUsd).toBeGreaterThan(costBefore);
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    expect(rec.applies).toEqual([expect.objectContaining({ approver: 'alice', outcome: 'committed', commit: head1 })]);
    const page = await (await fetch(`${h.url}/`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(page).toMatch(/approved by <span class="approver">@alice<\/span>/);
    // the push reached the bot like any push: the trunk re-reviews the new head
    await waitFor(async () => (await h.bot.deps.store.getMr(project.id, mr.iid))?.reviewedSha === head1, 90_000, 're-review of the fix');
  });

  it('a Guest, or a Developer a protected branch keeps out, gets a refusal and no commit', async () => {
    const { project, mr, thread } = await reviewed('acme/apply-guest');
    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix.id);
    const head0 = headOf(project, mr.iid);
    const pushes0 = botPushes().length;
    const before = h.model.requests.length;

    const guest = await say(project, mr.iid, BOB.id, `@${BOT.username} apply`, thread.id);
    const [no] = await answered(project, mr.iid, guest.id);
    expect(no!.body).toContain('needs the Developer role or higher');
    expect(no!.body).toContain('Guest');

    h.gitlab.protectBranch(project, 'feature', [{ accessLevel: 40 }]);
    const dev = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [blocked] = await answered(project, mr.iid, dev.id);
    expect(blocked!.body).toContain('needs push rights to `feature`');
    expect(headOf(project, mr.iid)).toBe(head0);
    expect(botPushes().length).toBe(pushes0);
    expect(h.model.requests.length).toBe(before);
  });

  it('runs one apply per thread at a time', async () => {
    const { project, mr, thread } = await reviewed('acme/apply-busy');
    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix.id);
    // another replica's apply of this thread is under way
    await h.bot.deps.store.updateThread(project.id, mr.iid, thread.id, (t) => {
      t.apply = { noteId: 424242, status: 'running', startedAt: new Date().toISOString() };
    });
    const pushes0 = botPushes().length;
    const before = h.model.requests.length;
    const apply = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [busy] = await answered(project, mr.iid, apply.id);
    expect(busy!.body).toContain('already running in this thread');
    expect(botPushes().length).toBe(pushes0);
    expect(h.model.requests.length).toBe(before);
  });

  it('re-plans when the branch moved since the plan', async () => {
    const { project, mr, thread } = await reviewed('acme/apply-moved');
    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix.id);
    const moved = await h.gitlab.commit(project, 'feature', { 'README.md': '# app, moved\n' }, 'someone else pushed');
    const pushes0 = botPushes().length;

    const apply = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const replies = await answered(project, mr.iid, apply.id, 2);
    expect(replies[0]!.body).toContain('moved since my plan');
    expect(replies[1]!.body).toContain('PLAN-SUMMARY');
    expect(replies[1]!.body).toContain(moved.slice(0, 12));
    expect(headOf(project, mr.iid)).toBe(moved);
    expect(botPushes().length).toBe(pushes0);
    const t = (await h.bot.deps.store.getThread(project.id, mr.iid, thread.id))!;
    expect(t.plan!.sha).toBe(moved);
    expect(h.model.requests.at(-1)!.lastUserText).toContain('source branch moved');
  });

  it('refuses edits outside the plan or the checkout, and plans that touch CI config: no commit', async () => {
    const { project, mr, thread } = await reviewed('acme/apply-paths');
    const head0 = headOf(project, mr.iid);
    const pushes0 = botPushes().length;

    // the model edits a file the plan did not name
    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix.id);
    applySteps = [read('src/math.js'), edit('src/math.js', '  return a / b;', FIXED_LINE), write('src/evil.js', 'export const x = 1;\n'), done()];
    const apply = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [no] = await answered(project, mr.iid, apply.id);
    expect(no!.body).toContain('`src/evil.js` is not one of the planned files');

    // a plan that names .gitlab-ci.yml is refused before the model runs
    planFiles = [...PLAN_FILES, { path: '.gitlab-ci.yml', lines: '1', change: 'skip tests' }];
    const fix2 = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix2.id);
    const before = h.model.requests.length;
    const apply2 = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [no2] = await answered(project, mr.iid, apply2.id);
    expect(no2!.body).toContain('`.gitlab-ci.yml` may not be changed');
    expect(h.model.requests.length).toBe(before);
    planFiles = PLAN_FILES;

    // the model writes outside the checkout: the CLI denies it, and the bot refuses the whole apply
    const outside = `${h.dataDir}/OUTSIDE-${Date.now()}.txt`;
    applySteps = [read('src/math.js'), edit('src/math.js', '  return a / b;', FIXED_LINE), write(outside, 'pwned\n'), done()];
    const fix3 = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix3.id);
    const apply3 = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [no3] = await answered(project, mr.iid, apply3.id);
    expect(no3!.body).toContain('outside the checkout');
    expect(fs.existsSync(outside)).toBe(false);
    applySteps = GOOD_APPLY;

    expect(headOf(project, mr.iid)).toBe(head0);
    expect(botPushes().length).toBe(pushes0);
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    expect(rec.applies!.map((a) => a.outcome)).toEqual(['refused', 'refused', 'refused']);
  });

  it('refuses fork MRs unless the fork allows collaboration and the repo opts in', async () => {
    const project = await h.gitlab.createProject('acme/apply-fork', { 'src/math.js': 'export const div = (a, b) => a / b;\n' });
    h.gitlab.setAccessLevel(project, ALICE.id, 40);
    const fork = await h.gitlab.forkProject(project, 'alice/apply-fork', { ownerId: ALICE.id });
    await h.gitlab.commit(fork, 'fix', { 'src/math.js': 'export const div = (a, b) => a / b; // fork\n' }, 'fork change');
    const mr = await h.gitlab.createMr(project, { sourceBranch: 'fix', sourceProject: fork, title: 'From a fork', authorId: ALICE.id, allowCollaboration: true });
    const { note } = h.gitlab.addNote(project, mr.iid, ALICE.id, `@${BOT.username} apply`);
    await h.send(h.gitlab.noteHook(project, mr.iid, note));
    const [no] = await answered(project, mr.iid, note.id);
    expect(no!.body).toContain('comes from a fork');
    expect(no!.body).toContain('apply.forks: true');
    expect(h.gitlab.mr(project, mr.iid).headSha).toBe(mr.headSha);
  });

  it('refuses a change over the size limit the repo config sets', async () => {
    const { project, mr, thread } = await reviewed('acme/apply-size', {
      'README.md': '# app\n', 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n', '.gitlab/mr-reviewer.yml': 'apply:\n  max_diff_lines: 2\n',
    });
    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix.id);
    const head0 = headOf(project, mr.iid);
    applySteps = [read('src/math.js'), edit('src/math.js', '  return a / b;', '  if (b === 0) {\n    throw new Error("division by zero");\n  }\n  return a / b;'), done()];
    const apply = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [no] = await answered(project, mr.iid, apply.id);
    applySteps = GOOD_APPLY;
    expect(no!.body).toContain('The change is 3 lines, over this project\'s limit of 2');
    expect(headOf(project, mr.iid)).toBe(head0);
  });

  it('applies to a fork MR when the fork allows collaboration and the repo opts in: the push goes to the fork', async () => {
    const project = await h.gitlab.createProject('acme/apply-fork-ok', {
      'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n', '.gitlab/mr-reviewer.yml': 'apply:\n  forks: true\n',
    });
    h.gitlab.setAccessLevel(project, ALICE.id, 30);
    const fork = await h.gitlab.forkProject(project, 'alice/apply-fork-ok', { ownerId: ALICE.id });
    await h.gitlab.commit(fork, 'fix', { 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  return a / b;\n}\n' }, 'add div');
    const mr = await h.gitlab.createMr(project, { sourceBranch: 'fix', sourceProject: fork, title: 'Div from a fork', authorId: ALICE.id, allowCollaboration: true });
    h.model.script({ structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'FORK-DIV' })], 'TRUNK') });
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    await waitFor(() => h.gitlab.notes(project, mr.iid).some((n) => readMarker(n.body)?.kind === 'summary'), 60_000, 'review');
    await h.bot.queue.drained();
    const thread = h.gitlab.discussions(project, mr.iid).find((d) => d.notes[0]!.body.includes('FORK-DIV'))!;
    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix.id);
    const apply = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [ok] = await answered(project, mr.iid, apply.id);
    expect(ok!.body).toContain('Applied in');
    expect(ok!.body).toContain(`/alice/apply-fork-ok/-/commit/`);
    const head = h.gitlab.mr(project, mr.iid).headSha;
    expect(head).not.toBe(mr.headSha);
    expect(await fileAt(fork, head, 'src/math.js')).toContain(FIXED_LINE);
  });

  it('reports a push GitLab rejects (protected branch) and does not retry it', async () => {
    const { project, mr, thread } = await reviewed('acme/apply-rejected');
    // alice may push to the protected branch by name; the bot may not: GitLab's pre-receive says no
    h.gitlab.protectBranch(project, 'feature', [{ userId: ALICE.id }]);
    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix.id);
    const head0 = headOf(project, mr.iid);
    const pushes0 = botPushes().length;
    const apply = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [no] = await answered(project, mr.iid, apply.id);
    expect(no!.body).toContain('GitLab rejected the push to `feature`');
    expect(no!.body).toContain('You are not allowed to push code to protected branches on this project');
    expect(headOf(project, mr.iid)).toBe(head0);
    expect(botPushes().length).toBe(pushes0 + 1); // tried once, never again
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    expect(rec.applies!.at(-1)).toMatchObject({ outcome: 'rejected', approver: 'alice' });
  });

  it('a retried apply job pushes once: the commit is found by its trailer', async () => {
    const { project, mr, thread } = await reviewed('acme/apply-retry');
    const fix = await say(project, mr.iid, ALICE.id, `@${BOT.username} fix`, thread.id);
    await answered(project, mr.iid, fix.id);
    const head0 = headOf(project, mr.iid);
    const pushes0 = botPushes().length;
    // the push goes through, then every try to post the result fails: the job is retried later
    h.gitlab.fail({ method: 'POST', path: new RegExp(`/discussions/${thread.id}/notes$`) }, { status: 503, times: 4 });
    const apply = await say(project, mr.iid, ALICE.id, `@${BOT.username} apply`, thread.id);
    const [ok] = await answered(project, mr.iid, apply.id);
    expect(ok!.body).toContain('Applied in');
    expect(botPushes().length).toBe(pushes0 + 1);
    const commits = await log(project);
    expect(commits.filter((c) => c.message.includes(`${APPLY_TRAILER}: `))).toHaveLength(1);
    expect(commits[1]!.id).toBe(head0);
    expect(h.logs.some((l) => l.includes('"attempt":2') && l.includes('job started'))).toBe(true);
  });
});

// Commands only from people allowed to ask; questions open by default, restricted by repo config, with a
// per-user daily budget. Real CLI, GitLab stand-in with members and roles.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { ALICE, BOB, BOT, finding, reviewOutput, sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';

const DEV = { id: 31, username: 'dana', name: 'Dana Dev' };
const STRANGER = { id: 32, username: 'sam', name: 'Sam Stranger' };
const DIV = finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'FINDING-DIV' });
const answer = (reply: string) => ({ structured: { reply, verdict: 'answered' } });

describe('who may ask the bot for what', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.gitlab.addUser(DEV);
    h.gitlab.addUser(STRANGER);
    // ALICE authors the MRs and is no member; BOB is a Guest of the group; DEV a Developer; STRANGER nothing.
    h.gitlab.setAccessLevel({ group: 'perm' }, BOB.id, 10);
    h.gitlab.setAccessLevel({ group: 'perm' }, DEV.id, 30);
  });
  afterAll(async () => h?.close());

  async function reviewed(path: string, files?: Record<string, string>) {
    const { project, mr } = await sampleMr(h, { path, files });
    h.model.script({ structured: reviewOutput([DIV], 'FIRST-SUMMARY') });
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    await waitFor(() => h.gitlab.notes(project, mr.iid).some((n) => readMarker(n.body)?.kind === 'summary'), 90_000, 'review');
    await h.bot.queue.drained();
    const thread = h.gitlab.discussions(project, mr.iid).find((d) => d.notes[0]!.body.includes('FINDING-DIV'))!;
    return { project, mr, thread };
  }

  /** A human writes a note; GitLab delivers the hook (optionally forged); the bot's work is done when this returns. */
  async function say(project: { id: number }, iid: number, author: number, body: string, opts: { discussionId?: string; forge?: (p: any) => void } = {}) {
    const { note, discussion } = h.gitlab.addNote(project as never, iid, author, body, opts.discussionId ? { discussionId: opts.discussionId } : {});
    const payload = h.gitlab.noteHook(project as never, iid, note, discussion);
    opts.forge?.(payload);
    expect((await h.send(payload)).status).toBe(200);
    await h.bot.queue.drained();
    const after = h.gitlab.discussions(project as never, iid).find((d) => d.id === discussion.id)!;
    return { note, replies: after.notes.filter((n) => n.id > note.id && n.author.id === BOT.id) };
  }
  const memberLookups = (pid: number, uid: number) => h.gitlab.log.filter((l) => l.method === 'GET' && l.path === `/api/v4/projects/${pid}/members/all/${uid}`).length;

  it('refuses review, pause and forget to a Guest and a non-member, politely; nothing runs or changes', async () => {
    const { project, mr, thread } = await reviewed('perm/commands');
    h.model.script(answer('DEV-ANSWER'));
    await say(project, mr.iid, DEV.id, 'why does this matter?', { discussionId: thread.id });
    const before = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    const threadBefore = (await h.bot.deps.store.getThread(project.id, mr.iid, thread.id))!;
    expect(threadBefore.forkSessionId).toBeTruthy();
    const requests = h.model.requests.length;

    for (const [who, role] of [[BOB, 'Guest'], [STRANGER, 'not a member']] as const) {
      for (const cmd of ['review', 'pause', 'forget']) {
        const { replies } = await say(project, mr.iid, who.id, `@${BOT.username} ${cmd}`, cmd === 'forget' ? { discussionId: thread.id } : {});
        expect(replies, `${who.username} ${cmd}`).toHaveLength(1);
        expect(replies[0]!.body).toContain(`\`@${BOT.username} ${cmd}\` needs the Developer role or higher`);
        expect(replies[0]!.body).toContain(`your role here is: ${role}`);
        expect(readMarker(replies[0]!.body)).toMatchObject({ kind: 'reply', command: cmd, refused: 'access' });
      }
    }
    // a forged payload author does not lend a Developer's role: the note's author comes from the API, and a hook whose
    // claimed author disagrees with it is dropped without an answer
    const forged = await say(project, mr.iid, STRANGER.id, `@${BOT.username} review`, {
      forge: (p) => { p.user = { ...p.user, id: DEV.id, username: DEV.username }; p.object_attributes.author_id = DEV.id; },
    });
    expect(forged.replies).toHaveLength(0);

    expect(h.model.requests.length).toBe(requests); // no model request
    const after = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    expect(after.paused).toBeFalsy();
    expect(after.trunkSessionId).toBe(before.trunkSessionId);
    expect(after.reviews).toBe(before.reviews);
    expect((await h.bot.deps.store.getThread(project.id, mr.iid, thread.id))?.forkSessionId).toBe(threadBefore.forkSessionId);
    expect(h.gitlab.notes(project, mr.iid).filter((n) => readMarker(n.body)?.kind === 'summary')).toHaveLength(1);
    // help stays open to everyone
    expect((await say(project, mr.iid, STRANGER.id, `@${BOT.username} help`)).replies[0]!.body).toContain(`@${BOT.username} pause`);
    // one role lookup per user for all of that: the role is cached
    expect(memberLookups(project.id, BOB.id)).toBe(1);
    expect(memberLookups(project.id, STRANGER.id)).toBe(1);
  });

  it("runs a Developer's commands; the MR's author may pause and resume but not start a paid review", async () => {
    const { project, mr, thread } = await reviewed('perm/allowed');
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;

    expect((await say(project, mr.iid, DEV.id, `@${BOT.username} pause`)).replies[0]!.body).toContain('paused');
    expect((await h.bot.deps.store.getMr(project.id, mr.iid))?.paused).toBe(true);
    expect((await say(project, mr.iid, ALICE.id, `@${BOT.username} resume`)).replies[0]!.body).toContain('back on');
    expect((await h.bot.deps.store.getMr(project.id, mr.iid))?.paused).toBe(false);
    expect((await say(project, mr.iid, ALICE.id, `@${BOT.username} pause`)).replies[0]!.body).toContain('paused');
    expect((await h.bot.deps.store.getMr(project.id, mr.iid))?.paused).toBe(true);

    const requests = h.model.requests.length;
    const refused = await say(project, mr.iid, ALICE.id, `@${BOT.username} review`);
    expect(refused.replies[0]!.body).toContain('needs the Developer role or higher in this project;');
    expect(h.model.requests.length).toBe(requests);

    h.model.script({ structured: reviewOutput([DIV], 'COMMANDED-REVIEW') });
    await say(project, mr.iid, DEV.id, `@${BOT.username} review`);
    expect(h.model.requests.length).toBe(requests + 1);
    expect((await h.bot.deps.store.getMr(project.id, mr.iid))!.trunkSessionId).not.toBe(rec.trunkSessionId);
    expect(h.gitlab.notes(project, mr.iid).find((n) => readMarker(n.body)?.kind === 'summary')!.body).toContain('COMMANDED-REVIEW');
    expect((await say(project, mr.iid, DEV.id, `@${BOT.username} forget`, { discussionId: thread.id })).replies[0]!.body).toContain('Forgotten');
  });

  it('answers everyone by default', async () => {
    const { project, mr, thread } = await reviewed('perm/open');
    h.model.script(answer('ANSWER-FOR-A-STRANGER'));
    const { replies } = await say(project, mr.iid, STRANGER.id, 'is b ever 0 here?', { discussionId: thread.id });
    expect(replies.map((r) => r.body).join()).toContain('ANSWER-FOR-A-STRANGER');
  });

  it('restricts questions by repo config and stops the N+1th question of a user with one reply', async () => {
    const { project, mr, thread } = await reviewed('perm/members', {
      'README.md': '# app\n',
      'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n',
      '.gitlab/mr-reviewer.yml': 'questions: members\nquestions_per_user_per_day: 1\n',
    });
    const requests = h.model.requests.length;
    // not a member: one polite reply, no CLI run
    const stranger = await say(project, mr.iid, STRANGER.id, 'STRANGER-Q why?', { discussionId: thread.id });
    expect(stranger.replies).toHaveLength(1);
    expect(stranger.replies[0]!.body).toContain('I only answer questions from members of this project (Guest or higher), and from the MR\'s author');
    expect(readMarker(stranger.replies[0]!.body)).toMatchObject({ kind: 'reply', refused: 'audience', re: stranger.note.id });
    expect(h.model.requests.length).toBe(requests);

    // the MR's author always may ask; a Guest is a member
    h.model.script(answer('ANSWER-AUTHOR-1'));
    expect((await say(project, mr.iid, ALICE.id, 'AUTHOR-Q1 why?', { discussionId: thread.id })).replies[0]!.body).toContain('ANSWER-AUTHOR-1');
    h.model.script(answer('ANSWER-GUEST-1'));
    expect((await say(project, mr.iid, BOB.id, 'GUEST-Q1 and then?', { discussionId: thread.id })).replies[0]!.body).toContain('ANSWER-GUEST-1');
    expect(h.model.requests.length).toBe(requests + 2);

    // the author's second question today: one polite reply, no run; the third: no reply at all
    const second = await say(project, mr.iid, ALICE.id, 'AUTHOR-Q2 and now?', { discussionId: thread.id });
    expect(second.replies).toHaveLength(1);
    expect(second.replies[0]!.body).toContain("today's limit of 1 answered question on this MR");
    expect(readMarker(second.replies[0]!.body)).toMatchObject({ kind: 'reply', refused: 'budget', re: second.note.id });
    expect((await say(project, mr.iid, ALICE.id, 'AUTHOR-Q3 hello?', { discussionId: thread.id })).replies).toHaveLength(0);
    expect(h.model.requests.length).toBe(requests + 2);
    // the tally is in the bot's store (shared by replicas), under the API's project id
    const day = new Date().toISOString().slice(0, 10);
    expect(await h.bot.deps.store.kv.get(`questions:${project.id}:${mr.iid}:${ALICE.id}:${day}`)).toMatchObject({ answered: [expect.any(Number)], refused: [expect.any(Number), expect.any(Number)] });
  });

  it('questions: developers shuts out a Guest but not a Developer', async () => {
    const { project, mr, thread } = await reviewed('perm/devs', {
      'README.md': '# app\n',
      'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n',
      '.gitlab/mr-reviewer.yml': 'questions: developers\n',
    });
    const requests = h.model.requests.length;
    const guest = await say(project, mr.iid, BOB.id, 'GUEST-Q why?', { discussionId: thread.id });
    expect(guest.replies[0]!.body).toContain('only answer questions from people with the Developer role or higher');
    expect(h.model.requests.length).toBe(requests);
    h.model.script(answer('ANSWER-DEV'));
    expect((await say(project, mr.iid, DEV.id, 'DEV-Q why?', { discussionId: thread.id })).replies[0]!.body).toContain('ANSWER-DEV');
  });
});

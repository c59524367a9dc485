// `@bot <command>` (src/flows/chat-commands.ts): what counts as a command, who may run it, what each one does.
import { describe, expect, it } from 'vitest';
import { parseCommand, runCommand, type Command } from '../../src/flows/chat-commands.js';
import { readMarker } from '../../src/gitlab/markers.js';
import { lane } from '../../src/keys.js';
import { newThreadRecord } from '../../src/store/records.js';
import { ALICE, BOB, BOT } from '../../standins/harness.js';
import { flowWorlds, seen, type FlowWorld } from '../support/flow-world.js';

const world = flowWorlds();
const DEVELOPER = 30;

describe('parseCommand', () => {
  it('reads a mention with one word as a command, a bare mention as help, and anything longer as a question', () => {
    const p = (body: string) => parseCommand(body, BOT.username);
    expect(p('@review-bot review')).toEqual({ name: 'review' });
    expect(p('  @review-bot /Pause. ')).toEqual({ name: 'pause' });
    expect(p('@review-bot')).toEqual({ name: 'help' });
    expect(p('@review-bot frobnicate')).toEqual({ name: 'unknown', word: 'frobnicate' });
    expect(p('@review-bot why is this a bug?')).toBeUndefined();
    expect(p('@review-bot-two review')).toBeUndefined(); // another user whose name starts like the bot's
    expect(p('please @review-bot review')).toBeUndefined();
  });
});

describe('runCommand', () => {
  /** `body` said by `who` in a new thread of a new MR (authored by Alice); returns what the command answered. */
  async function command(w: FlowWorld, who: { id: number; username: string }, word: string) {
    const { project, ref, mr } = await w.newMr();
    const ev = w.say(project, mr.iid, who.id, `@${BOT.username} ${word}`, { thread: true });
    const ran = await runCommand(w.deps, ev, parseCommand(ev.body, BOT.username) as Command, who);
    const answer = w.gitlab.notes(project, mr.iid).find((n) => n.author.id === BOT.id);
    return { ran, answer, ref, mr, ev };
  }

  it('lets the MR\'s author pause and resume automatic reviews on it', async () => {
    const w = await world();
    const { ran, answer, ref, mr, ev } = await command(w, ALICE, 'pause');
    expect(ran).toBe('pause');
    expect(answer?.body).toContain('paused');
    expect(readMarker(answer!.body)).toMatchObject({ kind: 'reply', command: 'pause', re: ev.noteId });
    expect((await w.store.getMr(ref.id, mr.iid))?.paused).toBe(true);

    await runCommand(w.deps, ev, { name: 'resume' }, ALICE);
    expect((await w.store.getMr(ref.id, mr.iid))?.paused).toBe(false);
  });

  it('refuses a paid review to someone below Developer, even the MR\'s author, and says what it needs', async () => {
    const w = await world();
    const { ran, answer } = await command(w, ALICE, 'review');
    expect(ran).toBe('refused');
    expect(answer?.body).toContain('needs the Developer role or higher');
    expect(readMarker(answer!.body)).toMatchObject({ refused: 'access' });
    expect(w.enqueued).toHaveLength(0);
  });

  it('queues a full review for a Developer, in the MR\'s lane, once per note', async () => {
    const w = await world();
    const { project } = await w.newMr();
    w.gitlab.setAccessLevel(project, BOB.id, DEVELOPER);
    const { ran, answer, ref, mr, ev } = await command(w, BOB, 'review');
    expect(ran).toBe('review');
    expect(answer?.body).toContain(`Starting a full review of \`${mr.headSha.slice(0, 12)}\``);
    expect(w.enqueued).toEqual([expect.objectContaining({ kind: 'review', orderKey: lane.mr(ref.id, mr.iid), dedupeKeys: [`cmd:${ev.noteId}`] })]);
    expect(w.enqueued[0]!.data).toMatchObject({ kind: 'review', reason: 'command', iid: mr.iid, headSha: mr.headSha, actor: BOB });
  });

  it('forgets a thread: its record goes, so the next answer starts again from the review', async () => {
    const w = await world();
    const { project, mr } = await w.newMr();
    const ev = w.say(project, mr.iid, ALICE.id, `@${BOT.username} forget`, { thread: true });
    await w.store.putThread(newThreadRecord({ projectId: project.id, iid: mr.iid, discussionId: ev.discussionId, forkSessionId: 'f', trunkSessionId: 't' }));
    expect(await runCommand(w.deps, ev, { name: 'forget' }, ALICE)).toBe('forget');
    expect(await w.store.getThread(project.id, mr.iid, ev.discussionId)).toBeUndefined();
  });

  it('answers help with the commands, and an unknown word with the same list naming it', async () => {
    const w = await world();
    const help = await command(w, BOB, 'help');
    expect(seen(help.answer!.body)).toContain('`@review-bot pause`');
    expect(readMarker(help.answer!.body)?.kind).toBe('help');
    const unknown = await command(w, BOB, 'frobnicate');
    expect(unknown.ran).toBe('unknown');
    expect(unknown.answer?.body).toContain("I don't know the command `frobnicate`");
  });
});

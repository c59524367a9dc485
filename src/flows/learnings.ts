// Team learnings in the flows: kept from a thread's answer when a Developer taught it, given to every
// later review of the project, and listed, added and removed with `@bot learnings | learn <text> | forget <id>`.
import type { NoteAdded, UserRef } from '../events/types.js';
import type { DiscussionInfo } from '../gitlab/types.js';
import {
  cleanGlob,
  cleanInstruction,
  cleanLanguage,
  learningsList,
  rememberedLine,
  selectLearnings,
  splitScope,
  type Learning,
  type ProposedLearning,
} from '../review/learnings.js';
import { LearningsRepo } from '../store/learnings.js';
import type { PendingReply } from '../store/records.js';
import type { Deps } from './deps.js';

export type LearningCommand = { name: 'learnings' } | { name: 'learn'; text: string } | { name: 'unlearn'; id: string };

/** The repository over the flows' store (stateless: the store holds the data and the locks). */
export const learningsOf = (d: Pick<Deps, 'store'>) => new LearningsRepo(d.store);

/** The project's learnings whose scope covers one of the MR's changed files, capped for a prompt. */
export async function learningsFor(d: Pick<Deps, 'store' | 'log'>, pid: number, changedFiles: string[]): Promise<Learning[]> {
  const all = await learningsOf(d).list(pid);
  const picked = selectLearnings(all, changedFiles);
  if (all.length) d.log.info({ project: pid, stored: all.length, applied: picked.length }, 'team learnings for this review');
  return picked;
}

/**
 * `learnings`, `learn <text>` and `forget <id>` after the mention (`rest`); undefined for anything else. `forget`
 * alone stays the thread command, and `forget` followed by words that are no id is a question, not a command.
 */
export function parseLearningCommand(rest: string): LearningCommand | undefined {
  if (/^\/?learnings[.!]?$/i.test(rest)) return { name: 'learnings' };
  const learn = /^\/?learn\s*:?\s+(\S[\s\S]*)$/i.exec(rest);
  if (learn) return { name: 'learn', text: learn[1]! };
  const forget = /^\/?forget\s+`?([a-z0-9]{4,16})`?[.!]?$/i.exec(rest);
  if (forget) return { name: 'unlearn', id: forget[1]!.toLowerCase() };
  return undefined;
}

/** How a person types the command (for a refusal). */
export function spokenCommand(cmd: { name: string }): string {
  return cmd.name === 'unlearn' ? 'forget <id>' : cmd.name === 'learn' ? 'learn <text>' : cmd.name;
}

/** Run one learning command; access was checked by the caller (chat-commands.ts COMMAND_ACCESS). */
export async function runLearningCommand(d: Deps, ev: NoteAdded, cmd: LearningCommand, author: UserRef, say: (text: string) => Promise<unknown>): Promise<void> {
  const repo = learningsOf(d);
  const pid = ev.project.id;
  const bot = d.bot.username;
  switch (cmd.name) {
    case 'learnings':
      await say(learningsList(await repo.list(pid), bot));
      return;
    case 'learn': {
      const { instruction, path } = splitScope(cmd.text);
      const mr = await d.gitlab.mergeRequest(pid, ev.iid);
      const l = await repo.add(pid, { instruction, path, author: { id: author.id, username: author.username }, url: `${mr.webUrl}#note_${ev.noteId}`, mr: ev.iid, source: `note:${ev.noteId}` });
      d.log.info({ project: ev.project.path, learning: l.id, user: author.username }, 'learning added by command');
      await say(rememberedLine(l, bot));
      return;
    }
    case 'unlearn': {
      const gone = await repo.remove(pid, cmd.id);
      if (gone) d.log.info({ project: ev.project.path, learning: gone.id, user: author.username }, 'learning removed');
      await say(gone ? `🧹 Forgotten: “${gone.instruction}”. Later reviews of this project no longer get it.` : `I have no learning \`${cmd.id}\` in this project; \`@${bot} learnings\` lists them.`);
      return;
    }
  }
}

/** What a thread's answer keeps of a proposed learning until it is posted (see PendingReply.learning). */
export function pendingLearning(p: ProposedLearning | undefined, url: string): PendingReply['learning'] {
  if (!p) return undefined;
  const instruction = cleanInstruction(p.instruction);
  return instruction ? { instruction, path: cleanGlob(p.path), language: cleanLanguage(p.language), url } : undefined;
}

/**
 * The reply as posted: when the answer proposed a learning and the note's author (as the API shows the note) is a
 * Developer or higher, the learning is stored and the reply says so in one line. Anyone else's pushback shapes the
 * thread's answer only. Idempotent: a retried post finds the learning its note already made.
 */
export async function replyWithLearning(d: Deps, ev: NoteAdded, disc: DiscussionInfo, p: PendingReply): Promise<string> {
  if (!p.learning) return p.reply;
  const author = disc.notes.find((n) => n.id === ev.noteId)?.author;
  const log = d.log.child({ project: ev.project.path, iid: ev.iid, note: ev.noteId });
  if (!author || !(await d.access.meets(ev.project.id, author.id, 'developer'))) {
    log.info({ user: author?.username }, 'learning proposed from a note by someone below Developer; not kept');
    return p.reply;
  }
  const { instruction, path, language, url } = p.learning;
  const l = await learningsOf(d).add(ev.project.id, { instruction, path, language, author: { id: author.id, username: author.username }, url, mr: ev.iid, source: `note:${ev.noteId}` });
  log.info({ learning: l.id, user: author.username, path: l.path, language: l.language }, 'learning kept from a thread');
  return `${p.reply}\n\n${rememberedLine(l, d.bot.username)}`;
}

// `@bot <command>`: review, pause, resume, help, forget. A note that is only a mention and one word is a command;
// anything longer is a question for the thread's session.
import type { NoteAdded, ReviewRequested } from '../events/types.js';
import { withMarker } from '../gitlab/markers.js';
import { mrLane } from '../jobs/specs.js';
import { REPO_CONFIG_PATH } from '../review/repo-config.js';
import type { Deps } from './deps.js';

export const COMMANDS = ['review', 'pause', 'resume', 'help', 'forget'] as const;
export type Command = { name: (typeof COMMANDS)[number] } | { name: 'unknown'; word: string };

export function parseCommand(body: string, botUsername: string): Command | undefined {
  const esc = botUsername.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^\\s*@${esc}(?![\\w.-])\\s*(.*)$`, 'is').exec(body.trim());
  if (!m) return undefined;
  const rest = m[1]!.trim();
  if (!rest) return { name: 'help' };
  const word = /^\/?([a-z][\w-]*)[.!]?$/i.exec(rest)?.[1]?.toLowerCase();
  if (!word) return undefined;
  return (COMMANDS as readonly string[]).includes(word) ? { name: word as Command['name'] } as Command : { name: 'unknown', word };
}

export function helpText(bot: string, unknown?: string): string {
  return [
    unknown ? `I don't know the command \`${unknown}\`. Here is what I understand:` : `**mr-reviewer** commands (mention me with one word):`,
    '',
    `- \`@${bot} review\`: a full review of the MR now, in a new review session`,
    `- \`@${bot} pause\` / \`@${bot} resume\`: stop or restart automatic reviews on this MR`,
    `- \`@${bot} forget\` (in a thread): drop this thread's memory; my next answer starts again from the review`,
    `- \`@${bot} help\`: this list`,
    '',
    `Anything else that mentions me, or any reply in a thread I am part of, is a question: I answer in that thread.`,
    `Per-repository settings live in \`${REPO_CONFIG_PATH}\` on the target branch: \`instructions\`, \`include\` / \`exclude\` globs, \`review_drafts\`, \`severity_threshold\`, \`budget_per_review_usd\`, \`budget_per_thread_usd\`, \`language\`, \`auto_review\`.`,
  ].join('\n');
}

export async function runCommand(d: Deps, ev: NoteAdded, cmd: Command): Promise<string> {
  const { project, iid } = ev;
  const say = (text: string) => d.gitlab.reply(project.id, iid, ev.discussionId, withMarker(text, { kind: cmd.name === 'help' || cmd.name === 'unknown' ? 'help' : 'reply', command: cmd.name, re: ev.noteId }));
  switch (cmd.name) {
    case 'review': {
      const mr = await d.gitlab.mergeRequest(project.id, iid);
      const event: ReviewRequested = {
        kind: 'review', reason: 'command', project, iid, title: mr.title, headSha: mr.sha, sourceBranch: mr.sourceBranch,
        targetBranch: mr.targetBranch, draft: mr.draft, state: mr.state, actor: ev.author, url: mr.webUrl,
      };
      if (!d.enqueue) throw new Error('no queue to enqueue a review');
      await d.enqueue({ kind: 'review', orderKey: mrLane(project.id, iid), dedupeKeys: [`cmd:${ev.noteId}`], data: event });
      await say(`👍 Starting a full review of \`${mr.sha.slice(0, 12)}\`.`);
      break;
    }
    case 'pause':
    case 'resume':
      await d.store.updateMr(project.id, iid, project.path, (r) => {
        r.paused = cmd.name === 'pause';
      });
      await say(cmd.name === 'pause' ? `⏸️ Automatic reviews are paused on this MR. \`@${d.bot.username} resume\` restarts them.` : `▶️ Automatic reviews are back on for this MR.`);
      break;
    case 'forget':
      await d.store.deleteThread(project.id, iid, ev.discussionId);
      await say(`🧹 Forgotten. My next answer in this thread starts again from the review.`);
      break;
    case 'help':
      await say(helpText(d.bot.username));
      break;
    case 'unknown':
      await say(helpText(d.bot.username, cmd.word));
      break;
  }
  d.log.info({ project: project.path, iid, command: cmd.name }, 'command handled');
  return cmd.name;
}

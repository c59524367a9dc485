// `@bot <command>`: review, pause, resume, help, forget, fix, apply. A note that is only a mention and one word is a command,
// as are the team-learning commands with their argument (`learnings`, `learn <text>`, `forget <id>`: flows/learnings.ts);
// anything longer is a question for the thread's session.
import type { NoteAdded, ReviewRequested, UserRef } from '../events/types.js';
import { roleName, type Requirement } from '../gitlab/access.js';
import { withMarker } from '../gitlab/markers.js';
import { REPO_CONFIG_PATH } from '../review/repo-config.js';
import { applyFix, planFix } from './apply.js';
import type { Deps } from './deps.js';
import { parseLearningCommand, runLearningCommand, spokenCommand, type LearningCommand } from './learnings.js';
import { dedupeKey, lane } from '../keys.js';

export const COMMANDS = ['review', 'pause', 'resume', 'help', 'forget', 'fix', 'apply'] as const;
export type Command = { name: (typeof COMMANDS)[number] } | LearningCommand | { name: 'unknown'; word: string };

/**
 * Who may run what. Paid or state-changing commands need Developer+; the MR's author may also pause, resume and make
 * a thread forget on their own MR (it only changes how the bot treats their MR), but not start paid reviews.
 */
export const COMMAND_ACCESS: Record<Command['name'], Requirement> = {
  review: 'developer',
  pause: 'developer_or_author',
  resume: 'developer_or_author',
  forget: 'developer_or_author',
  help: 'anyone',
  unknown: 'anyone',
  // team learnings (flows/learnings.ts): anyone on the MR may see them; teaching and forgetting change later reviews
  learnings: 'anyone',
  learn: 'developer',
  unlearn: 'developer',
  // a plan is paid for; an apply also needs push rights to the source branch (checked in flows/apply.ts)
  fix: 'developer',
  apply: 'developer',
};

export function refusalText(bot: string, command: string, need: Requirement, level: number): string {
  const who = need === 'developer_or_author' ? "the Developer role or higher in this project, or being this MR's author" : 'the Developer role or higher in this project';
  return `Sorry, \`@${bot} ${command}\` needs ${who}; your role here is: ${roleName(level)}. Nothing was changed. ` +
    `\`@${bot} help\` lists what I can do.`;
}

export function parseCommand(body: string, botUsername: string): Command | undefined {
  const esc = botUsername.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^\\s*@${esc}(?![\\w.-])\\s*(.*)$`, 'is').exec(body.trim());
  if (!m) return undefined;
  const rest = m[1]!.trim();
  if (!rest) return { name: 'help' };
  const learning = parseLearningCommand(rest);
  if (learning) return learning;
  const word = /^\/?([a-z][\w-]*)[.!]?$/i.exec(rest)?.[1]?.toLowerCase();
  if (!word) return undefined;
  return (COMMANDS as readonly string[]).includes(word) ? { name: word as Command['name'] } as Command : { name: 'unknown', word };
}

export function helpText(bot: string, unknown?: string): string {
  return [
    unknown ? `I don't know the command \`${unknown}\`. Here is what I understand:` : `**mr-reviewer** commands (mention me with one word, or as shown):`,
    '',
    `- \`@${bot} review\`: a full review of the MR now, in a new review session`,
    `- \`@${bot} pause\` / \`@${bot} resume\`: stop or restart automatic reviews on this MR`,
    `- \`@${bot} forget\` (in a thread): drop this thread's memory; my next answer starts again from the review`,
    `- \`@${bot} learnings\`: what I learned from this project's developers; \`@${bot} learn [<path glob>:] <one sentence>\` teaches me a convention, \`@${bot} forget <id>\` removes one (both Developer or higher)`,
    `- \`@${bot} fix\` (in a review or diff thread): I plan a fix for it and show it; nothing is changed`,
    `- \`@${bot} apply\` (after \`fix\`): I commit that plan to the source branch (needs push rights to it)`,
    `- \`@${bot} help\`: this list`,
    '',
    `\`review\` and \`fix\` need the Developer role or higher; \`pause\`, \`resume\` and \`forget\` need Developer or higher, or being the MR's author.`,
    `Anything else that mentions me, or any reply in a thread I am part of, is a question: I answer in that thread.`,
    `Per-repository settings live in \`${REPO_CONFIG_PATH}\` on the target branch: \`instructions\`, \`include\` / \`exclude\` globs, \`review_drafts\`, \`severity_threshold\`, \`budget_per_review_usd\`, \`budget_per_thread_usd\`, \`language\`, \`auto_review\`, \`questions\`, \`questions_per_user_per_day\`.`,
  ].join('\n');
}

/** Run a command for `author` (the note's author as the API gave it). Returns the command's name, or 'refused'. */
export async function runCommand(d: Deps, ev: NoteAdded, cmd: Command, author: UserRef): Promise<string> {
  const { project, iid } = ev;
  const say = (text: string, extra: Record<string, unknown> = {}) =>
    d.gitlab.reply(project.id, iid, ev.discussionId, withMarker(text, { kind: cmd.name === 'help' || cmd.name === 'unknown' ? 'help' : 'reply', command: cmd.name, re: ev.noteId, ...extra }));
  const need = COMMAND_ACCESS[cmd.name];
  if (!(await permitted(d, project.id, iid, author.id, need))) {
    await say(refusalText(d.bot.username, spokenCommand(cmd), need, await d.access.level(project.id, author.id)), { refused: 'access' });
    d.log.info({ project: project.path, iid, command: cmd.name, user: author.username }, 'command refused: access level');
    return 'refused';
  }
  switch (cmd.name) {
    case 'review': {
      const mr = await d.gitlab.mergeRequest(project.id, iid);
      const event: ReviewRequested = {
        kind: 'review', reason: 'command', project, iid, title: mr.title, headSha: mr.sha, sourceBranch: mr.sourceBranch,
        targetBranch: mr.targetBranch, draft: mr.draft, state: mr.state, actor: author,
      };
      await d.enqueue({ kind: 'review', orderKey: lane.mr(project.id, iid), dedupeKeys: [dedupeKey.command(ev.noteId)], data: event });
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
    case 'fix':
    case 'apply': {
      const done = cmd.name === 'fix' ? await planFix(d, ev, author) : await applyFix(d, ev, author);
      d.log.info({ project: project.path, iid, command: cmd.name, outcome: done }, 'command handled');
      return done === 'refused' ? 'refused' : cmd.name;
    }
    case 'help':
      await say(helpText(d.bot.username));
      break;
    case 'unknown':
      await say(helpText(d.bot.username, cmd.word));
      break;
    case 'learnings':
    case 'learn':
    case 'unlearn':
      await runLearningCommand(d, ev, cmd, author, say);
      break;
  }
  d.log.info({ project: project.path, iid, command: cmd.name }, 'command handled');
  return cmd.name;
}

/** The role first (cached); the MR is fetched only when being its author could still make the difference. */
async function permitted(d: Deps, pid: number, iid: number, userId: number, need: Requirement): Promise<boolean> {
  if (await d.access.meets(pid, userId, need === 'developer_or_author' ? 'developer' : need)) return true;
  if (need !== 'developer_or_author') return false;
  const mr = await d.gitlab.mergeRequest(pid, iid);
  return d.access.meets(pid, userId, need, mr.author.id);
}

/**
 * GitLab's quick actions and mentions in note bodies, as Notes::CreateService / Notes::UpdateService run them.
 *
 * Copied from gitlab-org/gitlab `lib/gitlab/quick_actions/extractor.rb` (16.x–19.x) and
 * `lib/banzai/filter/quick_action_filter.rb`:
 * - `content.delete!("\r")` first.
 * - Banzai's QuickActionPipeline renders the Markdown and keeps only TOP-LEVEL `<p>` nodes (direct children of the
 *   document) whose text has a line starting with `/`; their source lines (sourcepos) are the only candidates. So
 *   fenced code, indented code, `>` and `>>>` block quotes, HTML blocks (HTML comments too), lists, headings and
 *   tables never run. `blockParagraphs` below is a small CommonMark block scanner for exactly that question.
 * - In a candidate paragraph (plus one following blank line), `commands_regex` with flags `mix`:
 *   EXCLUSION = `` `.+?` `` (inline code, may span lines) | `^<[^>]+?>\n.+?\n<\/[^>]+?>$` (HTML block), else
 *   `^\/(?<cmd>names)(?:[ ](?<arg>[^\n]*))?(?:\s*\n|$)`, names case-insensitive. A match is removed from the body.
 * - A note that is only commands is not saved (create: API answers 202) or is deleted (update).
 * Mentions: GitLab's UserReferenceFilter runs on rendered text outside code; `@all`/`@here` notify every member.
 */
import type { MrRec } from './model.js';

/** Commands the stand-in executes (GitLab's names and aliases for the ones that change an MR). */
export const COMMANDS = [
  'merge', 'approve', 'unapprove', 'close', 'reopen', 'label', 'labels', 'unlabel', 'remove_label', 'relabel',
  'assign', 'unassign', 'reassign', 'assign_reviewer', 'reviewer', 'request_review', 'unassign_reviewer', 'remove_reviewer',
  'submit_review', 'lock', 'unlock', 'spend', 'spent', 'spend_time', 'draft', 'wip', 'ready', 'title', 'milestone',
  'due', 'estimate', 'rebase', 'target_branch', 'todo', 'done', 'subscribe', 'unsubscribe', 'award', 'react', 'copy_metadata',
  'shrug', 'tableflip',
];

export interface ExecutedCommand { noteId: number; userId: number; command: string; arg?: string }
export interface Notification { noteId: number; userId: number; mention: string; kind: 'all' | 'here' | 'user' | 'group' }

const HTML_START = new RegExp('^ {0,3}<(?:(pre|script|style|textarea)(?:\\s|>|$)|(!--)|(\\?)|(!\\[CDATA\\[)|(![A-Za-z])|\\/?(?:address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul)(?:\\s|\\/?>|$))', 'i');
const HTML_TAG_LINE = /^ {0,3}()()()()()<\/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?\/?>\s*$/;

/** Lines (0-based, inclusive) of each top-level paragraph that has a line starting with `/`. */
export function candidateParagraphs(lines: string[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let para: { start: number; end: number } | undefined;
  const endPara = () => {
    if (para && lines.slice(para.start, para.end + 1).some((l) => l.startsWith('/'))) out.push(para);
    para = undefined;
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (fence && !(fence[1][0] === '`' && fence[2].includes('`'))) {
      endPara();
      const [ch, len] = [fence[1][0], fence[1].length];
      i++;
      while (i < lines.length) {
        const c = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(lines[i]);
        i++;
        if (c && c[1][0] === ch && c[1].length >= len) break;
      }
      continue;
    }
    if (/^>>>/.test(line)) { // GitLab's multi-line block quote, closed by a line of at least as many `>`
      endPara();
      const n = /^>+/.exec(line)![0].length;
      i++;
      while (i < lines.length && !new RegExp(`^>{${n},}\\s*$`).test(lines[i])) i++;
      i++;
      continue;
    }
    // HTML blocks (CommonMark types 1–7); type 7 (any other lone tag) cannot interrupt a paragraph
    const html = HTML_START.exec(line) ?? (para ? null : HTML_TAG_LINE.exec(line));
    if (html) {
      endPara();
      const end = html[1] ? new RegExp(`</${html[1]}>`, 'i') : html[2] ? /-->/ : html[3] ? /\?>/ : html[4] ? /\]\]>/ : html[5] ? />/ : undefined;
      if (end) { while (i < lines.length && !end.test(lines[i])) i++; i++; }
      else { while (i < lines.length && lines[i].trim() !== '') i++; }
      continue;
    }
    if (line.trim() === '') { endPara(); i++; continue; }
    if (!para && /^( {4}|\t)/.test(line)) { i++; continue; } // indented code
    const container = /^ {0,3}(>|[-+*](\s|$)|\d{1,9}[.)](\s|$))/.test(line);
    const leaf = /^ {0,3}(#{1,6}(\s|$)|([-*_])(\s*\3){2,}\s*$)/.test(line) || /^\s*\|/.test(line);
    if (container || leaf) {
      // a block quote or list (with its lazy continuation lines) is no top-level paragraph; nor a heading or table
      endPara();
      i++;
      if (container) while (i < lines.length && lines[i].trim() !== '' && !/^ {0,3}(`{3,}|~{3,}|<|>>>)/.test(lines[i])) i++;
      continue;
    }
    if (para) para.end = i;
    else para = { start: i, end: i };
    i++;
  }
  endPara();
  return out;
}

/** `extract_commands`: the body GitLab stores, and the commands it runs. */
export function extractCommands(body: string): { content: string; commands: [string, string?][] } {
  const text = body.replace(/\r/g, '');
  const names = COMMANDS.join('|');
  const re = new RegExp(`(\`[\\s\\S]+?\`)|(^<[^>]+?>\\n[\\s\\S]+?\\n<\\/[^>]+?>$)|^\\/(${names})(?: ([^\\n]*))?(?:\\s*\\n|$)`, 'gim');
  const commands: [string, string?][] = [];
  const lines: string[] = text.match(/[^\n]*\n|[^\n]+$/g) ?? []; // Ruby's String#lines: each keeps its "\n"
  for (const p of candidateParagraphs(text.split('\n'))) {
    const end = lines[p.end + 1] === '\n' ? p.end + 1 : p.end;
    const para = lines.slice(p.start, end + 1).join('').replace(re, (m, code?: string, htmlBlock?: string, cmd?: string, arg?: string) => {
      if (code !== undefined || htmlBlock !== undefined || !cmd) return m;
      commands.push(arg?.trim() ? [cmd.toLowerCase(), arg] : [cmd.toLowerCase()]);
      return '';
    });
    lines.fill('', p.start, end + 1);
    lines[p.start] = para;
  }
  const content = lines.join('').replace(/\s+$/, ''); // rstrip
  return { content, commands };
}

/** Mentions GitLab would notify: outside fenced code and inline code spans. */
export function extractMentions(body: string): string[] {
  const lines = body.replace(/\r/g, '').split('\n');
  const kept: string[] = [];
  let fence: { ch: string; len: number } | undefined;
  for (const l of lines) {
    const f = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(l);
    if (fence) { if (f && f[1][0] === fence.ch && f[1].length >= fence.len && f[2].trim() === '') fence = undefined; continue; }
    if (f && !(f[1][0] === '`' && f[2].includes('`'))) { fence = { ch: f[1][0], len: f[1].length }; continue; }
    if (/^( {4}|\t)/.test(l)) continue;
    kept.push(l);
  }
  const text = kept.join('\n').replace(/(`+)[\s\S]*?\1/g, ' ');
  return [...text.matchAll(/(?<![A-Za-z0-9_])@([A-Za-z0-9_][A-Za-z0-9_.\-/]*[A-Za-z0-9_])/g)].map((m) => m[1]);
}

/** Run `commands` on the MR as user `userId` (what QuickActions::InterpretService + apply_updates change). */
export function applyCommands(mr: MrRec, userId: number, noteId: number, commands: [string, string?][], userByName: (n: string) => number | undefined): void {
  const now = new Date().toISOString();
  const users = (arg = '') => [...arg.matchAll(/@([\w.-]+)/g)].map((m) => userByName(m[1])).filter((x): x is number => x !== undefined);
  const labels = (arg = '') => [...arg.matchAll(/~(?:"([^"]+)"|([^\s~]+))/g)].map((m) => m[1] ?? m[2]);
  for (const [command, arg] of commands) {
    mr.executed.push({ noteId, userId, command, arg });
    switch (command) {
      case 'merge': if (mr.state === 'opened') Object.assign(mr, { state: 'merged', mergedAt: now, mergedById: userId }); break;
      case 'close': if (mr.state === 'opened') Object.assign(mr, { state: 'closed', closedAt: now, closedById: userId }); break;
      case 'reopen': if (mr.state === 'closed') Object.assign(mr, { state: 'opened', closedAt: null, closedById: null }); break;
      case 'approve': if (!mr.approvedBy.includes(userId)) mr.approvedBy.push(userId); break;
      case 'unapprove': mr.approvedBy = mr.approvedBy.filter((u) => u !== userId); break;
      case 'label': case 'labels': for (const l of labels(arg)) if (!mr.labels.includes(l)) mr.labels.push(l); break;
      case 'relabel': mr.labels = labels(arg); break;
      case 'unlabel': case 'remove_label': { const rm = labels(arg); mr.labels = rm.length ? mr.labels.filter((l) => !rm.includes(l)) : []; break; }
      case 'assign': for (const u of users(arg).length ? users(arg) : [userId]) if (!mr.assignees.includes(u)) mr.assignees.push(u); break;
      case 'reassign': mr.assignees = users(arg); break;
      case 'unassign': { const rm = users(arg); mr.assignees = rm.length ? mr.assignees.filter((u) => !rm.includes(u)) : []; break; }
      case 'assign_reviewer': case 'reviewer': case 'request_review': for (const u of users(arg)) if (!mr.reviewers.includes(u)) mr.reviewers.push(u); break;
      case 'unassign_reviewer': case 'remove_reviewer': mr.reviewers = []; break;
      case 'lock': mr.discussionLocked = true; break;
      case 'unlock': mr.discussionLocked = false; break;
      case 'draft': case 'wip': if (!/^\s*draft:/i.test(mr.title)) mr.title = `Draft: ${mr.title}`; break;
      case 'ready': mr.title = mr.title.replace(/^\s*(\[draft\]|\(draft\)|draft:|draft\s-\s|\[wip\]|wip:)\s*/i, ''); break;
      case 'title': if (arg?.trim()) mr.title = arg.trim(); break;
      default: break; // recorded in `executed`; no state the stand-in models
    }
  }
  mr.updatedAt = now;
}

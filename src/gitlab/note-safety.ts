// Makes model text safe to post as the bot: nothing in it runs, notifies or leaks. Pure; GitLabClient applies it
// to every body it posts or edits.
//
// GitLab runs a quick action when a line of a TOP-LEVEL paragraph matches `^\/(cmd)(?: arg)?` after "\r" is removed
// (gitlab-org/gitlab lib/gitlab/quick_actions/extractor.rb, lib/banzai/filter/quick_action_filter.rb). Outside fenced
// code every line starting with `/` becomes `\/`: CommonMark renders `\/` as `/`, and the extractor's `^\/` no longer
// matches. Fenced code stays verbatim; for that to be safe the bot's idea of "inside a fence" must be GitLab's:
// - every fence line is moved to column 0, where no list or block quote can hold it (fences are never lazy
//   continuation lines), so a fence the bot sees is a top-level fence to GitLab;
// - `<!--` (anywhere), HTML blocks that end at a marker and `>>>` block quotes are escaped, and a fence line in an
//   HTML block that ends at a blank line (the bot's own `<details>`) is escaped, so no HTML can hide a fence line
//   from GitLab (nor hide text, nor forge the bot's marker);
// - a fence the model left open is closed before the bot's marker.
// Mentions: GitLab notifies `@name` found in rendered text; a zero-width space after `@` stops it in every context
// (a backslash would not: `\@all` renders as `@all`). Secrets and token shapes are redacted (src/redact.ts).
import { makeRedactor, type Redactor } from '../redact.js';

export const MAX_NOTE = 1_000_000;
const CUT = '\n\n_[… cut: the reply was longer than GitLab allows]_';
const ZWSP = '\u200b';
const MARKER_AT_END = /\n*<!--\s*mr-reviewer\s+\{[^\n]*\}\s*-->\s*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
/** HTML blocks that end only at a marker (comments, `<?`, `<!X`, CDATA, pre/script/style/textarea): escaped */
const HTML_UNTIL_MARKER = /^( {0,3})<(?=[!?]|(?:pre|script|style|textarea)(?:[\s>]|$))/i;
/** HTML blocks that end at a blank line (`<details>`, a lone tag, …): kept, their lines watched */
const HTML_BLOCK = /^ {0,3}<\/?[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$)/;
const MENTION = /(?<![A-Za-z0-9_])@([A-Za-z0-9_][A-Za-z0-9_.\-/]*)/g;

export interface NoteSafetyOptions {
  redact?: Redactor;
  /** usernames the bot mentions on purpose (case-insensitive); every other `@name` is neutralised */
  mentions?: readonly string[];
  maxLength?: number;
}

/** The body GitLab should store: model text neutralised and redacted, the bot's trailing marker intact. */
export function safeNoteBody(body: string, o: NoteSafetyOptions = {}): string {
  const max = o.maxLength ?? MAX_NOTE;
  const { text, marker } = splitMarker(body.replace(/\r/g, ''));
  const allow = new Set((o.mentions ?? []).map((m) => m.toLowerCase()));
  const redact = o.redact ?? makeRedactor([]);
  let n = neutralise(redact(text), allow);
  let cut = '';
  const room = max - marker.length - CUT.length - (n.close.length + 1);
  if (n.text.length + n.close.length + 1 + marker.length > max) {
    let end = Math.max(0, room);
    if (/[\uD800-\uDBFF]/.test(n.text.charAt(end - 1))) end--; // never half a surrogate pair
    n = neutralise(n.text.slice(0, end), allow); // idempotent: only the open fence can change
    cut = CUT;
  }
  return `${n.text}${n.close ? `\n${n.close}` : ''}${cut}${marker}`;
}

function splitMarker(body: string): { text: string; marker: string } {
  const m = MARKER_AT_END.exec(body);
  return m ? { text: body.slice(0, m.index), marker: `\n\n${m[0].trim()}` } : { text: body, marker: '' };
}

/** Line by line; `close` is the fence line that closes a block the text left open ('' if none). */
export function neutralise(text: string, allow: ReadonlySet<string> = new Set()): { text: string; close: string } {
  const out: string[] = [];
  let fence: { ch: string; len: number } | undefined;
  let html = false;
  for (const line of text.split('\n')) {
    const f = FENCE.exec(line);
    if (fence) {
      const closes = f && f[1][0] === fence.ch && f[1].length >= fence.len && /^[ \t]*$/.test(f[2]);
      out.push(closes ? line.trimStart() : line);
      if (closes) fence = undefined;
      continue;
    }
    if (html && line.trim() === '') html = false;
    if (html) {
      // Raw HTML (ends at a blank line). The bot may see a block GitLab does not (a lone tag cannot interrupt a
      // paragraph): a fence line in it is escaped, so it is no fence to GitLab either.
      out.push(outsideCode(line.replace(/^( {0,3})([`~]{3})/, '$1\\$2'), allow));
      continue;
    }
    if (f && !(f[1][0] === '`' && f[2].includes('`'))) {
      fence = { ch: f[1][0], len: f[1].length };
      out.push(line.trimStart());
      continue;
    }
    html = HTML_BLOCK.test(line);
    out.push(outsideCode(line, allow));
  }
  return { text: out.join('\n'), close: fence ? fence.ch.repeat(fence.len) : '' };
}

function outsideCode(line: string, allow: ReadonlySet<string>): string {
  const l = line
    .replace(/^\//, '\\/')
    .replace(/^( {0,3})>>>/, '$1\\>>>')
    .replace(HTML_UNTIL_MARKER, '$1\\<')
    .replace(/<!--/g, '<\\!--');
  // links are left whole: GitLab finds no mentions inside them, and a changed URL would break
  return l
    .split(/(https?:\/\/[^\s<>()]+)/)
    .map((part, i) => (i % 2 ? part : part.replace(MENTION, (m, name: string) => (allow.has(name.replace(/[.\-/]+$/, '').toLowerCase()) ? m : `@${ZWSP}${name}`))))
    .join('');
}

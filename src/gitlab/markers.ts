// Hidden markers the bot appends to every note it writes, and finding fingerprints. Pure.
import { createHash } from 'node:crypto';
import { normalizeCodeLine } from './diff.js';

export const MARKER_KINDS = ['summary', 'finding', 'reply', 'failure', 'config-error', 'fixed', 'help'] as const;

export interface Marker {
  kind: 'summary' | 'finding' | 'reply' | 'failure' | 'config-error' | 'fixed' | 'help';
  fp?: string;
  /** what a reply, answer or failure note answers (a note id, a job id): with `fp` and `kind`, it makes every
   * post's marker unique, so a post GitLab saved before failing can be found and adopted instead of repeated */
  re?: number | string;
  [k: string]: unknown;
}

const TAG = 'mr-reviewer';

/**
 * Append `\n\n<!-- mr-reviewer {json} -->`. `<` and `>` inside the JSON are written as \u003c/\u003e
 * so no value can close the HTML comment early.
 */
export function withMarker(body: string, marker: Marker): string {
  const json = JSON.stringify(marker).replace(/</g, '\\u003c').replace(/>/g, '\\u003e');
  return `${body.replace(/\s+$/, '')}\n\n<!-- ${TAG} ${json} -->`;
}

const MARKER_RE = /<!--\s*mr-reviewer\s+(\{[\s\S]*?\})\s*-->/g;

/**
 * Read the bot's marker from a note body. Tolerant of extra whitespace/newlines and CRLF.
 * Decision: markers inside fenced code blocks (``` or ~~~, including an unclosed fence, which
 * CommonMark runs to the end), indented lines that are code or block quotes (`>`) are ignored, so a
 * user quoting or pasting a bot note is not mistaken for one. The last valid marker wins. A marker
 * is not proof of authorship: callers must still check the note's author is the bot.
 */
export function readMarker(body: string): Marker | undefined {
  if (!body || !body.includes(TAG)) return undefined;
  const visible = stripCodeAndQuotes(body.replace(/\r\n?/g, '\n'));
  let found: Marker | undefined;
  for (const m of visible.matchAll(MARKER_RE)) {
    try {
      const v: unknown = JSON.parse(m[1]);
      if (
        v &&
        typeof v === 'object' &&
        !Array.isArray(v) &&
        (MARKER_KINDS as readonly string[]).includes((v as { kind?: unknown }).kind as string) &&
        ((v as { fp?: unknown }).fp === undefined || typeof (v as { fp?: unknown }).fp === 'string')
      ) {
        found = v as Marker;
      }
    } catch {
      // not ours / damaged: ignore
    }
  }
  return found;
}

/** Replace fenced code blocks, block quotes and indented code with blank lines. */
function stripCodeAndQuotes(text: string): string {
  const out: string[] = [];
  let fence: { ch: string; len: number } | undefined;
  let prevBlank = true;
  for (const line of text.split('\n')) {
    if (fence) {
      const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line);
      if (close && close[1][0] === fence.ch && close[1].length >= fence.len) fence = undefined;
      out.push('');
      prevBlank = false;
      continue;
    }
    const open = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (open && !(open[1][0] === '`' && open[2].includes('`'))) { // CommonMark: no backtick after a backtick fence
      fence = { ch: open[1][0], len: open[1].length };
      out.push('');
      prevBlank = false;
      continue;
    }
    const isBlank = line.trim() === '';
    if (/^ {0,3}>/.test(line) || (prevBlank && /^( {4}|\t)/.test(line) && !isBlank)) {
      out.push('');
      // an indented code block continues while lines stay indented
      prevBlank = /^( {4}|\t)/.test(line);
      continue;
    }
    out.push(line);
    prevBlank = isBlank;
  }
  return out.join('\n');
}

/** A short stable id for a text (dedupe keys, marker fingerprints). */
export function shortHash(s: string, length = 12): string {
  return createHash('sha1').update(s).digest('hex').slice(0, length);
}

/**
 * Stable short hash (16 hex) of file + normalised anchor text + category. Line numbers are left
 * out so it survives pushes that shift lines. The title is used only when the anchor text is empty.
 */
export function findingFingerprint(f: { file: string; anchor_text: string; category: string; title?: string }): string {
  const file = f.file.trim().replace(/^(\.\/)+/, '').replace(/^\/+/, '');
  const anchor = normalizeCodeLine(f.anchor_text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '');
  const extra = anchor === '' ? `title:${normalizeCodeLine(f.title ?? '').toLowerCase()}` : anchor;
  return shortHash(`${file}\0${extra}\0${f.category}`, 16);
}

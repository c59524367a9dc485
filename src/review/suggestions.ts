// Suggestions that apply cleanly. GitLab's `suggestion:-a+b` block replaces whole lines as written, so a
// suggestion with copied line numbers or diff markers, the wrong indentation, or no change at all would be applied
// verbatim by "Apply suggestion" and break the file. Such suggestions are dropped before posting. Pure.
import { normalizeCodeLine } from '../gitlab/diff.js';

const indentOf = (s: string) => /^[ \t]*/.exec(s)![0];
const nonBlank = (xs: string[]) => xs.filter((l) => l.trim() !== '');

/** A line as the diff render or the Read tool shows it: `12 +  code`, `12:  code`, `12 | code`, `    12\tcode`, `12→code`. */
const NUMBERED = /^\s*\d+(?:\s*[:|→\t]|\s+[+\- ])/;
/** A diff line: `+code`, `-code` (not `++i`, `--x`, `-1`, `+=`), or a hunk header. */
const DIFF_MARKED = /^(?:[+-](?![+\-=\d])|@@ )/;

/** The suggestion's text as GitLab will insert it: CRLF folded, one trailing newline dropped. */
export function suggestionLines(text: string): string[] {
  return text.replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n');
}

/**
 * Why a suggestion would not apply cleanly over `current` (the lines it replaces, as the file has them at the
 * reviewed commit), or undefined when it is fine. Unknown current lines (a general thread, a removed line) fail:
 * nothing can be checked, and GitLab cannot apply a suggestion there anyway.
 */
export function suggestionProblem(text: string, current: string[] | undefined): string | undefined {
  if (!current || current.length === 0) return 'the lines it would replace are not known';
  const lines = suggestionLines(text);
  const body = nonBlank(lines);
  const cur = nonBlank(current);
  // An empty suggestion deletes the lines: fine, unless they are blank already.
  if (body.length === 0) return cur.length ? undefined : 'changes nothing';
  if (body.every((l) => NUMBERED.test(l)) && !cur.every((l) => NUMBERED.test(l))) return 'carries copied line numbers';
  if (body.some((l) => DIFF_MARKED.test(l)) && !cur.some((l) => DIFF_MARKED.test(l))) return 'carries diff markers (+/-)';
  if (lines.map(normalizeCodeLine).join('\n').trim() === current.map(normalizeCodeLine).join('\n').trim()) return 'changes nothing';
  if (cur.length > 0) {
    const want = indentOf(cur[0]!);
    if (indentOf(body[0]!) !== want) return `does not keep the indentation (${JSON.stringify(want)}) of the lines it replaces`;
    const usesTabs = cur.some((l) => indentOf(l).includes('\t'));
    const usesSpaces = cur.some((l) => indentOf(l).includes(' '));
    if (usesTabs && !usesSpaces && body.some((l) => indentOf(l).includes(' '))) return 'indents with spaces where the file uses tabs';
    if (usesSpaces && !usesTabs && body.some((l) => indentOf(l).includes('\t'))) return 'indents with tabs where the file uses spaces';
  }
  return undefined;
}

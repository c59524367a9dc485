// A thread answer that is a code change may carry a GitLab suggestion block for the thread's line,
// checked like a finding's: whole lines, the file's indentation, no copied numbers or diff markers, a real change.
import { suggestionFence } from '../review/format.js';
import { suggestionProblem } from '../review/suggestions.js';
import type { DiscussionInfo } from '../gitlab/types.js';
import type { Deps } from './deps.js';

/** The block to append to the reply, or '' (no suggestion, a thread not on a new-side line, or a bad suggestion). */
export async function replySuggestion(d: Deps, pid: number, sha: string, disc: DiscussionInfo, suggestion: string | null | undefined): Promise<string> {
  if (typeof suggestion !== 'string' || !suggestion.trim()) return '';
  const pos = disc.notes[0]?.position;
  const file = pos?.new_path;
  const line = pos?.new_line;
  if (!file || !line) return '';
  const text = (await d.workspaces.readManyAt(pid, sha, [file])).get(file);
  const current = text?.replace(/\r\n?/g, '\n').split('\n')[line - 1];
  const problem = suggestionProblem(suggestion, current === undefined ? undefined : [current]);
  if (problem) {
    d.log.info({ file, line, why: problem }, 'reply suggestion dropped');
    return '';
  }
  return suggestionFence(suggestion, 0);
}

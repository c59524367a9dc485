// A Note Hook says which note to look at; the API says what it is. The reply flow answers the note GitLab has:
// its author, its body and the mentions in that body, never the payload's copies of them.
import { findMentions } from '../events/classify.js';
import type { NoteAdded } from '../events/types.js';
import type { DiscussionInfo } from '../gitlab/types.js';

export type TrustedNote = { ev: NoteAdded } | { skip: string };

export function noteFromApi(claimed: NoteAdded, disc: DiscussionInfo, bot: { id: number; username: string }): TrustedNote {
  const note = disc.notes.find((n) => n.id === claimed.noteId);
  if (!note) return { skip: 'the note is not in the discussion the hook names' };
  if (note.system) return { skip: 'system note' };
  if (note.author.id === bot.id) return { skip: 'own note' };
  if (note.author.id !== claimed.author.id) return { skip: `the hook names author ${claimed.author.id}, GitLab says ${note.author.id}` };
  const mentions = findMentions(note.body, bot.username);
  if (note.body.trim() === '') return { skip: 'empty note' };
  return {
    ev: {
      ...claimed,
      body: note.body,
      author: { id: note.author.id, username: note.author.username },
      noteType: note.type === 'DiffNote' ? 'DiffNote' : note.type ? 'DiscussionNote' : null,
      position: note.position ?? null,
      mentionsBot: mentions.bot,
      mentionsOthers: mentions.others,
    },
  };
}

// Zod schemas for the GitLab webhook payloads the bot handles (Merge Request Hook, Note Hook,
// Confidential Note Hook). Sources: GitLab's doc/user/project/integrations/webhook_events.md,
// lib/gitlab/hook_data/note_builder.rb and merge_request_builder.rb.
//
// Lenient where GitLab is: every object is loose (unknown keys pass through), fields that come
// and go across GitLab versions are optional/nullable. Strict where the bot depends on a field:
// ids are integers, strings are strings, and `object_kind` must match the header.
// Key order matters: the first issue zod reports is the one named in the 400 message, so
// `object_kind` comes first.

import { z } from 'zod';

const id = z.number().int();
const nullableString = z.string().nullish();

export const userSchema = z.looseObject({
  id,
  username: z.string(),
  name: nullableString,
});

// Only the id is used to look the project up in the API; its URLs are not read at all (anyone with the hook's
// secret can write them), and path_with_namespace only labels log lines until the API answers.
export const projectSchema = z.looseObject({
  id,
  path_with_namespace: z.string(),
  web_url: nullableString,
});

/** `last_commit` of an MR; null when the MR has no diff head (e.g. deleted source branch). */
export const lastCommitSchema = z.looseObject({
  id: z.string(),
  message: nullableString,
  title: nullableString,
  url: nullableString,
});

/** One entry of the MR hook's `changes` object. */
const change = <T extends z.ZodType>(t: T) =>
  z.looseObject({ previous: t.nullish(), current: t.nullish() });

export const mrChangesSchema = z.looseObject({
  /** present on the draft→ready (or ready→draft) transition in current GitLab */
  draft: change(z.boolean()).optional(),
  /** older GitLab versions */
  work_in_progress: change(z.boolean()).optional(),
  title: change(z.string()).optional(),
});

export const mergeRequestAttributesSchema = z.looseObject({
  id,
  iid: id,
  title: z.string(),
  state: z.string(),
  /** open | close | reopen | update | approved | unapproved | approval | unapproval | merge */
  action: z.string(),
  source_branch: z.string(),
  target_branch: z.string(),
  source_project_id: id.nullish(),
  target_project_id: id.nullish(),
  /** only present when code changed (push, applied suggestion) */
  oldrev: nullableString,
  draft: z.boolean().nullish(),
  work_in_progress: z.boolean().nullish(),
  last_commit: lastCommitSchema.nullish(),
  url: nullableString,
  description: nullableString,
});

export const mergeRequestHookSchema = z.looseObject({
  object_kind: z.literal('merge_request'),
  event_type: nullableString,
  user: userSchema,
  project: projectSchema,
  object_attributes: mergeRequestAttributesSchema,
  // `changes` may be empty or (in odd cases) absent; treat both as "nothing changed".
  changes: mrChangesSchema.nullish(),
});

/** A diff position as serialised by Gitlab::Diff::Position (text or image). */
export const notePositionSchema = z.looseObject({
  base_sha: nullableString,
  start_sha: nullableString,
  head_sha: nullableString,
  old_path: nullableString,
  new_path: nullableString,
  position_type: nullableString,
  old_line: z.number().int().nullish(),
  new_line: z.number().int().nullish(),
});

export const noteAttributesSchema = z.looseObject({
  id,
  note: z.string(),
  /** MergeRequest | Issue | Commit | Snippet | … */
  noteable_type: z.string(),
  noteable_id: id.nullish(),
  author_id: id.nullish(),
  system: z.boolean().nullish(),
  internal: z.boolean().nullish(),
  /** always sent by real GitLab (NoteBuilder::SAFE_HOOK_ATTRIBUTES); missing from the doc examples */
  discussion_id: nullableString,
  /** null (plain comment) | 'DiscussionNote' | 'DiffNote' | 'LegacyDiffNote' */
  type: nullableString,
  // A malformed position must not cost a reply: fall back to null.
  position: notePositionSchema.nullish().catch(null),
  /** create | update (GitLab 16.11+); absent before */
  action: nullableString,
  url: nullableString,
});

export const noteMergeRequestSchema = z.looseObject({
  id: id.nullish(),
  iid: id,
  title: z.string(),
  state: z.string(),
  source_branch: nullableString,
  target_branch: nullableString,
  draft: z.boolean().nullish(),
  work_in_progress: z.boolean().nullish(),
  last_commit: lastCommitSchema.nullish(),
  url: nullableString,
});

export const noteHookSchema = z
  .looseObject({
    object_kind: z.literal('note'),
    event_type: nullableString,
    user: userSchema,
    project: projectSchema,
    object_attributes: noteAttributesSchema,
    merge_request: noteMergeRequestSchema.nullish(),
  })
  .superRefine((p, ctx) => {
    // Fields the bot needs only for notes on merge requests.
    if (p.object_attributes.noteable_type !== 'MergeRequest') return;
    if (p.merge_request == null) {
      ctx.addIssue({ code: 'custom', path: ['merge_request'], message: 'expected object for a MergeRequest note' });
    }
    if (!p.object_attributes.discussion_id) {
      ctx.addIssue({
        code: 'custom',
        path: ['object_attributes', 'discussion_id'],
        message: 'expected string for a MergeRequest note',
      });
    }
  });

export type MergeRequestHook = z.infer<typeof mergeRequestHookSchema>;
export type NoteHook = z.infer<typeof noteHookSchema>;
export type NotePositionPayload = z.infer<typeof notePositionSchema>;

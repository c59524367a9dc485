// One output schema for every turn of an MR's sessions (review, push update, thread reply, fix check).
// Why one: the CLI sends tools, then system, then messages, and a provider's prompt cache only matches an
// identical beginning. With a per-turn schema the StructuredOutput tool differs between the trunk and its forks,
// so nothing of the trunk's conversation could be served from cache (bench/context-reuse.ts measured 0%).
// Each turn's prompt says which fields to fill; the flows check them with zod after the call.
import { REVIEW_SCHEMA } from './findings.js';
import { FIX_CHECK_SCHEMA } from './prompts.js';
import { REPLY_SCHEMA } from './thread.js';

export const TURN_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    ...REVIEW_SCHEMA.properties,
    ...REPLY_SCHEMA.properties,
    ...FIX_CHECK_SCHEMA.properties,
  },
} as const;

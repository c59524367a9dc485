// Turning what `claude -p --output-format json` printed (one JSON object, is_error and subtype telling failures
// apart) into a typed result or a typed error.

export interface ClaudeUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export interface ClaudeResult {
  sessionId: string;
  text: string;
  structured?: unknown;
  costUsd: number;
  usage: ClaudeUsage;
  numTurns: number;
  durationMs: number;
  permissionDenials: { tool_name: string; tool_input?: unknown }[];
  /** the model as the CLI names it, e.g. "claude-opus-4-8[1m]" (the first key of modelUsage) */
  model?: string;
}

export type ClaudeErrorKind =
  | 'api' // the Messages API answered an error
  | 'budget' // --max-budget-usd reached
  | 'max_turns'
  | 'schema' // no valid structured output
  | 'session_missing' // "No conversation found with session ID"
  | 'session_in_use'
  | 'timeout'
  | 'killed'
  | 'crash'; // non-zero exit without anything we understand

export class ClaudeError extends Error {
  override name = 'ClaudeError';
  constructor(
    readonly kind: ClaudeErrorKind,
    message: string,
    readonly details: { status?: number; exitCode?: number; stderr?: string; costUsd?: number; sessionId?: string } = {},
  ) {
    super(message);
  }

  /** Worth another try later: overloads, 5xx, 429, timeouts, signals, crashes, a busy session. 4xx, budget and missing sessions are not. */
  get transient(): boolean {
    switch (this.kind) {
      case 'api': {
        const s = this.details.status ?? 0;
        return s === 0 || s === 408 || s === 409 || s === 429 || s >= 500;
      }
      case 'timeout':
      case 'killed':
      case 'session_in_use':
      case 'crash':
      case 'schema':
        return true;
      default:
        return false;
    }
  }
}

interface RawResult {
  type?: string;
  subtype?: string;
  is_error?: boolean;
  api_error_status?: number | null;
  result?: string;
  errors?: string[];
  session_id?: string;
  structured_output?: unknown;
  total_cost_usd?: number;
  usage?: ClaudeUsage;
  num_turns?: number;
  duration_ms?: number;
  permission_denials?: { tool_name: string; tool_input?: unknown }[];
  modelUsage?: Record<string, unknown>;
}

function lastResultObject(stdout: string): RawResult | undefined {
  const trimmed = stdout.trim();
  if (!trimmed) return undefined;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    // --verbose turns the output into an array ending with the result.
    const obj = Array.isArray(parsed) ? parsed.findLast((x) => x && x.type === 'result') : parsed;
    return obj && typeof obj === 'object' ? (obj as RawResult) : undefined;
  } catch {
    // stream-json or noise before the JSON: take the last line that parses as a result
    for (const line of trimmed.split('\n').reverse()) {
      try {
        const o = JSON.parse(line);
        if (o?.type === 'result') return o as RawResult;
      } catch {
        /* keep looking */
      }
    }
    return undefined;
  }
}

export interface ProcessOutcome {
  stdout: string;
  stderr: string;
  exitCode?: number;
  signal?: string;
  timedOut: boolean;
  wantStructured: boolean;
}

export function interpret(p: ProcessOutcome): ClaudeResult {
  const stderr = p.stderr.trim();
  if (p.timedOut) throw new ClaudeError('timeout', 'claude timed out', { stderr });
  const raw = lastResultObject(p.stdout);
  if (!raw) {
    if (/No conversation found with session ID/i.test(stderr)) {
      throw new ClaudeError('session_missing', firstLine(stderr), { stderr, exitCode: p.exitCode });
    }
    if (/already in use/i.test(stderr)) throw new ClaudeError('session_in_use', firstLine(stderr), { stderr });
    if (p.signal) throw new ClaudeError('killed', `claude was killed by ${p.signal}`, { stderr });
    const why = firstLine(stderr) || firstLine(p.stdout) || `exit code ${p.exitCode}`;
    throw new ClaudeError('crash', `claude printed no result: ${why}`, { stderr, exitCode: p.exitCode });
  }
  const details = { exitCode: p.exitCode, costUsd: raw.total_cost_usd, sessionId: raw.session_id, stderr };
  // Errors still say subtype "success": is_error is what counts.
  if (raw.subtype === 'error_max_budget_usd') throw new ClaudeError('budget', raw.errors?.join('; ') || 'budget exceeded', details);
  if (raw.subtype === 'error_max_turns') throw new ClaudeError('max_turns', raw.errors?.join('; ') || 'too many turns', details);
  if (raw.subtype === 'error_max_structured_output_retries') throw new ClaudeError('schema', 'the model did not return valid structured output', details);
  if (raw.is_error || (p.exitCode ?? 0) !== 0 || (raw.subtype && raw.subtype !== 'success')) {
    const msg = raw.result ?? raw.errors?.join('; ') ?? `claude failed (${raw.subtype ?? 'unknown'})`;
    throw new ClaudeError('api', firstLine(msg), { ...details, status: raw.api_error_status ?? undefined });
  }
  if (p.wantStructured && (raw.structured_output === undefined || raw.structured_output === null)) {
    throw new ClaudeError('schema', 'the model answered without the structured output', details);
  }
  return {
    sessionId: raw.session_id ?? '',
    text: raw.result ?? '',
    structured: raw.structured_output,
    costUsd: raw.total_cost_usd ?? 0,
    usage: raw.usage ?? {},
    numTurns: raw.num_turns ?? 0,
    durationMs: raw.duration_ms ?? 0,
    permissionDenials: raw.permission_denials ?? [],
    model: Object.keys(raw.modelUsage ?? {})[0],
  };
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0]?.slice(0, 500) ?? '';
}

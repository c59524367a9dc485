/**
 * A local stand-in for the Anthropic Messages API, for driving the real `claude` CLI in tests.
 *
 * - `POST /v1/messages` (any query string, e.g. `?beta=true`) is recorded and answered from, in order:
 *   the responder (if set and it returns a Reply), the FIFO script queue, the default reply.
 * - Streaming requests (`stream: true`) get Anthropic's SSE event sequence; others get the full message JSON.
 * - `HEAD /` (the CLI's warm-up) and `GET /` get 200; `POST /v1/messages/count_tokens` gets a token count;
 *   everything else gets a 404 in Anthropic's error JSON shape. None of these is recorded.
 *
 * Self-contained: node:http, node:zlib, node:crypto only.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import zlib from 'node:zlib';

export type Reply =
  | { text: string }
  | { toolUse: { name: string; input: unknown; id?: string }; text?: string }
  | { structured: unknown }
  | { error: { status: number; type?: string; message?: string; retryAfter?: number } }
  | { hang: true };

export type Responder = (req: RecordedRequest) => Reply | undefined | Promise<Reply | undefined>;

export interface RecordedRequest {
  method: string;
  /** pathname without the query string, e.g. `/v1/messages` */
  path: string;
  /** raw request URL including the query string, e.g. `/v1/messages?beta=true` */
  url: string;
  headers: Record<string, string>;
  /** parsed JSON body */
  body: any;
  /** all system text blocks joined with "\n" */
  system: string;
  /** body.messages */
  messages: any[];
  /** tool names offered */
  tools: string[];
  /** everything the model saw, flattened to text (system + every message's text, tool_use inputs and tool_result contents) */
  text: string;
  /** the text of the last user message (its text blocks / tool_result contents) */
  lastUserText: string;
  /** the reply that was sent (set once chosen; undefined while held/pending) */
  reply?: Reply;
}

export interface ModelStandin {
  url: string;
  requests: RecordedRequest[];
  /** every HTTP request seen (including HEAD / and unknown paths), as `METHOD url`, in arrival order */
  log: string[];
  script(...replies: Reply[]): void;
  respond(fn: Responder): void;
  setDefault(reply: Reply): void;
  hold(): () => void;
  usage: { input_tokens: number; output_tokens: number };
  /** usage per answer instead of the fixed `usage` (the cost bench meters tokens and prompt-cache hits) */
  meter(fn: ((req: RecordedRequest, reply: Reply) => Usage) | undefined): void;
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

/** What an answer's `usage` reports; cache fields default to 0. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

const DEFAULT_REPLY: Reply = { text: 'OK' };
const DEFAULT_USAGE = { input_tokens: 10, output_tokens: 5 };

/** Absolute path of the `claude` binary installed in this repo. */
export const CLAUDE_BIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../node_modules/.bin/claude',
);

/**
 * Environment for spawning the CLI against the stand-in. HOME is set to `configDir` as well so that
 * nothing from the real home directory leaks in (and nothing is written there).
 */
export function claudeEnv(standin: { url: string }, configDir: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: configDir,
    ANTHROPIC_BASE_URL: standin.url,
    ANTHROPIC_API_KEY: 'sk-test',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    CLAUDE_CONFIG_DIR: configDir,
    CLAUDE_CODE_MAX_RETRIES: '0',
  };
  for (const k of ['LANG', 'TMPDIR'] as const) {
    const v = process.env[k];
    if (v) env[k] = v;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Flattening helpers

function blockText(block: any): string {
  if (block == null) return '';
  if (typeof block === 'string') return block;
  switch (block.type) {
    case 'text':
      return String(block.text ?? '');
    case 'tool_use':
    case 'server_tool_use':
      return JSON.stringify(block.input ?? {});
    case 'tool_result':
      return contentText(block.content);
    case 'thinking':
      return String(block.thinking ?? '');
    default:
      return '';
  }
}

function contentText(content: any): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map(blockText).filter((s) => s !== '').join('\n');
  return blockText(content);
}

function systemText(system: any): string {
  return contentText(system);
}

function toRecorded(req: http.IncomingMessage, body: any): RecordedRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  const url = req.url ?? '/';
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const system = systemText(body?.system);
  const tools: string[] = Array.isArray(body?.tools) ? body.tools.map((t: any) => String(t?.name ?? '')) : [];
  const msgTexts = messages.map((m) => contentText(m?.content)).filter((s) => s !== '');
  const lastUser = [...messages].reverse().find((m) => m?.role === 'user');
  return {
    method: req.method ?? 'GET',
    path: url.split('?')[0] ?? url,
    url,
    headers,
    body,
    system,
    messages,
    tools,
    text: [system, ...msgTexts].filter((s) => s !== '').join('\n'),
    lastUserText: lastUser ? contentText(lastUser.content) : '',
  };
}

// ---------------------------------------------------------------------------------------------
// Response building

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown };

function rid(prefix: string): string {
  return prefix + randomBytes(12).toString('base64url');
}

function blocksFor(reply: Exclude<Reply, { error: unknown } | { hang: true }>): { blocks: Block[]; stop: string } {
  if ('structured' in reply) {
    return {
      blocks: [{ type: 'tool_use', id: rid('toolu_'), name: 'StructuredOutput', input: reply.structured ?? {} }],
      stop: 'tool_use',
    };
  }
  if ('toolUse' in reply) {
    const blocks: Block[] = [];
    if (reply.text) blocks.push({ type: 'text', text: reply.text });
    blocks.push({
      type: 'tool_use',
      id: reply.toolUse.id ?? rid('toolu_'),
      name: reply.toolUse.name,
      input: reply.toolUse.input ?? {},
    });
    return { blocks, stop: 'tool_use' };
  }
  return { blocks: [{ type: 'text', text: reply.text }], stop: 'end_turn' };
}

function chunks(s: string, size: number): string[] {
  if (s.length === 0) return [];
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function usageObj(u: Usage) {
  return {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
    output_tokens: u.output_tokens,
    service_tier: 'standard',
  };
}

function sse(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

function sendJson(res: http.ServerResponse, status: number, obj: unknown, extra: Record<string, string> = {}): void {
  const data = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(data),
    'request-id': rid('req_'),
    ...extra,
  });
  res.end(data);
}

function sendError(res: http.ServerResponse, e: { status: number; type?: string; message?: string; retryAfter?: number }): void {
  const type = e.type ?? ERROR_TYPES[e.status] ?? (e.status >= 500 ? 'api_error' : 'invalid_request_error');
  const extra: Record<string, string> = {};
  if (e.retryAfter !== undefined) extra['retry-after'] = String(e.retryAfter);
  sendJson(res, e.status, { type: 'error', error: { type, message: e.message ?? `${type} (stand-in)` } }, extra);
}

function sendMessage(
  res: http.ServerResponse,
  reply: Exclude<Reply, { error: unknown } | { hang: true }>,
  model: string,
  stream: boolean,
  usage: Usage,
): void {
  const { blocks, stop } = blocksFor(reply);
  const id = rid('msg_');
  if (!stream) {
    sendJson(res, 200, {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: blocks,
      stop_reason: stop,
      stop_sequence: null,
      usage: usageObj(usage),
    });
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'request-id': rid('req_'),
  });
  sse(res, 'message_start', {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usageObj({ ...usage, output_tokens: 1 }),
    },
  });
  blocks.forEach((b, index) => {
    if (b.type === 'text') {
      sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      if (index === 0) sse(res, 'ping', { type: 'ping' });
      for (const piece of chunks(b.text, 40)) {
        sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
      }
    } else {
      sse(res, 'content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} },
      });
      if (index === 0) sse(res, 'ping', { type: 'ping' });
      const json = JSON.stringify(b.input ?? {});
      sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } });
      for (const piece of chunks(json, 40)) {
        sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } });
      }
    }
    sse(res, 'content_block_stop', { type: 'content_block_stop', index });
  });
  sse(res, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  sse(res, 'message_stop', { type: 'message_stop' });
  res.end();
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const enc = String(req.headers['content-encoding'] ?? '').toLowerCase();
    let src: NodeJS.ReadableStream = req;
    if (enc === 'gzip' || enc === 'x-gzip') src = req.pipe(zlib.createGunzip());
    else if (enc === 'deflate') src = req.pipe(zlib.createInflate());
    else if (enc === 'br') src = req.pipe(zlib.createBrotliDecompress());
    const parts: Buffer[] = [];
    src.on('data', (c: Buffer) => parts.push(c));
    src.on('end', () => resolve(Buffer.concat(parts)));
    src.on('error', reject);
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------

export async function startModelStandin(opts: { port?: number } = {}): Promise<ModelStandin> {
  let queue: Reply[] = [];
  let responder: Responder | undefined;
  let defaultReply: Reply = DEFAULT_REPLY;
  /** the gate new requests wait on while held */
  let gate: { promise: Promise<void>; release: () => void } | undefined;
  const gates = new Set<() => void>();
  const waiters = new Set<() => void>();
  let closed = false;
  let meter: ((req: RecordedRequest, reply: Reply) => Usage) | undefined;

  const notify = () => {
    for (const w of [...waiters]) w();
  };

  async function choose(rec: RecordedRequest): Promise<Reply> {
    if (responder) {
      const r = await responder(rec);
      if (r !== undefined) return r;
    }
    if (queue.length > 0) return queue.shift()!;
    return defaultReply;
  }

  async function handleMessages(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = (await readBody(req)).toString('utf8');
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      sendError(res, { status: 400, message: 'stand-in: request body is not JSON' });
      return;
    }
    const rec = toRecorded(req, body);
    api.requests.push(rec);
    notify();

    const g = gate;
    if (g) await g.promise;
    if (closed) return;

    let reply: Reply;
    try {
      reply = await choose(rec);
    } catch (err) {
      reply = { error: { status: 500, type: 'api_error', message: `stand-in responder threw: ${String(err)}` } };
    }
    rec.reply = reply;
    if (res.destroyed || res.writableEnded) return; // client went away while held
    if ('hang' in reply) return; // answered (destroyed) by close()
    if ('error' in reply) {
      sendError(res, reply.error);
      return;
    }
    const model = typeof body?.model === 'string' && body.model ? body.model : 'claude-sonnet-4-5';
    sendMessage(res, reply, model, body?.stream === true, meter ? meter(rec, reply) : { ...api.usage });
  }

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const p = url.split('?')[0];
    const method = req.method ?? 'GET';
    api.log.push(`${method} ${url}`);
    const run = async () => {
      if (method === 'POST' && p === '/v1/messages') return handleMessages(req, res);
      if (method === 'POST' && p === '/v1/messages/count_tokens') {
        const raw = (await readBody(req)).toString('utf8');
        return sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(raw.length / 4)) });
      }
      // drain anything else
      await readBody(req).catch(() => undefined);
      if ((method === 'HEAD' || method === 'GET') && p === '/') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(method === 'HEAD' ? undefined : '{}');
        return;
      }
      sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: `stand-in: no route ${method} ${p}` } });
    };
    run().catch((err) => {
      if (!res.headersSent) sendError(res, { status: 500, message: `stand-in failure: ${String(err)}` });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const releaseAll = () => {
    for (const r of [...gates]) r();
  };

  const api: ModelStandin = {
    url: `http://127.0.0.1:${port}`,
    requests: [],
    log: [],
    usage: { ...DEFAULT_USAGE },
    script(...replies: Reply[]) {
      queue.push(...replies);
    },
    meter(fn) {
      meter = fn;
    },
    respond(fn: Responder) {
      responder = fn;
    },
    setDefault(reply: Reply) {
      defaultReply = reply;
    },
    hold() {
      let release!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      const g = { promise, release: () => {} };
      g.release = () => {
        gates.delete(g.release);
        if (gate === g) gate = undefined;
        release();
      };
      gates.add(g.release);
      gate = g;
      return g.release;
    },
    waitForRequests(n: number, timeoutMs = 15_000) {
      if (api.requests.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (api.requests.length >= n) {
            cleanup();
            resolve();
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`model stand-in: expected ${n} request(s) within ${timeoutMs} ms, got ${api.requests.length}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
      });
    },
    reset() {
      releaseAll();
      api.requests.length = 0;
      api.log.length = 0;
      queue = [];
      responder = undefined;
      defaultReply = DEFAULT_REPLY;
      Object.assign(api.usage, DEFAULT_USAGE);
    },
    async close() {
      if (closed) return;
      closed = true;
      releaseAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return api;
}

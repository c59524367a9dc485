// A request body as text, at most a given size. Read from Node's own request when there is one: hono's body (and its
// body-limit middleware) first builds a web Request around it, with a ReadableStream and an AbortController whose
// signal Node 20 makes transferable, a cost on every delivery that buys the webhook nothing.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** `undefined` when the body is larger than `maxBytes` (a declared length is checked before anything is read). */
export async function readBody(c: Context, maxBytes: number): Promise<string | undefined> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && !c.req.header('transfer-encoding') && Number(declared) > maxBytes) return undefined;
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const bytes = incoming ? await fromNode(incoming, maxBytes) : await fromWeb(c.req.raw.body, maxBytes);
  return bytes?.toString('utf8');
}

/** The body of a Node request; stops reading past `maxBytes` (the server drains or drops the rest after the answer). */
export function fromNode(incoming: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  if (incoming.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (v: Buffer | undefined, err?: unknown) => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err) reject(err);
      else resolve(v);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        incoming.pause();
        return done(undefined);
      }
      chunks.push(chunk);
    };
    const onEnd = () => done(Buffer.concat(chunks, size));
    const onError = (e: unknown) => done(undefined, e);
    // a client gone mid-body: 'close' without 'end'
    const onClose = () => done(undefined, new Error('request closed before its body ended'));
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** The body of a web Request (hono's own `app.request`, tests). */
async function fromWeb(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Buffer | undefined> {
  if (!body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

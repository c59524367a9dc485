/** Request parameters the way Grape sees them: query + JSON / urlencoded / multipart body, `a[b][c]` keys nested. */

export type Params = Record<string, any>;

/** Set `a[b][c]` (or `a[]`) into a nested object. */
export function setNested(target: Params, key: string, value: unknown): void {
  const m = /^([^[\]]+)((?:\[[^\]]*\])*)$/.exec(key);
  const parts = m ? [m[1], ...[...m[2].matchAll(/\[([^\]]*)\]/g)].map((x) => x[1])] : [key];
  let obj: any = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = parts[i + 1] === '' ? [] : {};
    if (typeof obj[parts[i]] !== 'object' || obj[parts[i]] === null) obj[parts[i]] = next;
    obj = obj[parts[i]];
  }
  const last = parts[parts.length - 1];
  if (Array.isArray(obj) && last === '') obj.push(value);
  else obj[last] = value;
}

export function fromEntries(entries: Iterable<[string, unknown]>): Params {
  const out: Params = {};
  for (const [k, v] of entries) setNested(out, k, v);
  return out;
}

export async function parseBody(contentType: string, buf: Buffer): Promise<Params> {
  if (!buf.length) return {};
  const ct = contentType.toLowerCase();
  if (ct.includes('application/json')) {
    const v = JSON.parse(buf.toString('utf8'));
    return v && typeof v === 'object' ? v : {};
  }
  if (ct.includes('application/x-www-form-urlencoded')) return fromEntries(new URLSearchParams(buf.toString('utf8')));
  if (ct.includes('multipart/form-data')) {
    const form = await new Response(buf, { headers: { 'content-type': contentType } }).formData();
    const entries: [string, unknown][] = [];
    form.forEach((v, k) => entries.push([k, typeof v === 'string' ? v : { filename: (v as File).name, size: (v as File).size }]));
    return fromEntries(entries);
  }
  return {};
}

export class HttpError extends Error {
  constructor(public status: number, public body: unknown) {
    super(typeof body === 'object' ? JSON.stringify(body) : String(body));
  }
}

/** Grape's `type: Integer` coercion. */
export function toInt(v: unknown, name: string): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = typeof v === 'number' ? v : /^-?\d+$/.test(String(v)) ? parseInt(String(v), 10) : NaN;
  if (!Number.isInteger(n)) throw new HttpError(400, { error: `${name} is invalid` });
  return n;
}

/** Grape's `type: Boolean` coercion. */
export function toBool(v: unknown, name: string): boolean | null {
  if (v === undefined || v === null || v === '') return null;
  if (v === true || v === 'true' || v === '1' || v === 1) return true;
  if (v === false || v === 'false' || v === '0' || v === 0) return false;
  throw new HttpError(400, { error: `${name} is invalid` });
}

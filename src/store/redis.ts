// The Store on Redis (keyv's @keyv/redis adapter) for scale-out. Keyv names the namespace ("mrr"); the adapter here
// puts a deployment prefix in front of it, so several deployments (or tests) can share one Redis.
import KeyvRedis from '@keyv/redis';
import { Store, type RecordLock } from './store.js';

class PrefixedKeyvRedis extends KeyvRedis<unknown> {
  constructor(url: string, private readonly prefix: string) {
    super(url, { throwOnConnectError: true, throwOnErrors: true });
  }

  override get namespace(): string | undefined {
    return super.namespace;
  }

  override set namespace(ns: string | undefined) {
    this.keyvNamespace = ns;
    super.namespace = ns ? `${this.prefix}:${ns}` : this.prefix;
  }

  private keyvNamespace?: string;

  /**
   * Live records as [key, value] for Store's scans. Keyv's own iterator cannot list them: it keeps only keys that
   * contain the adapter's full namespace (`<prefix>:mrr`), which this adapter has already stripped from them.
   */
  async *records(): AsyncGenerator<[string, unknown]> {
    const ns = this.keyvNamespace ? `${this.keyvNamespace}:` : '';
    for await (const [key, raw] of super.iterator<string>(this.namespace)) {
      if (!key.startsWith(ns) || typeof raw !== 'string') continue;
      let data: { value?: unknown; expires?: number | null };
      try {
        data = JSON.parse(raw) as typeof data;
      } catch {
        continue; // not a record keyv wrote
      }
      if (typeof data.expires === 'number' && Date.now() > data.expires) continue;
      yield [key.slice(ns.length), data.value];
    }
  }

  // Store scans with Keyv's own namespace name: iterate over the prefixed one it stands for.
  override iterator<U = unknown>(_namespace?: string): AsyncGenerator<[string, U | undefined], void, unknown> {
    return super.iterator<U>(this.namespace);
  }
}

export function redisStore(url: string, prefix: string, lock?: RecordLock): Store {
  const store = new Store(new PrefixedKeyvRedis(url, prefix), lock);
  // A Redis blip must fail the job (and retry it), not read as "no record" and start the MR over.
  store.kv.throwOnErrors = true;
  return store;
}

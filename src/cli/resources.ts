import type { SharedResources } from './service.ts';

/** Lazily created, shared, closed in reverse order of creation. Resources with a close() method are closed. */
export function createSharedResources(): SharedResources {
  const entries = new Map<string, Promise<unknown>>();
  const order: string[] = [];
  return {
    get<T>(key: string, create: () => Promise<T>): Promise<T> {
      let p = entries.get(key) as Promise<T> | undefined;
      if (!p) {
        p = create();
        entries.set(key, p);
        order.push(key);
        // A failed creation may be retried later.
        p.catch(() => entries.delete(key));
      }
      return p;
    },
    async closeAll() {
      for (const key of order.reverse()) {
        const value = (await entries.get(key)?.catch(() => undefined)) as { close?: () => Promise<void> } | undefined;
        if (value && typeof value.close === 'function') await value.close();
      }
      entries.clear();
      order.length = 0;
    },
  };
}

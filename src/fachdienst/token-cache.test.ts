import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VerifiedTokenCache, type Caller } from './auth.ts';

const caller: Caller = { role: 'pharmacy', professionOID: '1.2.276.0.76.4.54', id: '3-1', name: 'Apotheke' };

test('verified tokens are kept until exp, never past it and never longer than MAX_AGE_MS', () => {
  let now = 1_000_000_000_000;
  const cache = new VerifiedTokenCache(100, () => now);
  cache.set('a', caller, now / 1000 + 60);
  assert.equal(cache.get('a'), caller);
  now += 59_999;
  assert.equal(cache.get('a'), caller);
  now += 1;
  assert.equal(cache.get('a'), undefined, 'expired at exp');
  cache.set('long', caller, now / 1000 + 3600);
  now += VerifiedTokenCache.MAX_AGE_MS;
  assert.equal(cache.get('long'), undefined, 'verified again after MAX_AGE_MS');
  cache.set('noexp', caller, undefined);
  cache.set('past', caller, now / 1000 - 1);
  assert.equal(cache.get('noexp'), undefined);
  assert.equal(cache.get('past'), undefined);
});

test('a full cache drops its oldest entries and stays bounded', () => {
  const now = 1_000_000_000_000;
  const cache = new VerifiedTokenCache(10, () => now);
  for (let i = 0; i < 25; i++) cache.set(`t${i}`, caller, now / 1000 + 60);
  assert.ok(cache.size <= 10);
  assert.equal(cache.get('t0'), undefined);
  assert.equal(cache.get('t24'), caller);
});

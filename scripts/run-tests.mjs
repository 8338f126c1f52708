#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node:test (Node 20 has no glob for --test).
// `npm test -- src/fhir test/lifecycle` limits the run to files below the given paths.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const roots = args.length ? args : ['src', 'test'];

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) walk(full, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, full));
  }
  return out;
}

const files = [];
for (const r of roots) {
  const full = join(root, r);
  try {
    if (statSync(full).isFile()) files.push(relative(root, full));
    else walk(full, files);
  } catch {
    console.error(`no such test path: ${r}`);
    process.exit(2);
  }
}
files.sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(2);
}
// The whole suite starts with the type check (tsc 7, ~3 s), so CI catches type errors too.
if (args.length === 0) {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) {
    console.error('type check failed (npm run typecheck)');
    process.exit(tsc.status ?? 1);
  }
}
const concurrency = Math.max(1, Math.min(2, availableParallelism()));
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, ERX_TEST: '1' } },
);
process.exit(result.status ?? 1);

#!/usr/bin/env node
// `npm run bench [-- name …]`: runs every benchmark in bench/ one after another (never in parallel: they measure
// ratios against baselines taken in the same run, and a second benchmark beside them would skew both).
// Each benchmark prints its own table; lines starting with `| ` are gathered into one summary at the end.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const files = readdirSync(new URL('../bench/', import.meta.url))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('_'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();
const summary = [];
let failed = 0;
for (const file of files) {
  process.stdout.write(`\n=== bench/${file} ===\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', `bench/${file}`], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(result.stdout ?? '');
  if (result.status !== 0) {
    failed++;
    summary.push(`| ${file} | FAILED (exit ${result.status}) |`);
    continue;
  }
  for (const line of (result.stdout ?? '').split('\n')) if (line.startsWith('| ') && !/^\|\s*-/.test(line)) summary.push(`| ${file.replace(/\.ts$/, '')} ${line}`);
}
process.stdout.write(`\n=== summary (every ratio is against a baseline measured in the same run) ===\n${summary.join('\n')}\n`);
process.exit(failed ? 1 : 0);

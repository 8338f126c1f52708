#!/usr/bin/env node
// Entry point of the `erx` command: TypeScript sources run through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/erx.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`erx: ${err?.message ?? err}\n`);
    process.exit(1);
  },
);

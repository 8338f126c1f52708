// Where the shared gematik example files live: `shared/` beside the repository (as on CI).
// Tests and benchmarks read them from there instead of copying them into the repo.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of shared/fixtures/erp-examples/, ending in '/'. */
export const fixturesDir = fileURLToPath(new URL('../../shared/fixtures/erp-examples/', import.meta.url));

/** Text of a fixture, by path relative to fixturesDir (e.g. 'task/Task_1.5_607255ed.json'). */
export function readFixture(relativePath: string): string {
  return readFileSync(fixturesDir + relativePath, 'utf8');
}

/** Relative paths of all fixtures whose name ends with one of the extensions, sorted. */
export function listFixtures(...extensions: string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(fixturesDir + dir, { withFileTypes: true })) {
      const path = dir + entry.name;
      if (entry.isDirectory()) walk(path + '/');
      else if (extensions.some((ext) => entry.name.endsWith(ext))) found.push(path);
    }
  };
  walk('');
  return found.sort();
}

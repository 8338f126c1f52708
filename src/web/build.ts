// Builds the browser app with Vite's JS API when web/dist is missing or older than its sources, so `npm start`
// needs no separate build step. Several processes (parallel tests) may start at once: each builds into its own
// directory and swaps it in with renames, so nobody ever serves a half-written dist.
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = resolve(fileURLToPath(new URL('../../web', import.meta.url)));
const REPO_DIR = resolve(WEB_DIR, '..');
const STAMP = '.build-stamp';
/** Everything the bundle is made from: the web project and the shared client logic it imports. */
const SOURCES = ['web/src', 'web/index.html', 'web/insured', 'web/pharmacy', 'web/practice', 'web/vite.config.ts', 'src/insured', 'src/pharmacy', 'src/practice/signing-view.ts', 'src/fhir'];

function newestMtime(path: string): number {
  let info;
  try {
    info = statSync(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return path.endsWith('.test.ts') ? 0 : info.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** True when dist is missing or a source file changed after the last build. */
export function webBuildIsStale(webDir = WEB_DIR): boolean {
  const stamp = join(webDir, 'dist', STAMP);
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  const repo = resolve(webDir, '..');
  return SOURCES.some((s) => newestMtime(join(repo, s)) > built);
}

export async function buildWeb(webDir = WEB_DIR): Promise<void> {
  const { build } = await import('vite');
  const outDir = join(webDir, `.dist-${process.pid}-${Date.now()}`);
  try {
    await build({ root: webDir, configFile: join(webDir, 'vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    writeFileSync(join(outDir, STAMP), new Date().toISOString());
    const dist = join(webDir, 'dist');
    const old = join(webDir, `.dist-old-${process.pid}-${Date.now()}`);
    try {
      if (existsSync(dist)) renameSync(dist, old);
    } catch {
      // another process swapped at the same moment; its build is as good as ours
    }
    try {
      renameSync(outDir, dist);
    } catch (err) {
      if (!existsSync(dist)) throw err;
    }
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** Builds when needed; returns the dist directory. */
export async function ensureWebBuild(options: { webDir?: string; log?: (msg: string) => void } = {}): Promise<string> {
  const webDir = options.webDir ?? WEB_DIR;
  if (webBuildIsStale(webDir)) {
    const started = Date.now();
    await buildWeb(webDir);
    options.log?.(`web app built in ${Date.now() - started} ms`);
  }
  return join(webDir, 'dist');
}

export { REPO_DIR };

// A small static file handler for the built web app (no @fastify/static): only files below the root, content
// types by extension, long caching for Vite's hashed assets and revalidation for everything else.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyReply } from 'fastify';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * The file for a URL path below `root`, or undefined: decodes once, refuses NUL, backslashes, dot segments and
 * anything that resolves outside the root, and serves only known types.
 */
export function resolveStaticPath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0]);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..' || s.startsWith('.'))) return undefined;
  const base = resolve(root);
  const file = resolve(base, ...segments);
  if (file !== base && !file.startsWith(base + sep)) return undefined;
  if (!CONTENT_TYPES[extname(file).toLowerCase()]) return undefined;
  return file;
}

/** Sends a file with its content type and caching headers; false when it does not exist. */
export async function sendStaticFile(reply: FastifyReply, file: string, options: { immutable?: boolean } = {}): Promise<boolean> {
  let info;
  try {
    info = await stat(file);
  } catch {
    return false;
  }
  if (!info.isFile()) return false;
  const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  reply.header('content-type', CONTENT_TYPES[extname(file).toLowerCase()]);
  reply.header('cache-control', options.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  reply.header('etag', etag);
  if (reply.request.headers['if-none-match'] === etag) {
    reply.code(304).send();
    return true;
  }
  reply.header('content-length', info.size);
  reply.send(createReadStream(file));
  return true;
}

export function assetsDir(distDir: string): string {
  return join(distDir, 'assets');
}

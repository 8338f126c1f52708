// One Vite project, three apps: /insured, /pharmacy, /practice (each web/<app>/index.html), plus a start page.
// Built by the web service on start (src/web/build.ts); `npx vite` in web/ runs a dev server proxying /api.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/',
  plugins: [react()],
  resolve: {
    // src/fhir/identifiers.ts (shared check rules) imports node:crypto for its server-only helpers.
    alias: { 'node:crypto': here('src/shared/no-node-crypto.ts') },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The wasm stays a file of its own (served locally, never from a CDN).
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: {
        index: here('index.html'),
        insured: here('insured/index.html'),
        pharmacy: here('pharmacy/index.html'),
        practice: here('practice/index.html'),
      },
    },
  },
  server: {
    fs: { allow: [here('..')] },
    proxy: { '/api': 'http://localhost:8090' },
  },
});

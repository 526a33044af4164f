// The browser pages (issue 14): two entry pages, built to dist/ui/ with relative asset paths so the same
// files serve under /ui/ (admin) and /t/{token} (tenant). Everything is bundled: no asset from the internet,
// no inline script or style (the controller's Content-Security-Policy forbids both).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: here('../dist/ui'),
    emptyOutDir: true,
    assetsDir: 'assets',
    // The polyfill would be bundled code, but no browser the UI supports needs it.
    modulePreload: { polyfill: false },
    // Fonts or icons small enough to inline would become data: URLs in CSS; the CSP allows data: images only.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
    rollupOptions: { input: { index: here('index.html'), tenant: here('tenant.html') } },
  },
});

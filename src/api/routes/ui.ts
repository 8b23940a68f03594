/**
 * The dashboard (src/ui): a static single-page app under /ui/ that talks to this API over HTTP
 * like any client. No build step: its own ES modules are served as they are in the source tree,
 * and its few libraries (Preact, htm, uPlot) straight from node_modules under /ui/vendor/, named
 * by the import map in index.html. Nothing is fetched from a CDN, so it works offline.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

const UI_ROOT = fileURLToPath(new URL('../../ui/', import.meta.url));
const require = createRequire(import.meta.url);

/**
 * A package's folder, found the way Node finds it (hoisted or not): from its main entry up to
 * node_modules/<name> (not every package exports its package.json).
 */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (!dir.endsWith(`${sep}node_modules${sep}${name}`)) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of package ${name}`);
    dir = up;
  }
  return dir;
}

/** /ui/vendor/<name> → a file of an installed package: the only vendor files served. */
const VENDOR: Readonly<Record<string, readonly [pkg: string, file: string, type: string]>> = {
  'preact.mjs': ['preact', 'dist/preact.mjs', 'text/javascript'],
  'preact-hooks.mjs': ['preact', 'hooks/dist/hooks.mjs', 'text/javascript'],
  'htm.mjs': ['htm', 'dist/htm.mjs', 'text/javascript'],
  'htm-preact.mjs': ['htm', 'preact/index.mjs', 'text/javascript'],
  'uplot.mjs': ['uplot', 'dist/uPlot.esm.js', 'text/javascript'],
  'uplot.css': ['uplot', 'dist/uPlot.min.css', 'text/css'],
};

interface VendorFile {
  body: Buffer;
  type: string;
  etag: string;
}

function loadVendor(): Map<string, VendorFile> {
  const out = new Map<string, VendorFile>();
  for (const [name, [pkg, file, type]] of Object.entries(VENDOR)) {
    const body = readFileSync(join(packageDir(pkg), file));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    out.set(name, { body, type: `${type}; charset=utf-8`, etag });
  }
  return out;
}

/** The CSP source of index.html's inline import map (a hash: no other inline script may run). */
function importMapHash(): string {
  const html = readFileSync(join(UI_ROOT, 'index.html'), 'utf8');
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
  return `'sha256-${createHash('sha256').update(map).digest('base64')}'`;
}

// The files have no content hash in their names, so a browser revalidates each load (ETag → 304):
// an upgrade is seen at once, and an unchanged file costs one small round trip.
const REVALIDATE = 'no-cache';

export const uiRoutes: FastifyPluginAsync = async (app) => {
  const vendor = loadVendor();
  // The page runs only its own scripts and talks only to this server.
  const csp = [
    `default-src 'self'`,
    `script-src 'self' ${importMapHash()}`,
    // uPlot and Preact set element styles.
    `style-src 'self' 'unsafe-inline'`,
    `img-src 'self' data:`,
    `object-src 'none'`,
    `base-uri 'none'`,
    `frame-ancestors 'none'`,
  ].join('; ');
  app.get<{ Params: { file: string } }>(
    '/ui/vendor/:file',
    { schema: { hide: true } },
    async (req, reply) => {
      const f = vendor.get(req.params.file);
      if (!f) return reply.code(404).send({ error: 'Not found', code: 'NOT_FOUND' });
      reply.header('cache-control', REVALIDATE).header('etag', f.etag);
      if (req.headers['if-none-match'] === f.etag) return reply.code(304).send();
      return reply.type(f.type).send(f.body);
    },
  );
  // /ui → /ui/: the page's relative module paths resolve against the folder.
  app.get('/ui', { schema: { hide: true } }, (_req, reply) => reply.redirect('/ui/', 301));
  await app.register(fastifyStatic, {
    root: UI_ROOT,
    prefix: '/ui/',
    cacheControl: false,
    etag: true,
    lastModified: true,
    decorateReply: false,
    setHeaders: (reply) => {
      reply.header('cache-control', REVALIDATE);
      reply.header('content-security-policy', csp);
      reply.header('x-content-type-options', 'nosniff');
    },
  });
};

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Hono } from 'hono';
import { packageRoot } from '../config/index.js';
import type { AppEnv } from '../platform/http/app.js';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Where the browser modules and the style sheet live, from the sources and from `dist/` alike. */
export function assetsDir(): string {
  return join(packageRoot(), 'web', 'assets');
}

/**
 * Reads every asset once, at mount: the set is small and fixed, and a request can only ever name
 * one of these files, never a path on disk.
 */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(join(dir, name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(name, { body, type, etag });
  }
  return assets;
}

/**
 * `GET /:name` for the pages' modules and style sheet. `no-cache` with an ETag: a browser
 * revalidates each load, so an upgraded hub never runs a stale module against a newer API.
 */
export function assetRoutes(dir = assetsDir()): Hono<AppEnv> {
  const assets = loadAssets(dir);
  const app = new Hono<AppEnv>();
  app.get('/:name', (c) => {
    const asset = assets.get(c.req.param('name'));
    if (asset === undefined) return c.notFound();
    const headers = {
      'content-type': asset.type,
      'cache-control': 'no-cache',
      etag: asset.etag,
      'x-content-type-options': 'nosniff',
    };
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304, headers);
    return c.body(new Uint8Array(asset.body), 200, headers);
  });
  return app;
}

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { renderGraphiQL } from 'graphql-yoga';
import { sendError } from './respond.js';

/**
 * GraphiQL's scripts and styles, served by the gateway itself instead of a
 * CDN: the page works on machines without internet access and under a strict
 * content security policy.
 */
export const GRAPHIQL_ASSETS_PATH = '/graphiql/assets/';

const ASSETS: Record<string, string> = {
  'graphiql.css': 'text/css; charset=utf-8',
  'yoga-graphiql.umd.js': 'text/javascript; charset=utf-8',
  'monacoeditorwork/editor.worker.bundle.js': 'text/javascript; charset=utf-8',
  'monacoeditorwork/graphql.worker..bundle.js': 'text/javascript; charset=utf-8',
  'monacoeditorwork/json.worker.bundle.js': 'text/javascript; charset=utf-8',
};

const distDir = path.join(path.dirname(createRequire(import.meta.url).resolve('@graphql-yoga/graphiql/package.json')), 'dist');
const cache = new Map<string, Buffer>();

export function renderLocalGraphiQL(options: Parameters<typeof renderGraphiQL>[0]): string {
  return renderGraphiQL(options).replace(/https:\/\/unpkg\.com\/@graphql-yoga\/graphiql@[^/]+\/dist\//g, GRAPHIQL_ASSETS_PATH);
}

export async function sendGraphiQLAsset(res: ServerResponse, pathname: string): Promise<void> {
  const name = pathname.slice(GRAPHIQL_ASSETS_PATH.length);
  const type = ASSETS[name];
  if (!type) {
    sendError(res, 'NOT_FOUND', `No asset ${name}`);
    return;
  }
  let body = cache.get(name);
  if (!body) {
    body = await readFile(path.join(distDir, name));
    cache.set(name, body);
  }
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'public, max-age=86400' });
  res.end(body);
}

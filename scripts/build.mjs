// Compiles src/ to dist/: what `npm start` (prestart), `npm run cli`, the
// package's command, postinstall and the bench run. esbuild bundles the
// gateway's code and the packages it imports into dist/main.js, dist/cli.js
// and dist/embedded-template.js (plus chunks beside them; one copy of
// graphql 16, as in node_modules), with source maps that point back into
// src/ and node_modules/ (node --enable-source-maps). A few packages stay
// runtime imports (EXTERNAL). The
// migrations are copied to dist/migrations, where src/sql/migrate.ts finds
// them (`./migrations/` beside the module: src/sql/ or dist/), and so is the
// embedded PostgreSQL's worker.
//
// A content hash of everything the output depends on (src/, this script,
// tsconfig.json, esbuild's version) is kept in dist/.build-hash: when it
// matches, nothing is compiled (~0.1 s in all), so that the build can run
// before every start and never serve code older than src/. A new build is
// written to a fresh directory and renamed over dist/, so that another
// process never reads half of one.
//
//   node scripts/build.mjs [--force] [--quiet]
import { createHash } from 'node:crypto';
import { chmod, cp, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = path.join(ROOT, 'dist');
const SRC = path.join(ROOT, 'src');
const STAMP = '.build-hash';
// Plain JavaScript run as a worker (src/sql/embedded.ts), found beside the module that starts it.
const EMBEDDED_WORKER = 'embedded.worker.mjs';
// The server, the command line, and what `npm install` runs to make the embedded database's template.
const ENTRIES = ['main', 'cli', 'embedded-template'];

/**
 * Packages Node loads at run time rather than the bundle: PGlite and its
 * socket server (the embedded database's worker imports them, and PGlite
 * finds its WebAssembly beside its module), pg's optional native binding,
 * and ioredis and pino, which find files of their own through `__dirname`
 * (ioredis its package.json and error stacks, pino its transport workers).
 */
const EXTERNAL = ['@electric-sql/pglite', '@electric-sql/pglite-socket', 'pg-native', 'ioredis', 'pino'];

/** The options of every bundle: the product's and the bench's variants alike. */
export const BUNDLE_OPTIONS = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // The packages are bundled too: a start loads a few files instead of ~1,300
  // (docs/decisions.md, runtimes). Their CommonJS `require`s of Node's modules
  // (and of the external packages) go through a `require` made for each chunk.
  external: EXTERNAL,
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  // Dynamic imports become chunks loaded when asked for (PGlite only without DATABASE_URL).
  // Chunks stay beside the entries, so that `import.meta.url` of any module is in dist/.
  splitting: true,
  sourcemap: 'linked',
  // Maps point at the files in src/; their text stays there.
  sourcesContent: false,
  logLevel: 'warning',
};

/**
 * Bundles `entryPoints` into `outdir` with the product's options, and copies
 * the migrations beside them. The bench builds its variants with this too
 * (into node_modules/.cache, so that their packages resolve to the product's).
 */
export async function bundle(entryPoints, outdir) {
  const esbuild = await import('esbuild');
  await esbuild.build({ ...BUNDLE_OPTIONS, entryPoints, outdir });
  await cp(path.join(SRC, 'sql', 'migrations'), path.join(outdir, 'migrations'), { recursive: true });
  await cp(path.join(SRC, 'sql', EMBEDDED_WORKER), path.join(outdir, EMBEDDED_WORKER));
}

/** sha256 of the inputs of the build; changes whenever any of them does. */
async function inputsHash(esbuildVersion) {
  const hash = createHash('sha256');
  hash.update(`esbuild ${esbuildVersion}\0`);
  const files = (await readdir(SRC, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name))
    .sort();
  for (const file of [fileURLToPath(import.meta.url), path.join(ROOT, 'tsconfig.json'), ...files]) {
    hash.update(`${path.relative(ROOT, file)}\0`);
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

async function currentHash() {
  try {
    return (await readFile(path.join(DIST, STAMP), 'utf8')).trim();
  } catch {
    return null;
  }
}

/**
 * Brings dist/ up to date with src/. Returns whether it compiled anything.
 * `force` compiles even when the hash matches.
 */
export async function build({ force = false, quiet = false } = {}) {
  const started = performance.now();
  const { version } = await import('esbuild');
  const hash = await inputsHash(version);
  if (!force && (await currentHash()) === hash) return false;

  const staging = await mkdtemp(path.join(ROOT, '.dist-'));
  try {
    await chmod(staging, 0o755);
    await bundle(
      ENTRIES.map((name) => path.join(SRC, `${name}.ts`)),
      staging,
    );
    await writeFile(path.join(staging, STAMP), `${hash}\n`);
    // Swap: the old dist/ (if any) aside, the new one in, the old one away.
    const old = `${staging}-old`;
    await rename(DIST, old).catch((error) => {
      if (error.code !== 'ENOENT') throw error;
    });
    try {
      await rename(staging, DIST);
    } catch (error) {
      // Another build won the race (ENOTEMPTY/EEXIST): its dist/ is as good as ours.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    }
    await rm(old, { recursive: true, force: true });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  if (!quiet) {
    console.error(`build: src/ compiled to dist/ in ${Math.round(performance.now() - started)} ms`);
  }
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !['--force', '--quiet'].includes(a));
  if (unknown.length > 0) {
    console.error(`build: unknown argument ${unknown.join(' ')}\nUsage: node scripts/build.mjs [--force] [--quiet]`);
    process.exit(2);
  }
  await build({ force: args.includes('--force'), quiet: args.includes('--quiet') });
}

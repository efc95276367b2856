// graphql-shield 7.6.5, its last release, imports `isUndefined` from Node's
// `util`, which Node 23 removed: on Node 24 and 26 the ES module fails to load.
// This replaces that one helper with a plain `=== undefined`, in place, after
// every install. It is idempotent and fails loudly if the files change shape.
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
let root;
try {
  root = path.dirname(require.resolve('graphql-shield/package.json'));
} catch {
  process.exit(0); // not installed (e.g. a production install without it): nothing to do
}

const patches = [
  {
    file: 'esm/rules.js',
    from: "import { isUndefined } from 'util';",
    to: 'const isUndefined = (value) => value === undefined;',
  },
  {
    file: 'cjs/rules.js',
    from: 'const util_1 = require("util");',
    to: 'const util_1 = { isUndefined: (value) => value === undefined };',
  },
];

for (const { file, from, to } of patches) {
  const target = path.join(root, file);
  const text = await readFile(target, 'utf8');
  if (text.includes(to)) continue;
  if (!text.includes(from)) {
    console.error(`patch-dependencies: ${target} no longer contains the expected line; review the patch`);
    process.exit(1);
  }
  await writeFile(target, text.replace(from, to));
}

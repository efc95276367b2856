/**
 * `node dist/embedded-template.js`: makes the embedded database's initdb
 * template ahead of the first start (`npm install` runs it, see
 * `embeddedTemplateDir` in src/sql/embedded.ts). Never fails the install: without
 * the template, the first start makes it.
 */
import { embeddedTemplateDir, isDataDir, makeEmbeddedTemplate } from './sql/embedded.js';

const dir = embeddedTemplateDir();
const started = performance.now();
try {
  if (await isDataDir(dir)) process.exit(0);
  await makeEmbeddedTemplate(dir);
  console.error(`embedded database template made in ${Math.round(performance.now() - started)} ms: ${dir}`);
} catch (error) {
  console.error(`could not write the embedded database template (${String(error)}); the first start will make it`);
}

/**
 * `node dist/embedded-template.js`: makes the embedded database's templates
 * ahead of the first start (`npm install` runs it): the initdb template
 * (`embeddedTemplateDir` in src/sql/embedded.ts), then the demo template of
 * this build and day (`demoTemplateDir` in src/sql/embedded.ts). Never fails
 * the install: without them, the first start does their work itself.
 */
import { loadConfig } from './config.js';
import { makeDemoTemplate } from './embedded-demo.js';
import { demoTemplateDir, embeddedTemplateDir, isDataDir, makeEmbeddedTemplate } from './sql/embedded.js';

async function make(name: string, dir: string | null, fill: (dir: string) => Promise<void>): Promise<void> {
  if (dir === null || isDataDir(dir)) return;
  const started = performance.now();
  try {
    await fill(dir);
    console.error(`embedded database ${name} made in ${Math.round(performance.now() - started)} ms: ${dir}`);
  } catch (error) {
    console.error(`could not write the embedded database ${name} (${String(error)}); the first start will do its work`);
  }
}

await make('template', embeddedTemplateDir(), (dir) => makeEmbeddedTemplate(dir));
// The defaults, not this shell's settings: the template is the same for whoever starts the server.
await make('demo template', demoTemplateDir(), (dir) => makeDemoTemplate(dir, loadConfig({})));

import { writeFile } from 'node:fs/promises';
import { printedSchema } from '../src/schema/index.js';

await writeFile(new URL('../schema.graphql', import.meta.url), printedSchema());
console.log('schema.graphql written');

#!/usr/bin/env node
// The package's command: the CLI compiled to dist/ (scripts/build.mjs brings
// dist/ up to date with src/ first; it does nothing when it already is).
import { build } from '../scripts/build.mjs';

await build();
process.setSourceMapsEnabled(true);
await import('../dist/cli.js');

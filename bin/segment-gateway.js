#!/usr/bin/env node
// The package's command: runs the CLI's TypeScript through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');

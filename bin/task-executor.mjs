#!/usr/bin/env node
// Entry for `npx task-executor …` and the installed bin: loads the TypeScript CLI through
// tsx in this same process, so signals (SIGTERM for a graceful worker stop) reach it directly.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');

/** Backend registry: the worker asks for a backend by its type name. */
import type { Config } from '../config/index.ts';
import { CommandBackend } from './command.ts';
import type { Backend } from './types.ts';

export type { Backend, LlmEndpoint, RunContext, RunOutcome, StopReason } from './types.ts';
export { RunStopped, stopReason } from './types.ts';

// New environments (aiopslab, sandbox) add one line here.
const factories: Record<string, (config: Config) => Backend> = {
  command: (config) => new CommandBackend(config),
};

export const BACKEND_TYPES: readonly string[] = Object.keys(factories);

export function createBackend(type: string, config: Config): Backend {
  const make = factories[type];
  if (!make)
    throw new Error(`Unknown backend type "${type}": known backend types are ${BACKEND_TYPES.join(', ')}`);
  return make(config);
}

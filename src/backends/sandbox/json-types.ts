/** Re-exports so sandbox files import shared types from one place. */
export type { Json, JsonObject } from '../../queue/types.ts';
export type { TaskType } from '../environment.ts';

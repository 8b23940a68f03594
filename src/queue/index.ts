export { recordCallbackAttempt, takeDueCallbacks } from './callbacks.ts';
export { FENCING_CODES, QueueError, type QueueErrorCode } from './errors.ts';
export type { Experiment, ExperimentProgress, GridCell, NewExperiment } from './experiments.ts';
export { pingDatabase } from './health.ts';
export type { LogQuery } from './logs.ts';
export { type CancelOutcome, createQueue, type Queue, type QueueOptions } from './queue.ts';
export { type ReapOptions, reapOnce } from './reaper.ts';
export {
  NoFreeReplicaSlot,
  REPLICA_SLOTS,
  releaseReplicaSlot,
  renewReplicaSlot,
  takeReplicaSlot,
} from './replicas.ts';
export {
  DEFAULT_REWARD,
  type DefaultReward,
  defaultReward,
  type NewReward,
  type TaskReward,
} from './rewards.ts';
export { toTask } from './rows.ts';
export { STATS_WINDOWS, type StatsWindow, type WindowActivity } from './stats.ts';
export type { CreatedTask, TaskFilter, TaskStats } from './tasks.ts';
export type { Completion } from './transitions.ts';
export * from './types.ts';
export { globsToLikePatterns, type WorkerStats } from './workers.ts';

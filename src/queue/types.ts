/** The queue's data as the rest of the system sees it (field names follow the seed API). */
export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'timeout', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'timeout', 'cancelled'];

export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const WORKER_STATUSES = ['idle', 'busy', 'offline', 'draining'] as const;
export type WorkerStatus = (typeof WORKER_STATUSES)[number];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface TaskParameters {
  max_steps: number;
  timeout_minutes: number;
  agent_config: JsonObject;
  callback_url?: string;
  metadata?: JsonObject;
  labels?: Record<string, string>;
  [key: string]: Json | undefined;
}

export interface NewTask {
  problem_id: string;
  priority: number;
  backend_type: string | null;
  parameters: TaskParameters;
  max_attempts: number;
  idempotency_key: string | null;
  /** The weights version of the policy being trained (RL); null outside RL. */
  policy_version?: number | null;
  /** Set when an experiment's grid made the task (experiments.ts). */
  experiment?: TaskExperimentPlace;
}

/** Where a task sits in its experiment's grid. */
export interface TaskExperimentPlace {
  experiment_id: string;
  /** Same problem and agent config: the K repetitions of a GRPO group share it. */
  group_id: string;
  repetition: number;
}

export interface Task {
  id: string;
  problem_id: string;
  status: TaskStatus;
  priority: number;
  backend_type: string | null;
  parameters: TaskParameters;
  labels: Record<string, string>;
  worker_id: string | null;
  attempt: number;
  max_attempts: number;
  lease_expires_at: string | null;
  deadline_at: string | null;
  cancel_requested: boolean;
  cancel_requested_at: string | null;
  result: Json | null;
  /** Why it did not complete, as text (the predecessor's type): the message of error_info. */
  error_details: string | null;
  /** The structured record (`{ reason, message, … }`) stored in the error_details column. */
  error_info: Json | null;
  idempotency_key: string | null;
  experiment_id: string | null;
  group_id: string | null;
  repetition: number | null;
  policy_version: number | null;
  /** The default reward from the stored evaluation (rewards.ts); null when it has none. */
  reward: number | null;
  /** How the reward was derived, or why there is none. */
  reward_reason: string;
  callback_state: 'pending' | 'delivered' | 'failed' | null;
  callback_attempts: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface TaskLog {
  /** A UUID, as the predecessor's clients expect; it is `seq` written as a UUID (logIdToSeq reverses it). */
  id: string;
  /** Monotonic cursor: pass as `after` to read on. */
  seq: number;
  task_id: string;
  timestamp: string;
  level: LogLevel;
  message: string;
  context: Json | null;
  source: string;
  attempt: number | null;
}

export interface NewLog {
  level: LogLevel;
  message: string;
  context?: Json | null;
  source?: string;
  timestamp?: string;
}

export interface WorkerRegistration {
  id: string;
  backend_type: string;
  capabilities: { max_parallel_tasks: number; supported_problems: string[]; [key: string]: Json };
  metadata: JsonObject;
}

export interface Worker {
  id: string;
  worker_id: string;
  backend_type: string;
  status: WorkerStatus;
  capabilities: JsonObject;
  metadata: JsonObject;
  last_heartbeat: string;
  registered_at: string;
  current_task_id: string | null;
  running_tasks: number;
  tasks_completed: number;
  tasks_failed: number;
}

/** A worker's claim on one attempt of a task: what fenced calls must present. */
export interface Lease {
  task_id: string;
  attempt: number;
}

export interface HeartbeatResult {
  worker: Worker;
  /** Held tasks whose lease was extended. */
  extended: Lease[];
  /** Tasks this worker reported but no longer holds (reaped, timed out, cancelled): stop them. */
  lost: string[];
  /** Held tasks a user asked to cancel: stop them and report. */
  cancel_requested: string[];
}

export interface ReapResult {
  requeued: number;
  failed: number;
  cancelled: number;
  timed_out: number;
  workers_offline: number;
  /** Running leases extended because the previous pass was an outage ago (nothing reaped then). */
  leases_honoured: number;
  /** Task ids that reached a terminal state in this pass. */
  terminal: string[];
}

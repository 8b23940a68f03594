-- Experiments (GRPO grids), policy versions and rewards (issue 12).
--
-- An experiment is a named grid: problems × agent configs × K repetitions, expanded into tasks
-- in one statement. Each task keeps its experiment, its group (one problem under one agent
-- config: the K repetitions share it, as GRPO compares them) and its repetition index.
CREATE TABLE experiments (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text NOT NULL,
  -- The request as resolved (problem ids, agent configs, repetitions, task options).
  spec          jsonb NOT NULL,
  task_count    integer NOT NULL,
  group_count   integer NOT NULL,
  created_by    text NOT NULL DEFAULT 'server',
  created_at    timestamptz NOT NULL DEFAULT now(),
  cancelled_at  timestamptz
);
-- The experiment list pages newest first.
CREATE INDEX experiments_created_idx ON experiments (created_at DESC, id DESC);

-- policy_version: the weights version of the policy being trained, an integer so a trainer
-- can ask for a range ("everything from version 40 on"). NULL for tasks outside RL.
ALTER TABLE tasks
  ADD COLUMN experiment_id  uuid CONSTRAINT tasks_experiment_fkey REFERENCES experiments (id) ON DELETE SET NULL,
  ADD COLUMN group_id       uuid,
  ADD COLUMN repetition     integer,
  ADD COLUMN policy_version bigint;

-- Partial indexes: plain tasks (no experiment, no policy version) add no index entries, so
-- submit, claim and complete on the issue-9 hot paths write what they wrote before.
-- (experiment_id, status): an experiment's progress counts and its cancel read only its rows.
CREATE INDEX tasks_experiment_idx ON tasks (experiment_id, status) WHERE experiment_id IS NOT NULL;
CREATE INDEX tasks_group_idx ON tasks (group_id) WHERE group_id IS NOT NULL;
CREATE INDEX tasks_policy_version_idx ON tasks (policy_version) WHERE policy_version IS NOT NULL;

-- Each LLM call records the task's policy_version when it was made (the gateway copies it
-- from the task in the call's own INSERT), so calls are filterable without a join.
ALTER TABLE llm_calls ADD COLUMN policy_version bigint;

-- Rewards written after the fact: append-only, so re-scoring never loses the original. The
-- identity id is the monotonic cursor the trajectory feed resumes from (reward.updated).
-- The default reward is derived from the task's stored evaluation on read, not stored here.
CREATE TABLE task_rewards (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id     uuid NOT NULL CONSTRAINT task_rewards_task_fkey REFERENCES tasks (id) ON DELETE CASCADE,
  name        text NOT NULL,
  value       double precision NOT NULL,
  details     jsonb,
  -- The writer's role (client, admin), or 'anonymous' on an open API.
  written_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_rewards_task_idx ON task_rewards (task_id, id);

/**
 * What each feed event carries, built from the queue and the conversation store. Built once
 * per event and shared: fifty subscribers of one experiment cost one build, not fifty (the
 * cache keeps the promise, so concurrent requests for the same event wait on one build).
 */
import type { FeedEvent } from '../datasets/feed-store.ts';
import { BoundedMap } from '../gateway/bounded-map.ts';
import type { ConversationStore } from '../gateway/conversations.ts';
import type { Queue } from '../queue/queue.ts';
import { type Task, TERMINAL_STATUSES } from '../queue/types.ts';

/** compact: conversation summaries with links; messages: plus their messages; full: plus every call with its response (token ids, logprobs). */
export type ConversationForm = 'compact' | 'messages' | 'full';

/** The most calls a full trajectory inlines per conversation (the rest are a link away). */
const MAX_CALLS = 10_000;

export interface FeedPayloads {
  trajectory(e: FeedEvent, form: ConversationForm): Promise<unknown>;
  groupCompleted(e: FeedEvent): Promise<unknown>;
  rewardUpdated(e: FeedEvent): Promise<unknown>;
  taskStatus(e: FeedEvent): unknown;
}

export function createFeedPayloads(
  queue: Queue,
  conversations: ConversationStore,
  cacheSize = 512,
): FeedPayloads {
  const cache = new BoundedMap<string, Promise<unknown>>(cacheSize);
  const cached = (key: string, build: () => Promise<unknown>): Promise<unknown> => {
    let p = cache.get(key);
    if (!p) {
      p = build();
      cache.set(key, p);
      // A failed build is not kept: the next subscriber tries again.
      p.catch(() => cache.delete(key));
    }
    return p;
  };

  async function conversationsOf(taskId: string, form: ConversationForm): Promise<unknown[]> {
    const list = (await conversations.listByTask(taskId)) ?? [];
    // Oldest first: the order the agent ran them in.
    list.reverse();
    return Promise.all(
      list.map(async (c) => {
        const links = {
          messages_url: `/api/v1/llm-conversations/${c.id}/messages`,
          calls_url: `/api/v1/llm-conversations/${c.id}/calls`,
        };
        if (form === 'compact') return { ...c, ...links };
        const messages = await conversations.messages(c.id);
        if (form === 'messages') return { ...c, ...links, messages };
        const calls = await conversations.calls(c.id, {
          afterSeq: -1,
          limit: MAX_CALLS,
          includeResponse: true,
        });
        return { ...c, ...links, messages, calls };
      }),
    );
  }

  return {
    trajectory: (e, form) =>
      cached(`t:${e.cursorText}:${form}`, async () => {
        const task = await queue.getTask(e.task_id!);
        if (!task) return { cursor: e.cursorText, task_id: e.task_id, deleted: true };
        const [rewards, convs] = await Promise.all([
          queue.listRewards(task.id),
          conversationsOf(task.id, form),
        ]);
        return { cursor: e.cursorText, task, rewards, conversations: convs };
      }),

    groupCompleted: (e) =>
      cached(`g:${e.cursorText}`, async () => {
        const tasks = await queue.groupTasks(e.group_id!);
        const named = await queue.latestRewards(tasks.map((t) => t.id));
        const byStatus: Record<string, number> = {};
        for (const t of tasks) byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
        const scored = tasks.filter((t) => t.reward !== null);
        return {
          cursor: e.cursorText,
          group_id: e.group_id,
          experiment_id: e.experiment_id,
          problem_id: tasks[0]?.problem_id ?? null,
          agent_config: tasks[0]?.parameters.agent_config ?? null,
          policy_version: tasks[0]?.policy_version ?? null,
          size: tasks.length,
          by_status: byStatus,
          mean_reward: scored.length ? scored.reduce((a, t) => a + t.reward!, 0) / scored.length : null,
          completed_at: e.at,
          tasks: tasks.map((t) => memberOf(t, named.get(t.id) ?? {})),
        };
      }),

    rewardUpdated: (e) =>
      cached(`r:${e.cursorText}`, async () => ({
        cursor: e.cursorText,
        task_id: e.task_id,
        experiment_id: e.experiment_id,
        group_id: e.group_id,
        reward: await queue.getReward(e.reward_id!),
      })),

    taskStatus: (e) => ({
      cursor: e.cursorText,
      task_id: e.task_id,
      status: e.status,
      previous_status: e.previous_status,
      terminal: TERMINAL_STATUSES.includes(e.status as Task['status']),
      problem_id: e.problem_id,
      backend_type: e.backend_type,
      worker_id: e.worker_id,
      attempt: e.attempt,
      experiment_id: e.experiment_id,
      group_id: e.group_id,
      policy_version: e.policy_version,
      labels: e.labels,
      at: e.at,
    }),
  };
}

function memberOf(t: Task, rewards: Record<string, number>) {
  return {
    task_id: t.id,
    repetition: t.repetition,
    status: t.status,
    reward: t.reward,
    reward_reason: t.reward_reason,
    rewards,
    error_details: t.error_details,
  };
}

/**
 * The Python task executor's documented answers, endpoint by endpoint, checked on ours for the
 * same requests (issue 10): every field its clients read, with its type (and the values that
 * matter), must be in our answer; our answers may hold more. The expectations are the table
 * below, written from its API documentation (api/API_DOCUMENTATION.md, "doc"), its response
 * schemas (api/src/schemas/*.py, "schema") and its routes (api/src/api/*.py, "code"). Where
 * the documentation and the code disagree on a type, the code is what its clients received.
 *
 * The rows run in order against one real server (the composition root, listening on a real
 * port, with its in-process worker pool), each request building on the ones before it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config/index.ts';
import { type RunningServer, startServer } from '../src/server/compose.ts';
import { createTestDb, dbModes, type TestDb } from './helpers/db.ts';
import {
  differences,
  eq,
  type Fields,
  list,
  map,
  match,
  nullable,
  obj,
  oneOf,
  type Spec,
  sub,
} from './helpers/shapes.ts';

// ---------------------------------------------------------------------------------------------
// The predecessor's response shapes.

const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'timeout', 'cancelled'];
const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'];
const WORKER_STATUSES = ['idle', 'busy', 'offline'];
const ROLES = ['system', 'user', 'assistant', 'function', 'tool'];

/** schemas/task.py TaskResponse. */
const TASK: Fields = {
  id: 'uuid',
  problem_id: 'string',
  status: oneOf(TASK_STATUSES),
  parameters: 'object',
  worker_id: nullable('string'),
  result: nullable('object'),
  error_details: nullable('string'),
  created_at: 'datetime',
  updated_at: 'datetime',
  started_at: nullable('datetime'),
  completed_at: nullable('datetime'),
};

/** schemas/worker.py WorkerResponse. */
const WORKER: Fields = {
  id: 'string',
  backend_type: 'string',
  status: oneOf(WORKER_STATUSES),
  last_heartbeat: 'datetime',
  current_task_id: nullable('uuid'),
  capabilities: 'object',
  metadata: 'object',
  tasks_completed: 'int',
  tasks_failed: 'int',
  registered_at: 'datetime',
};

/** schemas/task.py TaskLogEntry. */
const LOG: Fields = {
  id: 'uuid',
  task_id: 'uuid',
  timestamp: 'datetime',
  level: oneOf(LOG_LEVELS),
  message: 'string',
  context: 'object',
};

/** schemas/llm_conversation.py LLMConversationSummary. */
const CONVERSATION_SUMMARY: Fields = {
  id: 'uuid',
  task_id: 'uuid',
  session_id: 'uuid',
  started_at: 'datetime',
  ended_at: nullable('datetime'),
  model_name: nullable('string'),
  total_messages: 'int',
  total_tokens: nullable('int'),
  success: nullable('bool'),
};

/** schemas/llm_conversation.py LLMMessage (its messages were dicts of these). */
const MESSAGE: Fields = { timestamp: 'datetime', role: oneOf(ROLES), content: 'string' };

/** FastAPI's HTTPException body. */
const HTTP_ERROR = obj({ detail: 'string' });

const WORKER_CLIENT_REGISTRATION = {
  worker_id: 'worker-101-kind',
  backend_type: 'compat',
  capabilities: { max_parallel_tasks: 1, supported_problems: [] },
  metadata: { host: 'compat-host', pid: 4242, version: '1.0.0', kind_cluster: 'worker-101-kind' },
};
const COMPLETION = {
  success: true,
  result: { solution: 'restart service', confidence: 0.95 },
  execution_time: '2025-09-14T10:30:00.000000',
};

// ---------------------------------------------------------------------------------------------
// The table.

interface Ctx {
  base: string;
  ids: Record<string, string>;
}

interface Req {
  method: 'GET' | 'POST';
  path: string;
  /** A JSON body; `raw` sends these bytes with `type` as the content type instead. */
  json?: unknown;
  raw?: { type: string; bytes: string };
}

interface Row {
  endpoint: string;
  /** What is sent, in words (the client or document it comes from). */
  request: string;
  send: (c: Ctx) => Req;
  status: number;
  /** The answer's required fields with their types (and values, where the client relies on them). */
  body: Spec;
  source: string;
  /** The item of issue 10 that lists a difference here, when one was found. */
  issue?: string;
  /** Data the request needs that no earlier row made (through our own API). */
  prepare?: (c: Ctx) => Promise<void>;
  /** Remembers what later rows need from this answer. */
  keep?: (c: Ctx, body: unknown) => void;
}

const get = (path: string) => (): Req => ({ method: 'GET', path });
const id = (c: Ctx, name: string) => c.ids[name] ?? `missing-${name}`;
/** aiohttp's body-less POST (test_integrated.py): an empty body typed application/octet-stream. */
const OCTET = { type: 'application/octet-stream', bytes: '' };
const keepId = (name: string) => (c: Ctx, body: unknown) => {
  const v = (body as { id?: unknown } | null)?.id;
  if (typeof v === 'string') c.ids[name] = v;
};

const TABLE: Row[] = [
  // Health and monitoring.
  {
    endpoint: 'GET /',
    request: 'no parameters',
    send: get('/'),
    status: 200,
    body: obj({ name: 'string', version: 'string', docs: 'string', health: 'string' }),
    source: 'code: api/health.py root()',
    issue: '13',
  },
  {
    endpoint: 'GET /health',
    request: 'no parameters',
    send: get('/health'),
    status: 200,
    body: obj({
      status: oneOf(['healthy', 'degraded', 'unhealthy']),
      version: 'string',
      timestamp: 'datetime',
      database: obj({ connected: 'bool', latency_ms: 'number' }),
      workers: obj({ total: 'int', idle: 'int', busy: 'int', offline: 'int' }),
      queue: obj({ pending: 'int', running: 'int', completed: 'int' }),
    }),
    source: 'schema: HealthResponse; doc: Health Check',
    issue: '5',
  },
  {
    endpoint: 'GET /ready',
    request: 'no parameters',
    send: get('/ready'),
    status: 200,
    body: obj({ ready: 'bool', database: 'bool', workers: 'bool' }),
    source: 'doc: Readiness Check',
    issue: '13',
  },
  {
    endpoint: 'GET /queue/stats',
    request: 'no parameters',
    send: get('/queue/stats'),
    status: 200,
    body: obj({
      pending: 'int',
      running: 'int',
      completed: 'int',
      failed: 'int',
      timeout: 'int',
      cancelled: 'int',
      total: 'int',
      success_rate: nullable('number'),
      average_wait_time: nullable('number'),
      average_execution_time: nullable('number'),
    }),
    source: 'schema: QueueStatsResponse',
    issue: '5',
  },
  {
    endpoint: 'GET /metrics',
    request: 'no parameters',
    send: get('/metrics'),
    status: 200,
    body: 'text',
    source: 'doc: Prometheus Metrics',
  },
  {
    endpoint: 'GET /docs',
    request: 'no parameters',
    send: get('/docs'),
    status: 200,
    body: 'text',
    source: 'code: api/health.py root() names it; README: /docs & /redoc',
  },
  {
    endpoint: 'GET /redoc',
    request: 'no parameters',
    send: get('/redoc'),
    status: 200,
    body: 'text',
    source: 'README: /docs & /redoc',
    issue: '13',
  },

  // Tasks.
  {
    endpoint: 'POST /api/v1/tasks',
    request: "the doc's Create Task body (timeout and agent_config in parameters)",
    send: () => ({
      method: 'POST',
      path: '/api/v1/tasks',
      json: {
        problem_id: 'test-problem-001',
        parameters: { max_steps: 30, timeout: 1800, agent_config: { model: 'gpt-4', temperature: 0.7 } },
      },
    }),
    status: 201,
    body: obj({ ...TASK, status: eq('pending'), parameters: sub({ max_steps: 30, timeout: 1800 }) }),
    source: 'doc: Create Task; schema: TaskResponse',
    keep: keepId('taskA'),
  },
  {
    endpoint: 'POST /api/v1/tasks',
    request: "the schema's TaskCreate example (priority and backend_type inside parameters)",
    send: () => ({
      method: 'POST',
      path: '/api/v1/tasks',
      json: {
        problem_id: 'sock-shop-chaos',
        parameters: { max_steps: 30, timeout_minutes: 30, priority: 5, backend_type: 'compat' },
      },
    }),
    status: 201,
    body: obj({
      ...TASK,
      parameters: sub({ max_steps: 30, timeout_minutes: 30, priority: 5, backend_type: 'compat' }),
    }),
    source: 'schema: TaskCreate example, TaskResponse (parameters as sent)',
    issue: '7',
    keep: keepId('taskB'),
  },
  {
    endpoint: 'GET /api/v1/tasks/{task_id}',
    request: 'the first task',
    send: (c) => get(`/api/v1/tasks/${id(c, 'taskA')}`)(),
    status: 200,
    body: obj({ ...TASK, problem_id: eq('test-problem-001') }),
    source: 'doc: Get Task; schema: TaskResponse',
  },
  {
    endpoint: 'GET /api/v1/tasks/{task_id}',
    request: 'an unknown task id',
    send: () => get(`/api/v1/tasks/${randomUUID()}`)(),
    status: 404,
    body: HTTP_ERROR,
    source: 'code: api/tasks.py get_task (HTTPException 404)',
    issue: '14',
  },
  {
    endpoint: 'GET /api/v1/tasks',
    request: 'no parameters',
    send: get('/api/v1/tasks'),
    status: 200,
    body: obj({ tasks: list(obj(TASK), 2), total: 'int', page: eq(1), page_size: eq(20) }),
    source: 'schema: TaskListResponse; code: page_size Query(20)',
    issue: '12',
  },
  {
    endpoint: 'GET /api/v1/tasks',
    request: 'status and problem_id filters',
    send: get('/api/v1/tasks?status=pending&problem_id=test-problem-001'),
    status: 200,
    body: obj({ tasks: list(obj({ ...TASK, problem_id: eq('test-problem-001') }), 1), total: eq(1) }),
    source: 'doc: List Tasks; code: api/tasks.py list_tasks',
  },
  {
    endpoint: 'GET /api/v1/tasks',
    request: 'sort=created_at',
    send: get('/api/v1/tasks?sort=created_at'),
    status: 200,
    body: obj({ tasks: list(obj(TASK), 2), total: 'int' }),
    source: 'code: sort pattern ^-?(created_at|updated_at|started_at|completed_at)$',
  },
  {
    endpoint: 'GET /api/v1/tasks',
    request: 'sort=bogus',
    send: get('/api/v1/tasks?sort=bogus'),
    status: 422,
    body: 'object',
    source: 'code: sort pattern (FastAPI answers 422)',
    issue: '12',
  },
  {
    endpoint: 'GET /api/v1/tasks/stats',
    request: 'no parameters',
    send: get('/api/v1/tasks/stats'),
    status: 200,
    body: obj({
      total_tasks: 'int',
      pending_tasks: 'int',
      running_tasks: 'int',
      completed_tasks: 'int',
      failed_tasks: 'int',
      timeout_tasks: 'int',
      cancelled_tasks: 'int',
      avg_execution_time: nullable('number'),
      success_rate: 'number',
      tasks_by_problem: map('int'),
      tasks_by_worker: map('int'),
    }),
    source: 'schema: TaskStatistics',
    issue: '4',
  },
  {
    endpoint: 'GET /api/v1/tasks/{task_id}/logs',
    request: 'a task just created',
    send: (c) => get(`/api/v1/tasks/${id(c, 'taskA')}/logs`)(),
    status: 200,
    body: obj({ logs: list(obj(LOG), 1), total: 'int' }),
    source: 'schema: TaskLogsResponse, TaskLogEntry (id: UUID)',
    issue: '6 (total, server-written entries); log id type: not listed',
  },
  {
    endpoint: 'GET /api/v1/tasks/{task_id}/logs',
    request: 'level=INFO (upper case)',
    send: (c) => get(`/api/v1/tasks/${id(c, 'taskA')}/logs?level=INFO`)(),
    status: 200,
    body: obj({ logs: list(obj(LOG)), total: 'int' }),
    source: 'code: api/tasks.py get_task_logs',
    issue: '6',
  },

  // Workers, as the predecessor's worker client calls them.
  {
    endpoint: 'POST /api/v1/workers/register',
    request: "workers/src/worker.py's registration body",
    send: () => ({ method: 'POST', path: '/api/v1/workers/register', json: WORKER_CLIENT_REGISTRATION }),
    status: 201,
    body: obj({ ...WORKER, id: eq('worker-101-kind'), backend_type: eq('compat'), status: eq('idle') }),
    source: 'doc: Register Worker (201); schema: WorkerResponse',
    issue: '8',
  },
  {
    endpoint: 'GET /api/v1/workers',
    request: 'no parameters',
    send: get('/api/v1/workers'),
    status: 200,
    body: obj({ workers: list(obj(WORKER), 1), total: 'int' }),
    source: 'schema: WorkerListResponse',
  },
  {
    endpoint: 'GET /api/v1/workers',
    request: 'status=idle&backend_type=compat',
    send: get('/api/v1/workers?status=idle&backend_type=compat'),
    status: 200,
    body: obj({ workers: list(obj({ ...WORKER, id: eq('worker-101-kind') }), 1), total: eq(1) }),
    source: 'doc: List Workers; schema: WorkerListResponse',
  },
  {
    endpoint: 'GET /api/v1/workers/{worker_id}',
    request: 'the registered worker',
    send: get('/api/v1/workers/worker-101-kind'),
    status: 200,
    body: obj({ ...WORKER, metadata: sub({ kind_cluster: 'worker-101-kind' }) }),
    source: 'schema: WorkerResponse',
  },
  {
    endpoint: 'GET /api/v1/workers/{worker_id}',
    request: 'an unknown worker',
    send: get('/api/v1/workers/worker-999-kind'),
    status: 404,
    body: HTTP_ERROR,
    source: 'code: api/workers.py get_worker (HTTPException 404)',
    issue: '14',
  },
  {
    endpoint: 'POST /api/v1/workers/{worker_id}/heartbeat',
    request: "the worker client's idle heartbeat",
    send: () => ({
      method: 'POST',
      path: '/api/v1/workers/worker-101-kind/heartbeat',
      json: { status: 'idle', current_task_id: null },
    }),
    status: 200,
    body: obj({ ...WORKER, id: eq('worker-101-kind'), status: eq('idle') }),
    source: 'code: api/workers.py worker_heartbeat (response_model=WorkerResponse)',
    issue: '8',
  },
  {
    endpoint: 'POST /api/v1/workers/{worker_id}/heartbeat',
    request: "the doc's heartbeat body",
    send: () => ({
      method: 'POST',
      path: '/api/v1/workers/worker-101-kind/heartbeat',
      json: { status: 'idle', current_task_id: null },
    }),
    status: 200,
    body: obj({ message: 'string', timestamp: 'datetime' }),
    source: 'doc: Worker Heartbeat ({message, timestamp})',
    issue: 'not listed (the doc and the code disagree; a superset holds both)',
  },
  {
    endpoint: 'POST /api/v1/workers/{worker_id}/claim',
    request: 'no body, no content type (httpx, as the worker client sends it)',
    send: () => ({ method: 'POST', path: '/api/v1/workers/worker-101-kind/claim' }),
    status: 200,
    body: obj({ ...TASK, status: eq('running'), worker_id: eq('worker-101-kind') }),
    source: 'doc: Claim Task; schema: TaskResponse',
    keep: keepId('claimed1'),
  },
  {
    endpoint: 'POST /api/v1/workers/{worker_id}/heartbeat',
    request: "the worker client's busy heartbeat naming its task",
    send: (c) => ({
      method: 'POST',
      path: '/api/v1/workers/worker-101-kind/heartbeat',
      json: { status: 'busy', current_task_id: id(c, 'claimed1') },
    }),
    status: 200,
    body: obj({ ...WORKER, status: eq('busy') }),
    source: 'code: api/workers.py worker_heartbeat; schema: WorkerHeartbeat, WorkerResponse',
    issue: '8',
  },
  {
    endpoint: 'POST /api/v1/workers/{worker_id}/tasks/{task_id}/complete',
    request: "the worker client's body {success, result, execution_time}",
    send: (c) => ({
      method: 'POST',
      path: `/api/v1/workers/worker-101-kind/tasks/${id(c, 'claimed1')}/complete`,
      json: COMPLETION,
    }),
    status: 200,
    body: obj({ ...TASK, status: eq('completed'), result: sub(COMPLETION) }),
    source: 'code: api/workers.py complete_task (stores the body as the result)',
    issue: '2',
  },
  {
    endpoint: 'POST /api/v1/workers/{worker_id}/claim',
    request: 'no body, no content type',
    send: () => ({ method: 'POST', path: '/api/v1/workers/worker-101-kind/claim' }),
    status: 200,
    body: obj({ ...TASK, status: eq('running'), worker_id: eq('worker-101-kind') }),
    source: 'schema: TaskResponse',
    keep: keepId('claimed2'),
  },
  {
    endpoint: 'POST /api/v1/workers/{worker_id}/tasks/{task_id}/fail',
    request: "the worker client's body {error}",
    send: (c) => ({
      method: 'POST',
      path: `/api/v1/workers/worker-101-kind/tasks/${id(c, 'claimed2')}/fail`,
      json: { error: 'AIOpsLab import error: boom' },
    }),
    status: 200,
    body: obj({ ...TASK, status: eq('failed'), error_details: match(/AIOpsLab import error: boom/) }),
    source: 'code: api/workers.py fail_task (error_details: str); schema: TaskResponse',
    issue: '3',
  },
  {
    endpoint: 'POST /api/v1/workers/{worker_id}/claim',
    request: 'nothing left to claim',
    send: () => ({ method: 'POST', path: '/api/v1/workers/worker-101-kind/claim' }),
    status: 200,
    body: 'null',
    source:
      'code: response_model=Optional[TaskResponse] answers null (the doc says 204; the client takes both)',
  },
  {
    endpoint: 'GET /api/v1/workers/{worker_id}/stats',
    request: 'the worker that completed one task and failed one',
    send: get('/api/v1/workers/worker-101-kind/stats'),
    status: 200,
    body: obj({
      worker_id: eq('worker-101-kind'),
      total_tasks: eq(2),
      success_rate: 'number',
      average_task_duration: nullable('number'),
      uptime_seconds: 'number',
      current_status: oneOf(WORKER_STATUSES),
    }),
    source: 'schema: WorkerStatsResponse',
    issue: '10',
  },
  {
    endpoint: 'POST /api/v1/tasks/{task_id}/cancel',
    request: 'a pending task, no body',
    prepare: async (c) => {
      c.ids.toCancel = await submit(c, {
        problem_id: 'compat-cancel',
        parameters: { backend_type: 'nobody' },
      });
    },
    send: (c) => ({ method: 'POST', path: `/api/v1/tasks/${id(c, 'toCancel')}/cancel` }),
    status: 200,
    body: obj({ ...TASK, status: eq('cancelled') }),
    source: 'code: api/tasks.py cancel_task (response_model=TaskResponse)',
  },
  {
    endpoint: 'POST /api/v1/tasks/{task_id}/cancel',
    request: 'a pending task (the doc’s answer)',
    prepare: async (c) => {
      c.ids.toCancel2 = await submit(c, {
        problem_id: 'compat-cancel',
        parameters: { backend_type: 'nobody' },
      });
    },
    send: (c) => ({ method: 'POST', path: `/api/v1/tasks/${id(c, 'toCancel2')}/cancel` }),
    status: 200,
    body: obj({ message: 'string', task_id: 'uuid' }),
    source: 'doc: Cancel Task ({message, task_id})',
    issue: 'not listed (the doc and the code disagree; a superset holds both)',
  },
  {
    endpoint: 'POST /api/v1/tasks/{task_id}/cancel',
    request: 'the task cancelled already',
    send: (c) => ({ method: 'POST', path: `/api/v1/tasks/${id(c, 'toCancel')}/cancel` }),
    status: 400,
    body: HTTP_ERROR,
    source: 'code: api/tasks.py cancel_task (ValueError → 400)',
    issue: '14',
  },

  // LLM conversations (recorded through our gateway for a task of another worker-client worker).
  {
    endpoint: 'GET /api/v1/llm-conversations',
    request: 'no parameters',
    prepare: recordConversation,
    send: get('/api/v1/llm-conversations'),
    status: 200,
    body: obj({
      conversations: list(obj(CONVERSATION_SUMMARY), 1),
      total: 'int',
      page: eq(1),
      page_size: eq(20),
    }),
    source: 'schema: LLMConversationListResponse; code: page_size Query(20)',
  },
  {
    endpoint: 'GET /api/v1/llm-conversations',
    request: 'task_id and model_name filters',
    send: (c) => get(`/api/v1/llm-conversations?task_id=${id(c, 'convTask')}&model_name=scripted%3Aecho`)(),
    status: 200,
    body: obj({
      conversations: list(obj(CONVERSATION_SUMMARY), 1),
      total: eq(1),
      page: eq(1),
      page_size: eq(20),
    }),
    source: 'code: api/llm_conversations.py list_conversations',
  },
  {
    endpoint: 'GET /api/v1/llm-conversations/{conversation_id}',
    request: 'the recorded conversation',
    send: (c) => get(`/api/v1/llm-conversations/${id(c, 'conv')}`)(),
    status: 200,
    body: obj({
      ...CONVERSATION_SUMMARY,
      llm_config: 'object',
      metadata: sub({
        problem_id: 'compat-conversation',
        worker_id: 'worker-102-kind',
        cluster_name: 'kind-compat-102',
      }),
      total_cost: nullable(obj({ input_tokens: 'number', output_tokens: 'number', total_cost: 'number' })),
      messages: list(obj(MESSAGE), 4),
    }),
    source: 'schema: LLMConversationResponse; README: metadata (problem_id, worker_id, kind cluster)',
  },
  {
    endpoint: 'GET /api/v1/llm-conversations/task/{task_id}/conversations',
    request: 'the task that talked',
    send: (c) => get(`/api/v1/llm-conversations/task/${id(c, 'convTask')}/conversations`)(),
    status: 200,
    body: list(obj(CONVERSATION_SUMMARY), 1),
    source: 'code: response_model=List[LLMConversationSummary]',
  },
  {
    endpoint: 'GET /api/v1/llm-conversations/task/{task_id}/conversations',
    request: 'an unknown task',
    send: () => get(`/api/v1/llm-conversations/task/${randomUUID()}/conversations`)(),
    status: 404,
    body: HTTP_ERROR,
    source: 'code: api/llm_conversations.py get_task_conversations (404 "Task not found")',
    issue: '14 (detail)',
  },
  {
    endpoint: 'GET /api/v1/llm-conversations/{conversation_id}/messages',
    request: 'no parameters',
    send: (c) => get(`/api/v1/llm-conversations/${id(c, 'conv')}/messages`)(),
    status: 200,
    body: obj({ conversation_id: 'uuid', total_messages: eq(4), messages: list(obj(MESSAGE), 4) }),
    source: 'code: api/llm_conversations.py get_conversation_messages',
  },
  {
    endpoint: 'GET /api/v1/llm-conversations/{conversation_id}/messages',
    request: 'role=assistant&limit=1',
    send: (c) => get(`/api/v1/llm-conversations/${id(c, 'conv')}/messages?role=assistant&limit=1`)(),
    status: 200,
    body: obj({
      conversation_id: 'uuid',
      total_messages: eq(1),
      messages: list(obj({ ...MESSAGE, role: eq('assistant') }), 1),
    }),
    source: 'code: api/llm_conversations.py get_conversation_messages (role filter, limit)',
  },
  {
    endpoint: 'GET /api/v1/llm-conversations/{conversation_id}/messages',
    request: 'an unknown conversation',
    send: () => get(`/api/v1/llm-conversations/${randomUUID()}/messages`)(),
    status: 404,
    body: HTTP_ERROR,
    source: 'code: 404 "Conversation not found"',
    issue: '14 (detail)',
  },
  {
    endpoint: 'GET /api/v1/llm-conversations/stats/summary',
    request: 'no parameters',
    send: get('/api/v1/llm-conversations/stats/summary'),
    status: 200,
    body: obj({
      total_conversations: 'int',
      conversations_by_model: map('int'),
      avg_messages_per_conversation: 'number',
      total_tokens_consumed: 'int',
      success_rate: 'number',
      successful_conversations: 'int',
    }),
    source: 'code: api/llm_conversations.py get_conversation_stats',
  },

  // Internal workers (last: they start in-process workers).
  {
    endpoint: 'GET /api/v1/workers/internal/status',
    request: 'no parameters',
    send: get('/api/v1/workers/internal/status'),
    status: 200,
    body: obj({
      running: 'bool',
      num_workers: 'int',
      workers: map(obj({ status: 'string', has_executor: 'bool' })),
    }),
    source: 'code: WorkerManager.get_status (workers: id → {status, has_executor}; the doc shows a list)',
    issue: '10',
  },
  {
    endpoint: 'POST /api/v1/workers/internal/scale',
    request: '?num_workers=2, empty application/octet-stream body (aiohttp, test_integrated.py)',
    send: () => ({ method: 'POST', path: '/api/v1/workers/internal/scale?num_workers=2', raw: OCTET }),
    status: 200,
    body: obj({ previous_workers: 'int', current_workers: eq(2), status: eq('scaled') }),
    source: 'code: api/workers_internal.py scale_internal_workers',
    issue: '1, 10',
  },
  {
    endpoint: 'POST /api/v1/workers/internal/scale',
    request: '?num_workers=1, no body (curl -X POST)',
    send: () => ({ method: 'POST', path: '/api/v1/workers/internal/scale?num_workers=1' }),
    status: 200,
    body: obj({ message: 'string', previous_count: 'int', new_count: eq(1) }),
    source: 'doc: Scale Internal Workers ({message, previous_count, new_count})',
    issue: 'not listed (the doc and the code disagree; a superset holds both)',
  },
  {
    endpoint: 'POST /api/v1/workers/internal/scale',
    request: '?num_workers=51',
    send: () => ({ method: 'POST', path: '/api/v1/workers/internal/scale?num_workers=51', raw: OCTET }),
    status: 422,
    body: 'object',
    source: 'code: Query(..., ge=0, le=50)',
    issue: '1 (the content type is refused first)',
  },
  {
    endpoint: 'POST /api/v1/workers/internal/stop',
    request: 'empty application/octet-stream body',
    send: () => ({ method: 'POST', path: '/api/v1/workers/internal/stop', raw: OCTET }),
    status: 200,
    body: obj({ status: eq('stopped'), message: 'string' }),
    source: 'code: api/workers_internal.py stop_internal_workers',
    issue: '1, 10',
  },
  {
    endpoint: 'POST /api/v1/workers/internal/start',
    request: 'empty application/octet-stream body',
    send: () => ({ method: 'POST', path: '/api/v1/workers/internal/start', raw: OCTET }),
    status: 200,
    body: obj({ status: eq('started'), workers: 'int' }),
    source: 'code: api/workers_internal.py start_internal_workers',
    issue: '1, 10',
  },
  {
    endpoint: 'POST /api/v1/workers/internal/stop',
    request: 'no body',
    send: () => ({ method: 'POST', path: '/api/v1/workers/internal/stop' }),
    status: 200,
    body: obj({ message: 'string', stopped_count: 'int' }),
    source: 'doc: Stop Internal Workers ({message, stopped_count})',
    issue: 'not listed (the doc and the code disagree; a superset holds both)',
  },
  {
    endpoint: 'POST /api/v1/workers/internal/start',
    request: 'no body',
    send: () => ({ method: 'POST', path: '/api/v1/workers/internal/start' }),
    status: 200,
    body: obj({ message: 'string', worker_count: 'int' }),
    source: 'doc: Start Internal Workers ({message, worker_count})',
    issue: 'not listed (the doc and the code disagree; a superset holds both)',
  },
];

// ---------------------------------------------------------------------------------------------
// Running it.

async function send(c: Ctx, req: Req): Promise<{ status: number; body: unknown; text: string }> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (req.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.json);
  } else if (req.raw) {
    headers['content-type'] = req.raw.type;
    body = req.raw.bytes;
  }
  const res = await fetch(`${c.base}${req.path}`, { method: req.method, headers, body });
  const text = await res.text();
  const isJson = (res.headers.get('content-type') ?? '').includes('json');
  return { status: res.status, text, body: isJson ? JSON.parse(text) : text };
}

async function submit(c: Ctx, task: unknown): Promise<string> {
  const r = await send(c, { method: 'POST', path: '/api/v1/tasks', json: task });
  assert.equal(r.status, 201, r.text);
  return (r.body as { id: string }).id;
}

/**
 * A task of its own, claimed by a second worker-client worker (with its kind cluster) and
 * talked through the gateway for two turns with the scripted echo model.
 */
async function recordConversation(c: Ctx): Promise<void> {
  const register = await send(c, {
    method: 'POST',
    path: '/api/v1/workers/register',
    json: {
      ...WORKER_CLIENT_REGISTRATION,
      worker_id: 'worker-102-kind',
      backend_type: 'compat-talk',
      metadata: { kind_cluster: 'kind-compat-102' },
    },
  });
  assert.ok(register.status < 300, register.text);
  c.ids.convTask = await submit(c, {
    problem_id: 'compat-conversation',
    parameters: { backend_type: 'compat-talk' },
  });
  const claim = await send(c, { method: 'POST', path: '/api/v1/workers/worker-102-kind/claim' });
  const task = claim.body as { id: string; llm_api_key: string; llm_base_url: string };
  assert.equal(task?.id, c.ids.convTask, claim.text);
  const messages: { role: string; content: string }[] = [];
  for (const turn of ['Which pods are failing?', 'Restart it.']) {
    messages.push({ role: 'user', content: turn });
    const res = await fetch(`${task.llm_base_url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${task.llm_api_key}` },
      body: JSON.stringify({ model: 'scripted:echo', messages }),
    });
    const reply = (await res.json()) as { choices: { message: { content: string } }[] };
    assert.equal(res.status, 200, JSON.stringify(reply));
    messages.push({ role: 'assistant', content: reply.choices[0]!.message.content });
  }
  // The gateway records a call after answering it: wait (bounded) for both records.
  for (let i = 0; i < 200; i++) {
    const r = await send(c, { method: 'GET', path: `/api/v1/llm-conversations?task_id=${c.ids.convTask}` });
    const conv = (r.body as { conversations?: { id: string; message_count?: number }[] }).conversations?.[0];
    if (conv && conv.message_count === 4) {
      c.ids.conv = conv.id;
      return;
    }
    await sleep(50);
  }
  assert.fail('the two calls were not recorded within 10 s');
}

for (const mode of dbModes()) {
  describe(`the predecessor's documented answers, on ours (${mode})`, () => {
    let testDb: TestDb;
    let server: RunningServer;
    let dataDir: string;
    const c: Ctx = { base: '', ids: {} };
    before(async () => {
      testDb = await createTestDb(mode);
      dataDir = mkdtempSync(join(tmpdir(), 'te-compat-'));
      const config = loadConfig({
        PORT: '0',
        LOG_LEVEL: 'silent',
        DATA_DIR: dataDir,
        NUM_INTERNAL_WORKERS: '0',
      });
      server = await startServer(config, { db: testDb.db });
      c.base = server.url;
    });
    after(async () => {
      await server?.close();
      await testDb?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    for (const row of TABLE) {
      it(`${row.endpoint}: ${row.request} → ${row.status}`, async () => {
        await row.prepare?.(c);
        const req = row.send(c);
        const res = await send(c, req);
        row.keep?.(c, res.body);
        const found = [
          ...(res.status === row.status ? [] : [`status: expected ${row.status}, got ${res.status}`]),
          ...differences(res.body, row.body),
        ];
        assert.deepEqual(
          found,
          [],
          `${req.method} ${req.path} differs from the predecessor (${row.source}; issue 10 item ${row.issue ?? '?'}):\n- ${found.join('\n- ')}\nbody: ${res.text.slice(0, 600)}`,
        );
      });
    }
  });
}

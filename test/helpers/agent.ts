/**
 * Helpers for the built-in agent's tests: a fake OpenAI-compatible endpoint on 127.0.0.1 that
 * records what it was sent, canned answers, and the prompts AIOpsLab's stock clients send.
 *
 * The expected system prompts below were produced by running AIOpsLab's own clients (gpt.py,
 * react.py, flash.py, deepseek.py, llama.py at commit ddf7e40) on the same problem, with their
 * LLM and imports stubbed, and capturing the messages they passed to the model.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import {
  type AgentConfig,
  type ChatMessage,
  GatewayAgent,
  LlmCallError,
  type ProblemContext,
  type PromptStyle,
} from '../../src/agent/index.ts';

export const PROBLEM: ProblemContext = {
  // Braces must come through as they are (AIOpsLab formats with str.format, which does not rescan).
  task_description: 'Detect anomalies in {app}.\n',
  instructions: 'Reply with one call.',
  apis: {
    exec_shell: 'Run a shell command.\n    Args: command (str)',
    get_logs: 'Fetch logs.',
    read_traces: 'Read traces.',
    submit: 'Submit the answer.\n    Args: has_anomaly (str)',
  },
};

export const SHELL_ONLY_SYSTEM =
  'Detect anomalies in {app}.\n\nYou are provided with a direct API to a secure terminal to the service where you can run commands:\n\nexec_shell\nRun a shell command.\n    Args: command (str)\n\nFinally, you will submit your solution for this task using the following API:\n\nsubmit\nSubmit the answer.\n    Args: has_anomaly (str)\n\nIMPORTANT:\n1. The submit() call must strictly follow its defined parameter signature for this task.\n2. Provide the call in a markdown code block.\n\nAt each turn respond with:\nAction: <your action>\n';

export const EXPECTED_SYSTEM: Record<PromptStyle, string> = {
  gpt: SHELL_ONLY_SYSTEM,
  deepseek: SHELL_ONLY_SYSTEM,
  react:
    'Detect anomalies in {app}.\n\nYou are provided with the following APIs to interact with the service:\n\n\nget_logs\nFetch logs.\n\nread_traces\nRead traces.\n\n\nYou are also provided an API to a secure terminal to the service where you can run commands:\n\n\nexec_shell\nRun a shell command.\n    Args: command (str)\n\n\nFinally, you will submit your solution for this task using the following API:\n\n\nsubmit\nSubmit the answer.\n    Args: has_anomaly (str)\n\n\nAt each turn think step-by-step and respond with:\nThought: <your thought>\nAction: <your action>\n',
  llama:
    'Detect anomalies in {app}.\n\nYou are provided with the following APIs to interact with the service:\n\n\nget_logs\nFetch logs.\n\n\nYou are also provided an API to a secure terminal to the service where you can run commands:\n\n\nexec_shell\nRun a shell command.\n    Args: command (str)\n\n\nFinally, you will submit your solution for this task using the following API:\n\n\nsubmit\nSubmit the answer.\n    Args: has_anomaly (str)\n\n\nAt each turn think step-by-step and respond with:\nThought: <your thought>\nAction: <your action>\n',
  flash:
    '\n        Problem Description: Detect anomalies in {app}.\n\n\n        Available Telemetry APIs:\n        get_logs\nFetch logs.\n\nread_traces\nRead traces.\n\n        Shell API:\n        exec_shell\nRun a shell command.\n    Args: command (str)\n\n        Submit API:\n        submit\nSubmit the answer.\n    Args: has_anomaly (str)\n        ',
};

export const REACT_SUFFIX =
  '\n\nDO NOT REPEAT ACTIONS! Respond with:\nThought: <your thought on the previous output>\nAction: <your action towards mitigating>\n';

export const FIRST_INPUT = 'Please take the next action';
export const SECOND_INPUT = 'pod-a Running\nPlease take the next action';

/** The messages a stock client of `style` sends on its second call, written out by hand. */
export function expectedSecondPrompt(style: PromptStyle, firstReply: string): ChatMessage[] {
  const user = (input: string): ChatMessage => ({
    role: 'user',
    content: style === 'react' ? input + REACT_SUFFIX : input,
  });
  return [
    { role: 'system', content: EXPECTED_SYSTEM[style] },
    { role: 'user', content: PROBLEM.instructions },
    ...(style === 'deepseek' ? [{ role: 'assistant', content: '' } as ChatMessage] : []),
    user(FIRST_INPUT),
    { role: 'assistant', content: firstReply },
    user(SECOND_INPUT),
  ];
}

export interface Captured {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: { model: string; messages: ChatMessage[]; [key: string]: unknown };
}

/** `hang` keeps the request open without answering (until the test's server closes). */
export type Answer = { status?: number; json?: unknown; text?: string } | { hang: true };

export interface FakeEndpoint {
  baseUrl: string;
  requests: Captured[];
  /** Resolves when the n-th request (1-based) has arrived. */
  arrived(n: number): Promise<void>;
}

/** A fake OpenAI-compatible endpoint; `answer` gets each request and its 0-based index. */
export async function fakeEndpoint(
  t: TestContext,
  answer: (req: Captured, index: number) => Answer,
): Promise<FakeEndpoint> {
  const requests: Captured[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const captured: Captured = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
    };
    requests.push(captured);
    for (const w of waiters) if (requests.length >= w.n) w.resolve();
    const reply = answer(captured, requests.length - 1);
    if ('hang' in reply) return;
    const text = reply.text ?? JSON.stringify(reply.json);
    res.writeHead(reply.status ?? 200, {
      'content-type': reply.text === undefined ? 'application/json' : 'text/plain',
    });
    res.end(text);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/llm/v1`,
    requests,
    arrived: (n) =>
      requests.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

export function completion(content: string | null, extra: Record<string, unknown> = {}) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    model: 'gpt-4o-2024-08-06',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
    ...extra,
  };
}

export function openAiError(status: number, code: string | null, type: string, message: string): Answer {
  return { status, json: { error: { message, type, param: null, code } } };
}

export function agentFor(endpoint: FakeEndpoint, config: Partial<AgentConfig> = {}, signal?: AbortSignal) {
  const agent = new GatewayAgent({
    baseUrl: endpoint.baseUrl,
    apiKey: 'task-token-123',
    config: { model: 'gpt-4o', prompt_style: 'gpt', ...config },
    signal,
  });
  agent.init(PROBLEM);
  return agent;
}

/** Asserts `promise` rejects with an LlmCallError and returns it for closer checks. */
export async function rejectsWithLlmError(promise: Promise<unknown>): Promise<LlmCallError> {
  let caught: unknown;
  await assert.rejects(promise, (err) => {
    caught = err;
    return err instanceof LlmCallError;
  });
  return caught as LlmCallError;
}

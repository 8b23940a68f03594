/**
 * The prompts AIOpsLab's stock clients send, rebuilt message for message, so an episode run by
 * the built-in agent is comparable with one run by `clients/gpt.py` (and friends) and a
 * trajectory recorded here trains on the same prompt the baselines were scored with.
 *
 * Every stock client has the same shape: a system message (task description + API docs), the
 * task instructions as the first user message, then one user message per orchestrator input and
 * one assistant message per reply. The styles differ only in the system template, which APIs
 * they document, and what they add around the messages. Sources, in microsoft/AIOpsLab
 * (commit ddf7e40):
 *
 * - `gpt`: clients/gpt.py `GPTAgent.init_context` / `get_action` with `DOCS_SHELL_ONLY`
 *   (clients/utils/templates.py). generic_openai.py, vllm.py, qwen.py, openrouter.py and
 *   gpt_azure_identity.py send the same messages.
 * - `react`: clients/react.py `Agent.init_context` with `DOCS`; `get_action` appends `RESP_INSTR`
 *   to every input (`_add_instr`).
 * - `flash`: clients/flash.py `FlashAgent.init_context` (an inline f-string, indentation included).
 *   Its per-step "hindsight" call is not reproduced: `diagnose_with_hindsight` returns None, so
 *   the stock client throws that answer away and the main prompt never contains it.
 * - `deepseek`: clients/deepseek.py: `DOCS_SHELL_ONLY` plus an empty assistant message after the
 *   instructions, because deepseek-reasoner refuses two user messages in a row.
 * - `llama`: clients/llama.py: `DOCS`, but only APIs whose name contains `get_logs` count as
 *   telemetry, and inputs are sent as they are.
 *
 * Not reproduced: the stock clients' tiktoken trimming (120k tokens, 90k for flash), which drops
 * the oldest messages, system prompt first, once a conversation outgrows that budget.
 */

export const PROMPT_STYLES = ['gpt', 'react', 'flash', 'deepseek', 'llama'] as const;
export type PromptStyle = (typeof PROMPT_STYLES)[number];

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
}

/** What AIOpsLab's `Orchestrator.init_problem` returns: `(task_description, instructions, apis)`. */
export interface ProblemContext {
  readonly task_description: string;
  readonly instructions: string;
  /** API name → docstring, in the orchestrator's order (it is the order the docs are printed in). */
  readonly apis: Readonly<Record<string, string>>;
}

/** One orchestrator input and, once the model has answered, its reply. */
export interface Turn {
  readonly input: string;
  readonly reply?: string;
}

// Template text reproduced from clients/utils/templates.py (`DOCS`), placeholders in Python
// `str.format` syntax.
export const DOCS = `{prob_desc}
You are provided with the following APIs to interact with the service:


{telemetry_apis}


You are also provided an API to a secure terminal to the service where you can run commands:


{shell_api}


Finally, you will submit your solution for this task using the following API:


{submit_api}


At each turn think step-by-step and respond with:
Thought: <your thought>
Action: <your action>
`;

// Reproduced from clients/utils/templates.py (`DOCS_SHELL_ONLY`).
export const DOCS_SHELL_ONLY = `{prob_desc}
You are provided with a direct API to a secure terminal to the service where you can run commands:

{shell_api}

Finally, you will submit your solution for this task using the following API:

{submit_api}

IMPORTANT:
1. The submit() call must strictly follow its defined parameter signature for this task.
2. Provide the call in a markdown code block.

At each turn respond with:
Action: <your action>
`;

// Reproduced from clients/react.py (`RESP_INSTR`); appended to every input after a blank line.
export const REACT_RESPONSE_INSTRUCTIONS = `DO NOT REPEAT ACTIONS! Respond with:
Thought: <your thought on the previous output>
Action: <your action towards mitigating>
`;

// Reproduced from the f-string in clients/flash.py `FlashAgent.init_context`: the leading newline
// and the eight-space indentation are part of what the stock client sends.
export const FLASH_SYSTEM = `
        Problem Description: {prob_desc}

        Available Telemetry APIs:
        {telemetry_apis}

        Shell API:
        {shell_api}

        Submit API:
        {submit_api}
        `;

type ApiFilter = (name: string) => boolean;

interface StyleSpec {
  readonly template: string;
  /** Which APIs fill `{telemetry_apis}` (unused by templates without it). */
  readonly isTelemetry: ApiFilter;
  /** Messages the stock client puts between the instructions and the first input. */
  readonly afterInstructions: readonly ChatMessage[];
  /** How the stock client turns an orchestrator input into its user message. */
  readonly userContent: (input: string) => string;
}

// The stock clients pick APIs by substring of the name, not equality; so do we.
const isShell: ApiFilter = (name) => name.includes('exec_shell');
const isSubmit: ApiFilter = (name) => name.includes('submit');
const isOtherApi: ApiFilter = (name) => !isShell(name) && !isSubmit(name);
const asIs = (input: string) => input;

const STYLES: Record<PromptStyle, StyleSpec> = {
  gpt: { template: DOCS_SHELL_ONLY, isTelemetry: isOtherApi, afterInstructions: [], userContent: asIs },
  react: {
    template: DOCS,
    isTelemetry: isOtherApi,
    afterInstructions: [],
    userContent: (input) => `${input}\n\n${REACT_RESPONSE_INSTRUCTIONS}`,
  },
  flash: { template: FLASH_SYSTEM, isTelemetry: isOtherApi, afterInstructions: [], userContent: asIs },
  deepseek: {
    template: DOCS_SHELL_ONLY,
    isTelemetry: isOtherApi,
    afterInstructions: [{ role: 'assistant', content: '' }],
    userContent: asIs,
  },
  llama: {
    template: DOCS,
    isTelemetry: (name) => name.includes('get_logs'),
    afterInstructions: [],
    userContent: asIs,
  },
};

export function isPromptStyle(value: unknown): value is PromptStyle {
  return (PROMPT_STYLES as readonly unknown[]).includes(value);
}

/** The stock clients' `stringify_apis`: "name\ndoc" blocks separated by a blank line. */
export function formatApiDocs(apis: Readonly<Record<string, string>>, keep: ApiFilter): string {
  return Object.entries(apis)
    .filter(([name]) => keep(name))
    .map(([name, doc]) => `${name}\n${doc}`)
    .join('\n\n');
}

/**
 * Python `str.format` for the placeholders above, in one pass, so braces inside a task
 * description or a docstring are copied as they are and never read as placeholders.
 */
function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (placeholder, key: string) => values[key] ?? placeholder);
}

export function systemPrompt(style: PromptStyle, problem: ProblemContext): string {
  const spec = STYLES[style];
  return fillTemplate(spec.template, {
    prob_desc: problem.task_description,
    telemetry_apis: formatApiDocs(problem.apis, spec.isTelemetry),
    shell_api: formatApiDocs(problem.apis, isShell),
    submit_api: formatApiDocs(problem.apis, isSubmit),
  });
}

/** The user message the stock client of this style sends for one orchestrator input. */
export function userContent(style: PromptStyle, input: string): string {
  return STYLES[style].userContent(input);
}

/**
 * The full prompt for the next call: system, instructions, the style's filler, then each turn as
 * a user message followed by its reply (a turn without a reply contributes only its user message).
 */
export function buildMessages(
  style: PromptStyle,
  problem: ProblemContext,
  turns: readonly Turn[],
): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'system', content: systemPrompt(style, problem) },
    { role: 'user', content: problem.instructions },
    ...STYLES[style].afterInstructions,
  ];
  for (const turn of turns) {
    messages.push({ role: 'user', content: userContent(style, turn.input) });
    if (turn.reply !== undefined) messages.push({ role: 'assistant', content: turn.reply });
  }
  return messages;
}

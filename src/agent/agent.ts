/**
 * The built-in agent for one AIOpsLab episode: it holds the conversation the way a stock client
 * does (see prompt.ts) and asks the gateway for each next action. It only talks to the model;
 * parsing the action and running it belong to the environment, which scores the raw reply
 * exactly as AIOpsLab would, so the reply is returned untouched.
 *
 * A failed call (LlmCallError, or the signal's reason on abort) leaves the turn's input recorded
 * without a reply, as the stock clients do. Calling getAction again with the same input retries
 * that turn without recording the input twice; a different input instead starts a new turn after
 * the unanswered one, so the prompt then holds both inputs as consecutive user messages (again
 * what a stock client would send).
 */
import type { AgentConfig } from './config.ts';
import { type ChatCompletionResult, LlmClient } from './llm-client.ts';
import { buildMessages, type ChatMessage, type ProblemContext, type Turn } from './prompt.ts';

export interface GatewayAgentOptions {
  /** The gateway's OpenAI-compatible root, e.g. `http://127.0.0.1:8000/llm/v1`. */
  baseUrl: string;
  /** The task's gateway token: every call lands on this task's record. */
  apiKey: string;
  config: AgentConfig;
  /** Aborts the call in flight and refuses new ones (cancel, deadline, shutdown). */
  signal?: AbortSignal;
}

export interface UsageTotals {
  /** Completed calls (the ones that produced a reply). */
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

interface MutableTurn {
  input: string;
  reply?: string;
}

export class GatewayAgent {
  private readonly client: LlmClient;
  private readonly config: AgentConfig;
  private readonly signal: AbortSignal | undefined;
  private problem: ProblemContext | null = null;
  private readonly turns: MutableTurn[] = [];
  private busy = false;
  private recordedOn: string | null = null;
  private readonly totals: UsageTotals = {
    calls: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
  };

  constructor(options: GatewayAgentOptions) {
    this.config = options.config;
    this.signal = options.signal;
    this.client = new LlmClient({
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      conversationId: options.config.conversation_id,
    });
  }

  /** Takes what `Orchestrator.init_problem` returned; the orchestrator never repeats it later. */
  init(problem: ProblemContext): void {
    if (this.problem) throw new Error('GatewayAgent.init was already called for this episode');
    this.problem = { ...problem, apis: { ...problem.apis } };
  }

  /** AIOpsLab's `get_action`: the model's reply to `input`, exactly as the model wrote it. */
  async getAction(input: string): Promise<string> {
    const problem = this.problem;
    if (!problem) throw new Error('GatewayAgent.getAction called before init');
    // The orchestrator awaits each action; an overlapping call would interleave two turns.
    if (this.busy) throw new Error('GatewayAgent.getAction called while another call is in flight');
    this.busy = true;
    try {
      const turn = this.turnFor(input);
      const result = await this.client.complete(
        {
          model: this.config.model,
          messages: buildMessages(this.config.prompt_style, problem, this.turns),
          temperature: this.config.temperature,
          max_tokens: this.config.max_tokens,
          top_p: this.config.top_p,
        },
        this.signal,
      );
      turn.reply = result.text;
      this.recordedOn = result.conversationId ?? this.recordedOn;
      this.addUsage(result);
      return result.text;
    } finally {
      this.busy = false;
    }
  }

  /** The conversation so far, as the stock client would hold it; a fresh copy on every call. */
  messages(): readonly ChatMessage[] {
    if (!this.problem) return [];
    return buildMessages(this.config.prompt_style, this.problem, this.turns);
  }

  /** Inputs and replies so far; the last one has no reply when its call failed. */
  history(): readonly Turn[] {
    return this.turns.map((turn) => ({ ...turn }));
  }

  /** The gateway conversation the calls were recorded on (null before the first answer). */
  get conversationId(): string | null {
    return this.recordedOn;
  }

  get usage(): Readonly<UsageTotals> {
    return { ...this.totals };
  }

  /** The unanswered last turn when this is its retry, else a new turn. */
  private turnFor(input: string): MutableTurn {
    const last = this.turns.at(-1);
    if (last && last.reply === undefined && last.input === input) return last;
    const turn: MutableTurn = { input };
    this.turns.push(turn);
    return turn;
  }

  private addUsage(result: ChatCompletionResult): void {
    this.totals.calls += 1;
    if (!result.usage) return;
    this.totals.prompt_tokens += result.usage.prompt_tokens;
    this.totals.completion_tokens += result.usage.completion_tokens;
    this.totals.total_tokens += result.usage.total_tokens;
  }
}

/**
 * One line of `tokens.jsonl` (and the token columns of the Parquet export): a conversation of
 * one attempt as the exact tokens the policy saw and sampled, for trainers that must not
 * re-tokenize text. Built only from token ids the gateway recorded; never guessed.
 */
export interface TokenLine {
  schema_version: string;
  /** The feed cursor of the task's finish (same as the trajectory record's). */
  cursor: string;
  task_id: string;
  attempt: number;
  conversation_id: string;
  conversation_key: string | null;
  model: string | null;
  policy_version: number | null;
  reward: number | null;
  status: string;
  /** False when no call of the conversation had token ids recorded; the id fields are then null. */
  token_ids_recorded: boolean;
  /** Why the ids are missing or partial, in words; null when complete. */
  note: string | null;
  /** The first call's prompt ids. */
  prompt_ids: number[] | null;
  /** Everything after the prompt, turn by turn: sampled tokens, then the environment's. */
  response_ids: number[] | null;
  /** 1 on tokens the policy sampled, 0 on tokens the environment added; aligned with response_ids. */
  response_mask: number[] | null;
  /** The sampled tokens' logprobs, 0 on environment tokens; null when logprobs were not recorded. */
  response_logprobs: number[] | null;
  /** Whether every call's prompt ids extend the previous call's prompt + completion ids. */
  token_consistent: boolean | null;
  /** Where the first call that did not extend the previous context broke it; null when consistent. */
  drift: { call_seq: number; position: number } | null;
  /** Calls whose tokens are in response_ids (the turns before any drift). */
  calls_used: number;
  calls_total: number;
}

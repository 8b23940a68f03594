/** One attempt's life (claim with its gateway token, fenced reports that settle its LLM calls first). */
export {
  type AttemptGateway,
  type AttemptLogger,
  Attempts,
  type ClaimedAttempt,
  type Report,
  type ReportVerdict,
} from './attempts.ts';

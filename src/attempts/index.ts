/** One attempt's life (claim with its gateway token, fenced reports that settle its LLM calls first). */
export { type AttemptGateway, type AttemptLogger, Attempts, type ClaimedAttempt } from './attempts.ts';

-- A conversation's session_id becomes a UUID of its own, made when the conversation is.
--
-- It held the conversation key ("default", or the agent's X-Conversation-Id), which
-- conversation_key serves already; the Python task executor's clients read session_id as a
-- UUID, one per conversation (issue 10). Rows recorded before this get a fresh one: their key
-- stays in conversation_key. USING runs once per row, so every row gets its own.
ALTER TABLE llm_conversations
  ALTER COLUMN session_id SET DATA TYPE uuid USING gen_random_uuid(),
  ALTER COLUMN session_id SET DEFAULT gen_random_uuid(),
  ALTER COLUMN session_id SET NOT NULL;

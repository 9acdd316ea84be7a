-- Prompt tokens the provider served from its prompt cache (usage.prompt_tokens_details
-- .cached_tokens), per LLM step and totalled per attempt; 0 when the server does not report it.
ALTER TABLE llm_steps ADD COLUMN cached_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE item_attempts ADD COLUMN cached_tokens BIGINT NOT NULL DEFAULT 0;

"""One submodule per integration, each importing its own optional package only when imported itself:
`fastapi` (AuditMiddleware), `langchain` (AuditCallbackHandler), `openai` (AuditedOpenAI,
emit_chat_completion_receipt), `anthropic` (AuditedAnthropic). Importing this package loads none of them."""

"""The agent through the OpenAI chat completions API: requests mapped onto chats, answers in OpenAI's shapes."""

"""Agent profiles: what a chat's agent is (its prompt, model, tools and step limit), chosen when the chat is made."""

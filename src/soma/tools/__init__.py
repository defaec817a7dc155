"""The agent's tools: one registry for the built-ins and every MCP server's, the loop's durable steps, approvals."""

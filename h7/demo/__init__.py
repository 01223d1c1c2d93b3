"""The demo kit: a synthetic LLM agent, its local model API, and one attack per channel."""

"""What the software ASKS: LLM specs from config.json, and the ops of a step."""

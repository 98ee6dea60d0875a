"""Storage: tortoise models, database start-up and the group-commit durable writer."""

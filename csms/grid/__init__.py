"""Grid planning: instances, the allocation kernel, the LP reference, the checker."""

"""First-stage retrieval: each kind turns (collection, queries) into a TREC run file."""

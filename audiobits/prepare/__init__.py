"""Preparing token bins: encode a corpus's utterances (sharded, resumable), merge the shards into bins, keep every
representation on the same utterances."""

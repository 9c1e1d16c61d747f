"""The offline demo and the synthetic sources of known entropy it and the tests use."""

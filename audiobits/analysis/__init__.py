"""Reading finished runs: the report's table and views, figures, sanity checks, baselines and per-speaker, per-language
and conditional breakdowns. Imports neither training nor encoding."""

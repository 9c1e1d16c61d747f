"""Training and evaluating the small GPT on one stream: the Lightning module, its loss, schedule and final evaluation,
and the fit/validate/test CLI."""

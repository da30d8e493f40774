"""How each entry point words and tabulates its typed results (markdown tables, summaries, the
tour's report sections); the HTML renderer is ``experiments.report``."""

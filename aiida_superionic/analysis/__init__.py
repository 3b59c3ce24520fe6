"""Analysis of results: figures now; the descriptor table and statistics as the project grows."""

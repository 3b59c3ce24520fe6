"""Analysis of results: the descriptor table, the paper's statistics, models, figures and the report.

* :mod:`.export` reads the table out of an AiiDA profile (the only module here that imports AiiDA);
* :mod:`.table` holds its columns, files (CSV, Parquet) and checks;
* :mod:`.statistics` (500 ± 100 K selection, correlations, PCA), :mod:`.classes` (k-means),
  :mod:`.ml` (MLP and kernel ridge, validated by material), :mod:`.figures` and :mod:`.report`
  work on a ``pandas.DataFrame``;
* :mod:`.plots` draws figures of single runs (MSD).
"""

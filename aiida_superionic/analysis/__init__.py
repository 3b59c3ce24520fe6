"""Analysis of results: the descriptor table, the paper's statistics, models, figures and the report.

* :mod:`.export` reads the table out of an AiiDA profile (the only module here that imports AiiDA);
* :mod:`.table` holds its columns, files (CSV, Parquet) and checks;
* :mod:`.selection` (flagged D kept out; the rows of the statistics near a temperature),
  :mod:`.statistics` (correlations, categorical tests, PCA), :mod:`.classes` (k-means),
  :mod:`.ml` (MLP, kernel ridge and random forest, validated by material), :mod:`.labels` (the
  paper's symbols), :mod:`.figures`, :mod:`.report` and :mod:`.report_page` work on a
  ``pandas.DataFrame``;
* :mod:`.plots` draws figures of single runs (MSD).
"""

"""Classes of electrolytes: k-means in the space of the leading principal components (the paper finds 6).

Pure numpy/pandas/scikit-learn. The elbow (inertia against k) and the mean silhouette over a
range of k are computed in 2-D (PC1–PC2) and 3-D (PC1–PC3) PC space; k is the one with the
largest silhouette unless the caller fixes it (``n_clusters``). Seeded: the same seed gives the
same clusters.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

#: k tried by default (the paper's choice, 6, is inside).
DEFAULT_K_VALUES = tuple(range(2, 11))

#: k-means restarts from different seeded centres; the best (lowest inertia) is kept.
KMEANS_RESTARTS = 10


@dataclasses.dataclass
class ClusterScan:
    """k-means over a range of k in the first ``dimensions`` principal components.

    ``inertia`` (sum of squared distances to the nearest centre, in standardised PC units²) and
    ``silhouette`` (mean silhouette coefficient, −1..1) are given per k of ``k_values``;
    ``elbow_k`` is the k farthest below the straight line from the first to the last inertia
    (a reading of the elbow, for reference); ``chosen_k`` is the k of ``labels``;
    ``composition`` counts each cluster's rows by mobile species.
    """

    dimensions: int
    k_values: list[int]
    inertia: list[float]
    silhouette: list[float]
    elbow_k: int | None
    chosen_k: int
    chosen_by: str
    labels: pd.Series
    centres: np.ndarray
    composition: pd.DataFrame
    seed: int

    def summary(self) -> dict:
        return {
            'dimensions': self.dimensions,
            'components': [f'PC{index + 1}' for index in range(self.dimensions)],
            'k_values': self.k_values,
            'inertia': self.inertia,
            'silhouette': self.silhouette,
            'elbow_k': self.elbow_k,
            'chosen_k': self.chosen_k,
            'chosen_by': self.chosen_by,
            'seed': self.seed,
            'labels': {str(name): int(label) for name, label in self.labels.items()},
            'centres': self.centres.tolist(),
            'composition_by_mobile_species': {
                str(cluster): {str(species): int(count) for species, count in row.items() if count}
                for cluster, row in self.composition.iterrows()
            },
        }


def kmeans(points: np.ndarray, k: int, seed: int = 0):
    """scikit-learn's k-means (k-means++ starts, ``KMEANS_RESTARTS`` restarts, seeded), fitted."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=KMEANS_RESTARTS, random_state=seed).fit(points)


def cluster_scan(
    scores: pd.DataFrame,
    mobile_species: pd.Series,
    dimensions: int = 2,
    k_values=DEFAULT_K_VALUES,
    n_clusters: int | None = None,
    seed: int = 0,
) -> ClusterScan:
    """k-means on the first ``dimensions`` columns of ``scores`` for every k; pick k; describe the clusters.

    :param scores: PCA scores (rows × PC1, PC2, ...), e.g. :attr:`PrincipalComponents.scores`.
    :param mobile_species: the mobile species of each row (same index), for the composition.
    :param k_values: the k scanned; those ≥ the number of rows are skipped (a silhouette needs k < rows).
    :param n_clusters: a fixed k (e.g. the paper's 6); by default the k of the largest silhouette.
    :raises ValueError: when fewer than 3 rows or dimensions exceeding the scores' columns.
    """
    from sklearn.metrics import silhouette_score

    if dimensions > scores.shape[1]:
        raise ValueError(f'{dimensions} dimensions asked, the scores have {scores.shape[1]} components')
    points = scores.iloc[:, :dimensions].to_numpy(dtype=float)
    rows = len(points)
    if rows < 3:
        raise ValueError(f'k-means needs at least 3 rows, not {rows}')
    k_values = [int(k) for k in k_values if 2 <= k < rows]
    if n_clusters is not None and not 1 <= n_clusters <= rows:
        raise ValueError(f'n_clusters must be between 1 and the number of rows ({rows}), not {n_clusters}')
    inertia, silhouette, fits = [], [], {}
    for k in k_values:
        fit = kmeans(points, k, seed)
        fits[k] = fit
        inertia.append(float(fit.inertia_))
        silhouette.append(float(silhouette_score(points, fit.labels_)))
    if n_clusters is not None:
        chosen, chosen_by = n_clusters, 'given'
    elif k_values:
        chosen, chosen_by = k_values[int(np.argmax(silhouette))], 'largest silhouette'
    else:
        raise ValueError(f'no k to scan with {rows} rows')
    fit = fits.get(chosen) or kmeans(points, chosen, seed)
    labels = pd.Series(fit.labels_, index=scores.index, name='cluster')
    composition = pd.crosstab(labels, mobile_species.loc[scores.index]).sort_index()
    return ClusterScan(
        dimensions,
        k_values,
        inertia,
        silhouette,
        _elbow(k_values, inertia),
        chosen,
        chosen_by,
        labels,
        fit.cluster_centers_.copy(),
        composition,
        seed,
    )


def _elbow(k_values: list[int], inertia: list[float]) -> int | None:
    """The k whose inertia lies farthest below the chord from the first to the last point (normalised axes)."""
    if len(k_values) < 3:
        return None
    k = np.asarray(k_values, dtype=float)
    values = np.asarray(inertia)
    span = values[0] - values[-1]
    if span <= 0:
        return None
    x = (k - k[0]) / (k[-1] - k[0])
    y = (values - values[-1]) / span
    below_chord = (1 - x) - y
    return int(k_values[int(np.argmax(below_chord))])

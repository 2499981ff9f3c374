"""Inter-annotator agreement: the numerical core, as pure vectorised functions (no Django models).

Input is a long table of annotations already encoded as integer codes (see `quality.encoding`):
`items[r]`, `annotators[r]`, `labels[r]` for annotation r, with items in 0..n_items-1, annotators in
0..n_annotators-1 and labels in 0..n_categories-1. Everything starts from the *value-counts matrix*
`counts[u, c]` = how many annotators gave label c to item u, built with one `np.bincount`.

Streaming: `value_counts` is additive over ANY split of the annotation rows (the caller fixes the
item and label numbering first), and `coincidences` is additive over splits that keep each item's
annotations together (stream `ORDER BY item_id` and cut on item boundaries), so millions of
annotations can be read from the database chunk by chunk and summed.

Krippendorff's alpha is computed from the coincidence matrix o[c, k] = Σ_u Σ_{i≠j} [v_ui=c][v_uj=k] /
(m_u − 1), which we build as one matrix product (memory O(items × categories)); the `krippendorff`
library builds an items × categories × categories array instead, so it serves as the test oracle
and as `engine="library"`, not as the default path.

Items with fewer than two annotations carry no information about agreement: they are left out of
every statistic here and counted (`n_single`, `n_unannotated`) so reports can say so. Undefined
statistics (no pairable items; every pairable annotation has the same value, so the expected
disagreement is 0 and alpha is 0/0) are returned as `None` (scalars) or NaN (arrays) with a reason.

Modules, by measure family (numpy and pandas only, never Django):
- `matrices`: the building blocks: code checks, the value-counts matrix (single- and
  multi-label), pairable units, the coincidence matrix, merging categories of one value; the
  reasons a statistic is undefined (NO_PAIRABLE, ONE_VALUE).
- `alpha`: Krippendorff's alpha at every level of measurement (distances, AlphaResult) and the
  per-label binary alpha.
- `bootstrap`: the percentile bootstrap interval of alpha (BootstrapCI, row patterns).
- `kappa`: Fleiss' kappa, Cohen's kappa, within-item annotation pairs and pairwise Cohen's kappa.
- `observed`: observed agreement (per item and overall), the most confused label pairs, and each
  annotator's agreement with the others.
"""

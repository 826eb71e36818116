"""Published BREC rows, for the "published" column of ``wlkit separate --suite all``.

One data table: the pairs of BREC's 400 that a model separates in Table 2 of Wang & Zhang,
"Towards Better Evaluation of GNN Expressiveness with BREC Dataset" (arXiv 2304.07702;
ICML 2024 as "An Empirical Study of Realized GNN Expressiveness"), per the paper's four
column groups. Every entry carries its source and how it was checked.

The paper's rows are *trained*: each pair is decided after BREC's short per-pair siamese
training (``wlkit separate --trained`` reproduces that protocol). An untrained run
(the default) is not directly comparable: training can only add separations a
randomly initialised model shows too weakly, never ones beyond the model's oracle.

The paper groups BREC's seven files into four columns: ``Regular (140)`` merges the
Regular (50), Strongly regular (50), 4-vertex condition (20) and Distance regular (20)
files, so a wlkit category maps onto a published cell only for Basic, Extension and CFI;
the total only when all 400 pairs ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BREC_COLUMNS",
    "BREC_PAPER",
    "BREC_TABLE2",
    "PublishedRow",
    "published_cells",
    "published_model",
]

#: The paper, as cited in every entry.
BREC_PAPER = ("Wang & Zhang 2023, Towards Better Evaluation of GNN Expressiveness with BREC "
              "Dataset, arXiv 2304.07702 (ICML 2024), Table 2")
#: The paper's column groups and their sizes (pairs).
BREC_COLUMNS: dict[str, int] = {"Basic": 60, "Regular": 140, "Extension": 100, "CFI": 100}
#: wlkit's BREC categories (``wlkit.datasets.wl_suites.BREC_NAMES``) -> the paper's column.
_CATEGORY_COLUMN = {"Basic": "Basic", "Regular": "Regular", "Strongly regular": "Regular",
                    "4-vertex condition": "Regular", "Distance regular": "Regular",
                    "Extension": "Extension", "CFI": "CFI"}
# How the numbers were checked. The paper's table itself could not be read here (the
# reference search returns only the opening of arXiv 2304.07702v4 and of the ICML PDF);
# every row agrees with two secondary transcriptions of Table 2 found with the search tool:
# a third-party project's BREC README (per-column counts; sums checked) and a survey citing
# arXiv 2304.07702v4 whose percentages match the totals of I²-GNN (70.2%), KP-GNN (68.8%),
# GSN (63.5%), PPGN (58.2%), the Regular column of KP-GNN (75.7% of 140) and I²-GNN
# (71.4%) and 3-WL's CFI (60%). Re-check against the paper before citing in a publication.
_CHECK = ("secondary: matches two transcriptions of Table 2 (third-party BREC README with "
          "per-column counts; survey citing arXiv 2304.07702v4, percentages); column sums "
          "checked; the paper's table itself not read")


@dataclass(frozen=True)
class PublishedRow:
    """One model's row of BREC's Table 2 (pairs separated, trained protocol).

    Attributes
    ----------
    model : str
        The paper's name for the model.
    basic, regular, extension, cfi : int
        Pairs separated per column group (of 60, 140, 100, 100).
    total : int
        Of 400.
    source : str
        Where the numbers come from.
    checked : str
        How they were checked.
    note : str
        What the row is (e.g. an exact test, not a neural model).
    """

    model: str
    basic: int
    regular: int
    extension: int
    cfi: int
    total: int
    source: str = BREC_PAPER
    checked: str = _CHECK
    note: str = ""

    def column(self, name: str) -> int:
        """The count of the paper's column ``name`` (``Basic``, ``Regular``, ...)."""
        return {"Basic": self.basic, "Regular": self.regular, "Extension": self.extension,
                "CFI": self.cfi}[name]


#: BREC Table 2, the rows wlkit reports or checks against.
BREC_TABLE2: dict[str, PublishedRow] = {row.model: row for row in (
    PublishedRow("NGNN", 59, 48, 59, 0, 166,
                 note="Nested GNN on 1-hop rooted subgraphs without root labels (BREC's "
                      "NestedGNN/test_BREC_search_ngnn.py: --h=1 --layers=6 "
                      "--node_label=no)"),
    PublishedRow("PPGN", 60, 50, 100, 23, 233),
    PublishedRow("SUN", 60, 50, 100, 13, 223),
    PublishedRow("KP-GNN", 60, 106, 98, 11, 275),
    PublishedRow("I²-GNN", 60, 100, 100, 21, 281),
    PublishedRow("GSN", 60, 99, 95, 0, 254),
    PublishedRow("Graphormer", 16, 12, 41, 10, 79),
    PublishedRow("3-WL", 60, 50, 100, 60, 270,
                 note="the exact 3-WL test (= wlkit's 2-FWL oracle), not a trained model"),
)}


def published_model(pipeline: Mapping[str, Any]) -> str | None:
    """The BREC row a pipeline's model corresponds to, or None.

    Only correspondences that hold by construction are listed: the ego-net DS-GNN on
    1-hop ego-nets without root marking or sampling is BREC's NGNN setting (1-hop rooted
    subgraphs, no node labels, an inner GNN per subgraph pooled into the graph). The inner
    layers differ (the pipeline's own against NGNN's), so the match is of the method, not
    of the exact network.
    """
    policy = pipeline.get("policy") or {}
    if (policy.get("name") == "ego" and policy.get("subgraphs", "ego") == "ego"
            and policy.get("hops") == 1 and not policy.get("root_mark", False)
            and policy.get("mode", "ds") == "ds"
            and float(policy.get("sample_fraction", 1.0)) == 1.0):
        return "NGNN"
    return None


def published_cells(model: str, totals: Mapping[str, Mapping[str, Any]],
                    overall_pairs: int) -> tuple[dict[str, int | None], int | None]:
    """The published counts next to a BREC run's categories.

    Parameters
    ----------
    model : str
        A key of :data:`BREC_TABLE2`.
    totals : mapping
        The run's per-category totals (``separation.json``'s ``totals``).
    overall_pairs : int
        Pairs the run decided.

    Returns
    -------
    (dict, int or None)
        Per category the published count where the category is one of the paper's
        columns on its own (Basic, Extension, CFI, when every pair of it ran), else None;
        and the published total, when the run covered all 400 pairs.
    """
    row = BREC_TABLE2[model]
    cells: dict[str, int | None] = {}
    for category, t in totals.items():
        column = _CATEGORY_COLUMN.get(category)
        whole = column is not None and column != "Regular" and \
            t.get("pairs") == BREC_COLUMNS[column]
        cells[category] = row.column(column) if whole else None  # type: ignore[arg-type]
    total = row.total if overall_pairs == sum(BREC_COLUMNS.values()) else None
    return cells, total

"""Draw a catalog graph: offerings, options and add-ons, coloured by relation."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import networkx as nx
from matplotlib.lines import Line2D

from cpqsim.catalog import Catalog

RELATION_COLOURS = {
    "requires": "#d62728",
    "excludes": "#9467bd",
    "conflictsWith": "#8c564b",
    "contains": "#ff7f0e",
    "option": "#1f77b4",
    "add_on": "#2ca02c",
    "recommends": "#17becf",
    "replaces": "#7f7f7f",
    "upgradesTo": "#bcbd22",
    "downgradesTo": "#e377c2",
    "dependsOnAsset": "#393b79",
    "specified_by": "#c7c7c7",
}


def draw_catalog(catalog: Catalog, path: Path | None = None, ax=None, with_specs: bool = False):
    graph = catalog.graph()
    keep = [n for n, d in graph.nodes(data=True) if with_specs or d.get("kind") != "specification"]
    sub = graph.subgraph(keep)
    ax = ax or plt.subplots(figsize=(12, 8))[1]
    pos = nx.spring_layout(nx.Graph(sub), seed=7, k=1.2)
    nx.draw_networkx_nodes(
        sub, pos, ax=ax, node_size=300, node_color="#f0f0f0", edgecolors="#555555"
    )
    nx.draw_networkx_labels(sub, pos, ax=ax, font_size=7)
    legend = []
    for relation, colour in RELATION_COLOURS.items():
        edges = [(u, v) for u, v, d in sub.edges(data=True) if d.get("relation") == relation]
        if edges:
            nx.draw_networkx_edges(
                sub,
                pos,
                edgelist=edges,
                ax=ax,
                edge_color=colour,
                arrows=True,
                connectionstyle="arc3,rad=0.08",
            )
            legend.append(Line2D([0], [0], color=colour, label=relation))
    if legend:  # edge collections carry no labels; proxy lines make the legend
        ax.legend(handles=legend, loc="lower left", fontsize="small")
    ax.set_title(f"catalog {catalog.id} {catalog.version}")
    ax.axis("off")
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=110)
        plt.close(ax.figure)
    return ax

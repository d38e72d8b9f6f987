# Helper functions of the ablation table and figure rules (ablations.smk).

def ablation_view(name):
    from rankdistill.grid import table_view

    return table_view(config, name)


def ablation_cells(wildcards):
    v = ablation_view(wildcards.ablation)
    return table_cells(v["systems"], v["first_stages"], v["query_sets"])


def ablation_spec(wildcards):
    """The main table's spec with the ablation's rows, columns, baseline, labels and caption."""
    v = ablation_view(wildcards.ablation)
    spec = table_spec()
    spec.update({k: v[k] for k in ("systems", "first_stages", "query_sets", "measures", "baseline", "decimals",
                                   "caption", "tex_label", "significance", "layout")})
    spec["labels"] = spec["labels"] | v["labels"]
    return spec


def figure_spec(wildcards):
    from rankdistill.grid import figure_view

    return figure_view(config, wildcards.figure)


def figure_cells(wildcards):
    v = figure_spec(wildcards)
    systems = list(dict.fromkeys(p["system"] for panel in v["panels"] for p in panel["points"]))
    return table_cells(systems, v["first_stages"], v["query_sets"])

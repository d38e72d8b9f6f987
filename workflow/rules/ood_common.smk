# Helper functions of the out-of-domain rules (ood.smk).

def ood_cells():
    from rankdistill.ood import ood_cells as cells

    return cells(config)


def ood_eval_file(system, first_stage, query_set):
    return R(f"eval_ood/{system}/{first_stage}/{query_set}.tsv")


def ood_spec():
    """Everything the OOD table renders with (a param: a label or the baseline reruns it)."""
    from rankdistill.ood import ood_baseline
    from rankdistill.config.measures import table_measures

    ood = config["ood"]
    measure = ood.get("measure") or table_measures(config)[0]
    labels = PLAN.labels() | dict(config.get("table", {}).get("labels", {})) | dict(ood.get("labels", {}))
    fs = ood["first_stage"]
    return dict(
        systems=list(ood["systems"]),
        groups={g: list(q) for g, q in ood["groups"].items()},
        measure=measure,
        first_stage=fs,
        first_stage_label=labels.get(fs, fs),
        depth=ood["depth"],
        eval_depth=PLAN.evaluation()["depth"].get(measure),
        baseline=ood_baseline(config),
        alpha=EVAL["alpha"],
        correction=EVAL["correction"],
        decimals=ood["decimals"],
        labels=labels,
        caption=ood.get("caption"),
        provenance=config_citation(),
    )

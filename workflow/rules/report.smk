# What rule all builds, and what `snakemake --report` shows without a target.
#
# Every table and figure job also writes its provenance page (results/<result>.provenance.md: the lineage of
# its inputs from their manifests, rankdistill.provenance.write_job_summary), so each result in the report
# comes with how it was made. Snakemake's report needs every output it marks in the target's DAG; after a
# partial run (the README's first command builds results/table.tex only) a plain `snakemake --report
# report.html` therefore reports the results that exist, instead of failing on the ones never asked for.
# With a target (`snakemake --report report.html all`) it reports that target's DAG, as Snakemake does.


def _report_without_target():
    """This invocation is `snakemake --report FILE` (the CLI's flag; the API has no such hook at parse time)."""
    return any(a == "--report" or a.startswith("--report=") for a in sys.argv[1:])


def all_results():
    results = {
        "table": [R("table.tex")],
        "ablation_tables": expand(R("ablation_{name}.tex"), name=config.get("tables", {})),
        "figures": expand(R("figures/{name}.{ext}"), name=config.get("figures", {}), ext=("pdf", "png")),
        "ood_table": [R("table_ood.tex")] if config.get("ood") else [],
    }
    if _report_without_target():
        built = {k: [f for f in v if os.path.exists(f)] for k, v in results.items()}
        if any(built.values()):
            return built
    return results
